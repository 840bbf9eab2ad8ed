// Pre-upload (lib/commit/preupload.ts): a write mount uploads closed files in the background and
// the commit links them. The test remote links like lakeFS does — it commits the bytes that were
// uploaded, not the staged file — so an upload handed out after its file changed again would
// commit stale bytes and fail these tests.

import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { PreUploader } from '../../lib/commit/preupload.js'
import { branchName, repoName, type BranchName, type ObjectPath, type RepoName } from '../../lib/core/ids.js'
import { silentLogger } from '../../lib/core/log.js'
import { FaultyRemote } from '../../lib/remote/faulty.js'
import type { Change, CommitChangesOptions, CommitInfo, PreUploaded, Remote } from '../../lib/remote/types.js'
import type { PreUploadStatus } from '../../lib/fs/types.js'
import { CoreDriver } from '../conformance/core-driver.js'
import { SAMPLE_BRANCH, SAMPLE_REPO } from '../conformance/dataset.js'
import { openCoreMount, type CoreMount } from '../support/core-mount.js'
import { readObject } from '../support/sync.js'

const repo = repoName(SAMPLE_REPO)
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** a remote with staging locations: preUpload keeps the bytes; commitChanges links them (once) */
class LinkingRemote extends FaultyRemote {
  readonly uploads = new Map<string, Buffer>()
  linked: string[] = []
  #n = 0
  /** while set, uploads wait for it after taking their bytes (a slow network) */
  gate: Promise<void> | undefined

  preUpload = async (_repo: RepoName, _branch: BranchName, _path: ObjectPath, data: Buffer): Promise<PreUploaded | undefined> => {
    const bytes = Buffer.from(data)
    await this.gate
    const address = `mem://staging/${++this.#n}`
    this.uploads.set(address, bytes)
    return { address, checksum: 'etag', size: bytes.length, sha256: sha(bytes) }
  }

  override async commitChanges (r: RepoName, branch: BranchName, changes: Change[], opts: CommitChangesOptions): Promise<CommitInfo> {
    const linked: Change[] = changes.map(c => {
      if (c.op !== 'put' || c.preUploaded === undefined) return c
      const bytes = this.uploads.get(c.preUploaded.address)
      // a staging location links once (lakeFS and lk-mount serve move it into the store)
      if (bytes === undefined) return c
      this.uploads.delete(c.preUploaded.address)
      this.linked.push(c.path)
      return { ...c, content: { kind: 'buffer', data: bytes } }
    })
    return await super.commitChanges(r, branch, linked, opts)
  }
}

/** a write mount over a LinkingRemote, closed in the test's teardown, with a driver on its core */
async function linkingMount (t: Test): Promise<{ m: CoreMount, remote: LinkingRemote, d: CoreDriver }> {
  const m = await openCoreMount({ write: true, wrap: r => new LinkingRemote(r) })
  t.teardown(m.close)
  return { m, remote: m.remote as LinkingRemote, d: new CoreDriver(m.session.fs) }
}

async function settle (m: { session: { preUploader?: PreUploadStatus | undefined } }): Promise<void> {
  const pre = m.session.preUploader
  if (pre === undefined) throw new Error('no pre-uploader')
  await pre.drain()
}

t.test('closed files are uploaded while the mount is live; the commit only links them', async t => {
  const { m, remote, d } = await linkingMount(t)
  await d.mkdir('out')
  for (let i = 0; i < 5; i++) await d.writeFile(`out/f${i}.bin`, Buffer.from(`file ${i}`))
  await settle(m)
  t.equal(remote.uploads.size, 5, 'uploaded before any commit')
  t.equal(m.session.preUploader?.stats.uploaded, 5)
  const c = await m.session.commit({ message: 'linked' })
  t.same(remote.linked.sort(), [0, 1, 2, 3, 4].map(i => `out/f${i}.bin`), 'every file was linked, none uploaded again')
  for (let i = 0; i < 5; i++) t.equal(await readObject(m.remote, c.id, `out/f${i}.bin`, repo), `file ${i}`)
})

t.test('a file changed after its upload is committed with its new bytes', async t => {
  const { m, remote, d } = await linkingMount(t)
  await d.writeFile('a.txt', Buffer.from('first'))
  await d.writeFile('b.txt', Buffer.from('bbbbbbbb'))
  await d.writeFile('c.txt', Buffer.from('cc'))
  await settle(m)
  t.equal(remote.uploads.size, 3)
  // a: rewritten in place and closed (its upload is redone); b: written in place and still
  // open at commit time (no new upload, the commit uploads it); c: truncated
  const ha = await d.open('a.txt', 'r+')
  await ha.write(Buffer.from('FIRST'), 0)
  await ha.close()
  const hb = await d.open('b.txt', 'r+')
  await hb.write(Buffer.from('BB'), 2)
  const hc = await d.open('c.txt', 'r+')
  await hc.truncate(1)
  await hc.close()
  const c = await m.session.commit({ message: 'changed' })
  await hb.close()
  t.equal(await readObject(m.remote, c.id, 'a.txt', repo), 'FIRST')
  t.equal(await readObject(m.remote, c.id, 'b.txt', repo), 'bbBBbbbb')
  t.equal(await readObject(m.remote, c.id, 'c.txt', repo), 'c')
  // each was uploaded again once durable (close, or the commit's sync of the open b); the three
  // first uploads were never linked
  t.equal(remote.uploads.size, 3, 'the stale uploads stayed unlinked')
  t.same(remote.linked.sort(), ['a.txt', 'b.txt', 'c.txt'])
})

t.test('a write while the upload is in flight makes that upload stale', async t => {
  const { m, remote, d } = await linkingMount(t)
  let release = (): void => {}
  remote.gate = new Promise<void>(resolve => { release = resolve })
  const h = await d.open('x.txt', 'w')
  await h.write(Buffer.from('old bytes'), 0)
  await h.sync() // durable: its upload starts, takes 'old bytes' and waits at the gate
  await new Promise(resolve => setTimeout(resolve, 20))
  await h.write(Buffer.from('NEW'), 0)
  release()
  remote.gate = undefined
  await settle(m)
  const c = await m.session.commit({ message: 'raced' })
  await h.close()
  t.equal(await readObject(m.remote, c.id, 'x.txt', repo), 'NEW bytes')
  t.ok((m.session.preUploader?.stats.stale ?? 0) >= 1, 'the upload was recognised as stale')
})

t.test('renamed files are linked at their new path; deleted ones are not committed', async t => {
  const { m, remote, d } = await linkingMount(t)
  await d.writeFile('tmp-1', Buffer.from('one'))
  await d.writeFile('gone', Buffer.from('two'))
  await d.mkdir('dir')
  await d.writeFile('dir/inner', Buffer.from('three'))
  await settle(m)
  await d.rename('tmp-1', 'final-1')
  await d.unlink('gone')
  await d.rename('dir', 'moved')
  const c = await m.session.commit({ message: 'moved' })
  t.equal(await readObject(m.remote, c.id, 'final-1', repo), 'one')
  t.equal(await readObject(m.remote, c.id, 'moved/inner', repo), 'three')
  await t.rejects(m.remote.statObject(repo, c.id, 'gone' as ObjectPath))
  await t.rejects(m.remote.statObject(repo, c.id, 'tmp-1' as ObjectPath))
  t.same(remote.linked.sort(), ['final-1', 'moved/inner'])
  t.equal(remote.uploads.size, 1, 'the deleted file\'s upload stayed unlinked')
})

t.test('a failed commit keeps everything staged; the retry uploads what can no longer be linked', async t => {
  const { m, remote, d } = await linkingMount(t)
  await d.writeFile('a.txt', Buffer.from('A'))
  await d.writeFile('b.txt', Buffer.from('B'))
  await settle(m)
  // the links happened, then the connection broke: the staging locations are used up
  const lost = remote.commitChanges.bind(remote)
  let attempt = 0
  remote.commitChanges = async (r, b, changes, opts) => {
    attempt++
    if (attempt === 1) {
      // consume the uploads as a lakeFS link would, then fail before committing
      for (const c of changes) if (c.op === 'put' && c.preUploaded !== undefined) remote.uploads.delete(c.preUploaded.address)
      throw new Error('connection reset')
    }
    return await lost(r, b, changes, opts)
  }
  await t.rejects(m.session.commit({ message: 'm' }))
  t.same((await m.session.diff()).map(e => e.path), ['a.txt', 'b.txt'], 'still staged')
  const c = await m.session.commit({ message: 'm' })
  t.equal(await readObject(m.remote, c.id, 'a.txt', repo), 'A')
  t.equal(await readObject(m.remote, c.id, 'b.txt', repo), 'B')
})

t.test('after a restart nothing pre-uploaded is trusted: the commit uses the staged files', async t => {
  const { m, remote, d } = await linkingMount(t)
  await d.writeFile('a.txt', Buffer.from('A1'))
  await settle(m)
  const first = [...remote.uploads.keys()]
  t.equal(first.length, 1)
  await m.session.close() // as after a crash: the uploads were made, nothing was committed
  const s2 = await m.reopen()
  const d2 = new CoreDriver(s2.fs)
  const h = await d2.open('a.txt', 'r+')
  await h.write(Buffer.from('A2'), 0)
  const c = await s2.commit({ message: 'after restart' })
  await h.close()
  t.equal(await readObject(m.remote, c.id, 'a.txt', repo), 'A2')
  t.ok(first.every(a => remote.uploads.has(a)), 'the first session\'s upload was not linked')
})

t.test('mounts of remotes without staging locations, and preUpload: false, upload at commit', async t => {
  const m = await openCoreMount({ write: true })
  t.teardown(m.close)
  t.equal(m.session.preUploader, undefined)
  const d = new CoreDriver(m.session.fs)
  await d.writeFile('a.txt', Buffer.from('A'))
  const c = await m.session.commit({ message: 'plain' })
  t.equal(await readObject(m.remote, c.id, 'a.txt', repo), 'A')
})

t.test('PreUploader: stale, failed and oversized uploads are never handed out', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-preupload-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  let fail = false
  const remote = {
    preUpload: async (_r: RepoName, _b: BranchName, _p: ObjectPath, data: Buffer): Promise<PreUploaded | undefined> => {
      if (fail) throw new Error('network down')
      return { address: `a-${data.toString()}`, checksum: '', size: data.length, sha256: sha(data) }
    },
  } as unknown as Remote
  const pre = new PreUploader({ remote, repo, branch: () => branchName(SAMPLE_BRANCH), log: silentLogger, maxBytes: 4 })
  t.teardown(async () => { await pre.close() })
  const f = join(dir, 'f')
  await writeFile(f, 'abc')
  pre.schedule('f', f, 'f' as ObjectPath, 3)
  t.equal((await pre.take('f', 3))?.address, 'a-abc', 'a finished upload of the current bytes')
  t.equal(await pre.take('f', 2), undefined, 'another size: not handed out')
  pre.changed('f')
  t.equal(await pre.take('f', 3), undefined, 'changed since: stale')
  await writeFile(f, 'xyz')
  pre.schedule('f', f, 'f' as ObjectPath, 3)
  t.equal((await pre.take('f', 3))?.sha256, sha(Buffer.from('xyz')), 'uploaded again after the change')
  await writeFile(f, 'abcde')
  pre.changed('f')
  pre.schedule('f', f, 'f' as ObjectPath, 5)
  t.equal(await pre.take('f', 5), undefined, 'larger than maxBytes: left to the commit')
  fail = true
  await writeFile(join(dir, 'g'), 'g')
  pre.schedule('g', join(dir, 'g'), 'g' as ObjectPath, 1)
  t.equal(await pre.take('g', 1), undefined, 'a failed upload is no upload')
  t.equal(pre.stats.failed, 1)
  t.equal(await pre.take('never', 1), undefined)
})

t.test('PreUploader: a file changed again and again is left to the commit', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-preupload-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  let uploads = 0
  const remote = { preUpload: async (_r: RepoName, _b: BranchName, _p: ObjectPath, data: Buffer): Promise<PreUploaded | undefined> => { uploads++; return { address: `a${uploads}`, checksum: '', size: data.length, sha256: sha(data) } } } as unknown as Remote
  const pre = new PreUploader({ remote, repo, branch: () => branchName(SAMPLE_BRANCH), log: silentLogger })
  t.teardown(async () => { await pre.close() })
  const f = join(dir, 'log')
  for (let i = 1; i <= 5; i++) {
    await writeFile(f, 'x'.repeat(i))
    pre.changed('log')
    pre.schedule('log', f, 'log' as ObjectPath, i)
    await pre.drain()
  }
  t.equal(uploads, 2, 'two uploads, then no more')
  t.equal(await pre.take('log', 5), undefined, 'the commit uploads the file itself')
})

t.test('PreUploader: a remote without staging locations turns it off', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-preupload-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  let asked = 0
  const remote = { preUpload: async (): Promise<PreUploaded | undefined> => { asked++; return undefined } } as unknown as Remote
  const pre = new PreUploader({ remote, repo, branch: () => branchName(SAMPLE_BRANCH), log: silentLogger })
  t.teardown(async () => { await pre.close() })
  await writeFile(join(dir, 'f'), 'abc')
  pre.schedule('f', join(dir, 'f'), 'f' as ObjectPath, 3)
  t.equal(await pre.take('f', 3), undefined)
  pre.schedule('g', join(dir, 'f'), 'g' as ObjectPath, 3)
  await pre.drain()
  t.equal(asked, 1, 'asked once, then never again')
})
