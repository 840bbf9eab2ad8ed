// The conformance suite: one set of test bodies run against the core (core.test.ts) and against a
// real FUSE mount (the fuse runner). It only uses the FsDriver interface. Each test asks the
// runner for a fresh mount of a fresh repository seeded with the sample dataset (dataset.ts), so
// tests never see each other's changes.

import { SAMPLE_BRANCH, SAMPLE_FILES, SAMPLE_ROOT, sampleFile } from './dataset.js'
import type { Test } from 'tap'
import type { FsDriver } from './driver.js'

export interface ConformanceMount {
  driver: FsDriver
  /** the pinned commit the mount shows */
  commit: string
  repo: string
  ref: string
  /** unmounts/closes and cleans up everything the runner started for this mount */
  close (): Promise<void>
}

/** a fresh repository seeded with seedSample(), mounted at SAMPLE_BRANCH */
export type MakeMount = (opts: { write: boolean }) => Promise<ConformanceMount>

type SuiteTest = Test

const CONTROL = '.lakefs-mount.json'

async function errCode (p: Promise<unknown>): Promise<string> {
  try { await p } catch (e) { return String((e as { code?: unknown }).code) }
  return 'no error'
}

export function conformanceSuite (t: SuiteTest, makeMount: MakeMount): void {
  const withMount = (name: string, write: boolean, body: (d: FsDriver, m: ConformanceMount, t: SuiteTest) => Promise<void>): void => {
    void t.test(name, async (tt) => {
      const m = await makeMount({ write })
      try { await body(m.driver, m, tt) } finally { await m.close() }
    })
  }

  // ------------------------------------------------------------------ read path

  withMount('read: root listing is the dataset, without the control file', false, async (d, _m, t) => {
    t.same(await d.readdir(''), SAMPLE_ROOT)
    t.same(await d.readdir('train'), ['cat', 'dog'])
    t.same(await d.readdir('train/cat'), ['001.bin', '002.bin'])
  })

  withMount('read: stat of files and directories; ENOENT for missing paths', false, async (d, _m, t) => {
    for (const f of SAMPLE_FILES) {
      const s = await d.stat(f.path)
      t.ok(s.isFile, `${f.path} is a file`)
      t.equal(s.size, f.data.length, `${f.path} size`)
    }
    t.ok((await d.stat('train')).isDirectory)
    t.ok((await d.stat('')).isDirectory)
    t.equal(await errCode(d.stat('nope')), 'ENOENT')
    t.equal(await errCode(d.stat('train/nope/deeper')), 'ENOENT')
    t.equal(await errCode(d.readdir('README.md')), 'ENOTDIR')
  })

  withMount('read: whole files and byte ranges', false, async (d, _m, t) => {
    for (const f of SAMPLE_FILES) t.ok((await d.readFile(f.path)).equals(f.data), `${f.path} content`)
    const big = sampleFile('big/blob.bin').data
    const h = await d.open('big/blob.bin', 'r')
    try {
      t.ok((await h.read(1000, 12345)).equals(big.subarray(12345, 13345)), 'middle range')
      t.ok((await h.read(5000, big.length - 100)).equals(big.subarray(big.length - 100)), 'short read at the end')
      t.equal((await h.read(10, big.length + 10)).length, 0, 'past the end reads nothing')
      const span = 1024 * 1024 - 7
      t.ok((await h.read(2 * 1024 * 1024, span)).equals(big.subarray(span, span + 2 * 1024 * 1024)), 'a range spanning a MiB boundary')
    } finally { await h.close() }
  })

  withMount('read: user.lakefs.* on the root and object metadata as user.* xattrs', false, async (d, m, t) => {
    t.equal((await d.getxattr('', 'user.lakefs.commit')).toString(), m.commit)
    t.equal((await d.getxattr('', 'user.lakefs.ref')).toString(), SAMPLE_BRANCH)
    t.equal((await d.getxattr('', 'user.lakefs.repo')).toString(), m.repo)
    const names = await d.listxattr('')
    for (const n of ['user.lakefs.commit', 'user.lakefs.ref', 'user.lakefs.repo']) t.ok(names.includes(n), `root lists ${n}`)
    t.equal((await d.getxattr('README.md', 'user.owner')).toString(), 'data-team')
    t.same((await d.listxattr('README.md')).sort(), ['user.owner', 'user.purpose'])
    t.equal(await errCode(d.getxattr('README.md', 'user.missing')), 'ENODATA')
    t.equal(await errCode(d.getxattr('README.md', 'security.capability')), 'ENODATA')
  })

  withMount('read: the control file resolves by name, is never listed, and names the commit', false, async (d, m, t) => {
    t.ok((await d.stat(CONTROL)).isFile)
    const info = JSON.parse((await d.readFile(CONTROL)).toString()) as Record<string, unknown>
    t.equal(info.commit, m.commit)
    t.equal(info.repo, m.repo)
    t.equal(info.ref, m.ref)
    t.ok(!(await d.readdir('')).includes(CONTROL), 'not in the root listing')
  })

  withMount('read-only: every change fails with EROFS', false, async (d, _m, t) => {
    t.equal(await errCode(d.writeFile('new.txt', Buffer.from('x'))), 'EROFS')
    t.equal(await errCode(d.writeFile('README.md', Buffer.from('x'))), 'EROFS')
    t.equal(await errCode(d.appendFile('README.md', Buffer.from('x'))), 'EROFS')
    t.equal(await errCode(d.mkdir('newdir')), 'EROFS')
    t.equal(await errCode(d.rmdir('big')), 'EROFS')
    t.equal(await errCode(d.unlink('README.md')), 'EROFS')
    t.equal(await errCode(d.rename('README.md', 'R.md')), 'EROFS')
    t.equal(await errCode(d.truncate('README.md', 0)), 'EROFS')
    t.equal(await errCode(d.setxattr('README.md', 'user.x', Buffer.from('1'))), 'EROFS')
    t.equal(await errCode(d.symlink('README.md', 'link')), 'EROFS')
    t.equal(await errCode(d.chmod('README.md', 0o600)), 'EROFS')
    t.ok((await d.readFile('README.md')).equals(sampleFile('README.md').data), 'unchanged')
  })

  // ------------------------------------------------------------------ write path

  withMount('write: create, read back, list, stat', true, async (d, _m, t) => {
    await d.writeFile('new.txt', Buffer.from('hello'))
    t.ok((await d.readFile('new.txt')).equals(Buffer.from('hello')))
    t.equal((await d.stat('new.txt')).size, 5)
    t.ok((await d.readdir('')).includes('new.txt'))
    t.equal(await errCode(d.open('new.txt', 'wx')), 'EEXIST')
    t.equal(await errCode(d.writeFile('missing-dir/x.txt', Buffer.from('x'))), 'ENOENT')
  })

  withMount('write: overwrite (O_TRUNC) and append to committed files', true, async (d, _m, t) => {
    await d.writeFile('labels.csv', Buffer.from('replaced\n'))
    t.equal((await d.readFile('labels.csv')).toString(), 'replaced\n')
    await d.appendFile('README.md', Buffer.from('more\n'))
    t.equal((await d.readFile('README.md')).toString(), sampleFile('README.md').data.toString() + 'more\n')
    await d.appendFile('README.md', Buffer.from('again\n'))
    t.ok((await d.readFile('README.md')).toString().endsWith('more\nagain\n'))
  })

  withMount('write: random writes into a committed file keep the rest (copy-on-write)', true, async (d, _m, t) => {
    const orig = sampleFile('train/cat/001.bin').data
    const h = await d.open('train/cat/001.bin', 'r+')
    try {
      await h.write(Buffer.from('XYZ'), 1000)
      await h.write(Buffer.from('END'), orig.length)
      t.equal((await h.read(3, 1000)).toString(), 'XYZ', 'read-your-writes on the same handle')
      await h.sync()
    } finally { await h.close() }
    const want = Buffer.concat([orig, Buffer.from('END')])
    Buffer.from('XYZ').copy(want, 1000)
    t.ok((await d.readFile('train/cat/001.bin')).equals(want))
    t.equal((await d.stat('train/cat/001.bin')).size, orig.length + 3)
  })

  withMount('write: truncate and ftruncate shrink and grow (zeros)', true, async (d, _m, t) => {
    await d.truncate('README.md', 6)
    t.equal((await d.readFile('README.md')).toString(), 'sample')
    await d.truncate('README.md', 10)
    t.ok((await d.readFile('README.md')).equals(Buffer.concat([Buffer.from('sample'), Buffer.alloc(4)])))
    const h = await d.open('labels.csv', 'r+')
    try { await h.truncate(4) } finally { await h.close() }
    t.equal((await d.readFile('labels.csv')).toString(), 'file')
    await d.truncate('big/blob.bin', 0)
    t.equal((await d.stat('big/blob.bin')).size, 0)
  })

  withMount('write: unlink removes committed and new files', true, async (d, _m, t) => {
    await d.unlink('labels.csv')
    t.equal(await errCode(d.stat('labels.csv')), 'ENOENT')
    t.ok(!(await d.readdir('')).includes('labels.csv'))
    await d.writeFile('tmp.txt', Buffer.from('x'))
    await d.unlink('tmp.txt')
    t.equal(await errCode(d.readFile('tmp.txt')), 'ENOENT')
    t.equal(await errCode(d.unlink('nope')), 'ENOENT')
    t.equal(await errCode(d.unlink('train')), 'EISDIR')
    // a directory stays after its last file goes (rmdir removes it)
    await d.unlink('train/dog/001.bin')
    t.same(await d.readdir('train/dog'), [])
    await d.rmdir('train/dog')
    t.same(await d.readdir('train'), ['cat'])
  })

  withMount('write: mkdir and rmdir (ENOTEMPTY, EEXIST, ENOTDIR)', true, async (d, _m, t) => {
    await d.mkdir('outputs')
    t.ok((await d.stat('outputs')).isDirectory)
    t.same(await d.readdir('outputs'), [])
    t.equal(await errCode(d.mkdir('outputs')), 'EEXIST')
    t.equal(await errCode(d.mkdir('README.md')), 'EEXIST')
    await d.mkdir('outputs/run1')
    await d.writeFile('outputs/run1/metrics.json', Buffer.from('{}'))
    t.equal(await errCode(d.rmdir('outputs')), 'ENOTEMPTY')
    t.equal(await errCode(d.rmdir('train')), 'ENOTEMPTY')
    t.equal(await errCode(d.rmdir('README.md')), 'ENOTDIR')
    await d.unlink('outputs/run1/metrics.json')
    await d.rmdir('outputs/run1')
    await d.rmdir('outputs')
    t.equal(await errCode(d.stat('outputs')), 'ENOENT')
  })

  withMount('write: rename files, over files, and directories with children', true, async (d, _m, t) => {
    await d.rename('README.md', 'README2.md')
    t.equal(await errCode(d.stat('README.md')), 'ENOENT')
    t.ok((await d.readFile('README2.md')).equals(sampleFile('README.md').data))
    t.equal((await d.getxattr('README2.md', 'user.owner')).toString(), 'data-team', 'metadata moves with the file')
    await d.writeFile('a.txt', Buffer.from('A'))
    await d.rename('a.txt', 'labels.csv')
    t.equal((await d.readFile('labels.csv')).toString(), 'A', 'rename replaces the target')
    await d.rename('train', 'train2')
    t.equal(await errCode(d.stat('train')), 'ENOENT')
    t.same(await d.readdir('train2'), ['cat', 'dog'])
    t.same(await d.readdir('train2/cat'), ['001.bin', '002.bin'])
    t.ok((await d.readFile('train2/dog/001.bin')).equals(sampleFile('train/dog/001.bin').data))
    t.ok(!(await d.readdir('')).includes('train'))
    await d.mkdir('empty')
    t.equal(await errCode(d.rename('train2', 'README2.md')), 'ENOTDIR')
    await d.rename('train2', 'empty')
    t.same(await d.readdir('empty'), ['cat', 'dog'], 'a directory replaces an empty directory')
    t.equal(await errCode(d.rename('nope', 'x')), 'ENOENT')
  })

  withMount('write: open handles follow rename and survive unlink', true, async (d, _m, t) => {
    const h = await d.open('work.bin', 'w')
    await h.write(Buffer.from('first;'), 0)
    await d.rename('work.bin', 'moved.bin')
    await h.write(Buffer.from('second'), 6)
    await h.close()
    t.equal((await d.readFile('moved.bin')).toString(), 'first;second')
    t.equal(await errCode(d.stat('work.bin')), 'ENOENT')

    const r = await d.open('moved.bin', 'r')
    await d.unlink('moved.bin')
    t.equal((await r.read(100, 0)).toString(), 'first;second', 'an unlinked file stays readable through its handle')
    await r.close()
    t.equal(await errCode(d.stat('moved.bin')), 'ENOENT')
  })

  withMount('write: a handle opened for reading sees writes made later through another handle', true, async (d, _m, t) => {
    const r = await d.open('labels.csv', 'r')
    try {
      t.equal((await r.read(4, 0)).toString(), 'file')
      const w = await d.open('labels.csv', 'r+')
      try {
        await w.write(Buffer.from('FILE'), 0)
        await w.sync()
      } finally { await w.close() }
      t.equal((await r.read(4, 0)).toString(), 'FILE')
    } finally { await r.close() }
  })

  withMount('write: user.* xattrs are staged as object metadata', true, async (d, _m, t) => {
    await d.setxattr('README.md', 'user.stage', Buffer.from('raw'))
    t.equal((await d.getxattr('README.md', 'user.stage')).toString(), 'raw')
    t.equal((await d.getxattr('README.md', 'user.owner')).toString(), 'data-team')
    await d.writeFile('new.txt', Buffer.from('n'))
    await d.setxattr('new.txt', 'user.k', Buffer.from('v'))
    t.same(await d.listxattr('new.txt'), ['user.k'])
    t.equal(await errCode(d.setxattr('README.md', 'trusted.x', Buffer.from('1'))), 'ENOTSUP')
    t.equal(await errCode(d.setxattr('', 'user.lakefs.commit', Buffer.from('1'))), 'EPERM')
  })

  withMount('write: fsync on a handle and large writes', true, async (d, _m, t) => {
    const data = Buffer.alloc(2 * 1024 * 1024 + 5, 7)
    const h = await d.open('large.bin', 'w')
    await h.write(data, 0)
    await h.sync()
    await h.close()
    t.equal((await d.stat('large.bin')).size, data.length)
    t.ok((await d.readFile('large.bin')).equals(data))
  })

  withMount('unsupported: symlink and permission changes fail loudly', true, async (d, _m, t) => {
    t.equal(await errCode(d.symlink('README.md', 'link')), 'ENOTSUP')
    t.equal(await errCode(d.stat('link')), 'ENOENT')
    t.equal(await errCode(d.chmod('README.md', 0o777)), 'ENOTSUP')
    const mode = (await d.stat('README.md')).mode & 0o777
    await d.chmod('README.md', mode)
    t.equal(await errCode(d.writeFile(CONTROL, Buffer.from('{}'))), 'EACCES')
  })
}
