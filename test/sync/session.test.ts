// SyncSession against the embedded store with real directories and the real chokidar watcher:
// materialise, then every kind of local change, by content.

import t from 'tap'
import { appendFile, mkdir, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MAIN, REPO, commitFiles, readLocal, readObject, seedRepo, syncFixture, waitFor } from '../support/sync.js'
import type { DiffEntry } from '../../lib/remote/types.js'

const paths = (d: DiffEntry[]): string[] => d.map(e => `${e.type}:${e.path}`)

t.test('materialise, then edit, create, delete, rename; commit', async t => {
  const f = await syncFixture(t)
  await seedRepo(f.remote, { 'a.txt': 'alpha', 'dir/b.txt': 'bravo', 'dir/sub/c.txt': 'charlie', 'big.bin': Buffer.alloc(300_000, 7) })
  const s = await f.open()
  t.equal(await readLocal(f.dir, 'dir/sub/c.txt'), 'charlie')
  t.equal((await stat(join(f.dir, 'big.bin'))).size, 300_000)
  t.same(await s.diff(), [], 'a fresh sync has nothing staged')
  t.equal(s.counters.downloaded, 4)

  await writeFile(join(f.dir, 'a.txt'), 'ALPHA')
  await writeFile(join(f.dir, 'new.txt'), 'november')
  await rm(join(f.dir, 'dir/b.txt'))
  await rename(join(f.dir, 'big.bin'), join(f.dir, 'moved.bin'))
  await waitFor(async () => (await s.diff()).length === 5, 'five staged changes')
  t.same(paths(await s.diff()), ['changed:a.txt', 'removed:big.bin', 'removed:dir/b.txt', 'added:moved.bin', 'added:new.txt'])
  const moved = s.journal.get('moved.bin')
  t.equal(moved?.t, 'ref', 'a rename of known content is a ref to the base object (no new upload)')

  const c = await s.commit({ message: 'local edits' })
  t.equal(await readObject(f.remote, c.id, 'a.txt'), 'ALPHA')
  t.equal(await readObject(f.remote, c.id, 'new.txt'), 'november')
  t.equal((await f.remote.statObject(REPO, c.id, 'moved.bin' as never)).size, 300_000)
  t.rejects(f.remote.statObject(REPO, c.id, 'dir/b.txt' as never))
  t.same(await s.diff(), [], 'nothing staged after the commit')
  t.equal(s.baseCommit, c.id)
})

t.test('same-bytes rewrite is no change; preserved-mtime change is one', async t => {
  const f = await syncFixture(t)
  await seedRepo(f.remote, { 'x.txt': 'same-size-1', 'y.txt': 'keep' })
  const s = await f.open()
  const file = join(f.dir, 'x.txt')
  const before = await stat(file)
  await writeFile(file, 'same-size-1')
  await writeFile(join(f.dir, 'y.txt'), 'keep')
  await new Promise(resolve => setTimeout(resolve, 800))
  await s.flush()
  t.same(await s.diff(), [], 'rewriting the same bytes stages nothing')
  t.ok(s.counters.hashed >= 1, 'the rewritten file was hashed')

  await writeFile(file, 'same-size-2')
  await utimes(file, before.atime, before.mtime)
  const after = await stat(file)
  t.equal(after.mtimeMs, before.mtimeMs, 'mtime preserved')
  t.equal(after.size, before.size, 'size preserved')
  await waitFor(async () => (await s.diff()).length === 1, 'the change staged')
  t.same(paths(await s.diff()), ['changed:x.txt'])
  // even with no watcher event at all, a rescan finds it by ctime + content
  await writeFile(file, 'same-size-1')
  await utimes(file, before.atime, before.mtime)
  await s.rescan()
  t.same(await s.diff(), [], 'restoring the base bytes un-stages the path')
})

t.test('a file written slowly is staged only once it settles', async t => {
  const f = await syncFixture(t)
  await seedRepo(f.remote, { 'keep.txt': 'k' })
  const s = await f.open({ settleMs: 700 })
  const file = join(f.dir, 'slow.log')
  let full = ''
  for (let i = 0; i < 12; i++) {
    const line = `line ${i} ${'x'.repeat(100)}\n`
    full += line
    await appendFile(file, line)
    await new Promise(resolve => setTimeout(resolve, 250))
    t.equal(s.journal.get('slow.log'), undefined, `not staged while being written (${i})`)
  }
  await waitFor(() => s.journal.get('slow.log') !== undefined, 'staged after settling')
  const e = s.journal.get('slow.log')
  t.equal(e?.t === 'file' ? e.size : -1, full.length, 'the settled, complete version is staged')
})

t.test('.lkignore and --exclude: never staged, never deleted, never downloaded', async t => {
  const f = await syncFixture(t)
  await seedRepo(f.remote, { '.lkignore': '# scratch\n*.tmp\n/cache/\n!keep.tmp\n', 'data/a.csv': 'a', 'data/b.tmp': 'remote tmp', 'cache/c': 'c', 'logs/l.txt': 'l' })
  const s = await f.open({ exclude: ['logs/**'] })
  const names = await readdir(f.dir)
  t.same(names.sort(), ['.lkignore', 'data'], 'ignored and excluded paths are not downloaded')
  t.same(await readdir(join(f.dir, 'data')), ['a.csv'])
  await writeFile(join(f.dir, 'data/scratch.tmp'), 'zzz')
  await mkdir(join(f.dir, 'cache'))
  await writeFile(join(f.dir, 'cache/blob'), 'zzz')
  await mkdir(join(f.dir, 'logs'))
  await writeFile(join(f.dir, 'logs/run.txt'), 'zzz')
  await writeFile(join(f.dir, 'keep.tmp'), 'kept')
  await writeFile(join(f.dir, 'data/a.csv'), 'A')
  await waitFor(async () => (await s.diff()).length >= 2, 'the unignored changes staged')
  await s.rescan()
  t.same(paths(await s.diff()), ['changed:data/a.csv', 'added:keep.tmp'])
  const c = await s.commit({ message: 'm' })
  t.equal(await readObject(f.remote, c.id, 'data/b.tmp'), 'remote tmp', 'an ignored remote file is not deleted')
  t.equal(await readObject(f.remote, c.id, 'logs/l.txt'), 'l')
})

t.test('pull: brings in branch commits; refuses overlaps unless forced; commit after a move', async t => {
  const f = await syncFixture(t)
  await seedRepo(f.remote, { 'a.txt': 'a1', 'b.txt': 'b1', 'c.txt': 'c1' })
  const s = await f.open()
  await commitFiles(f.remote, { 'b.txt': 'b2', 'd.txt': 'd2', 'c.txt': null })
  const r = await s.pull()
  t.equal(r.updated, 2)
  t.equal(r.removed, 1)
  t.equal(await readLocal(f.dir, 'b.txt'), 'b2')
  t.equal(await readLocal(f.dir, 'd.txt'), 'd2')
  t.rejects(stat(join(f.dir, 'c.txt')))
  t.same(await s.diff(), [], 'pulled files are not local changes')

  await writeFile(join(f.dir, 'a.txt'), 'a-local')
  await s.rescan()
  await commitFiles(f.remote, { 'a.txt': 'a-remote' })
  const err = await s.pull().then(() => undefined, (e: unknown) => e as { code: string, details: { conflicts: string[] } })
  t.equal(err?.code, 'LK_CONFLICT')
  t.same(err?.details.conflicts, ['a.txt'])
  t.equal(await readLocal(f.dir, 'a.txt'), 'a-local', 'the local edit is untouched by a refused pull')

  // a commit of the overlapping path conflicts too, and keeps it staged
  const cerr = await s.commit({ message: 'x' }).then(() => undefined, (e: unknown) => e as { code: string })
  t.equal(cerr?.code, 'LK_CONFLICT')
  t.same(paths(await s.diff()), ['changed:a.txt'], 'still staged after the conflict')

  const forced = await s.pull({ force: true })
  t.equal(await readLocal(f.dir, 'a.txt'), 'a-remote')
  t.equal(forced.movedAside.length, 1)
  t.equal(await (await import('node:fs/promises')).readFile(forced.movedAside[0] as string, 'utf8'), 'a-local', 'the local version is kept aside')
  t.same(await s.diff(), [])

  // a non-overlapping change on the branch: commit lands on top and the directory gets it
  await commitFiles(f.remote, { 'e.txt': 'e-remote' })
  await writeFile(join(f.dir, 'f.txt'), 'f-local')
  const c = await s.commit({ message: 'f' })
  t.equal(await readObject(f.remote, c.id, 'e.txt'), 'e-remote')
  t.equal(await readLocal(f.dir, 'e.txt'), 'e-remote', 'the other writer\'s file arrived locally')
  t.equal((await f.remote.resolveRef(REPO, MAIN)), c.id)
})

t.test('a directory moved inside the sync: deletes + refs, nothing new to upload', async t => {
  const f = await syncFixture(t)
  await seedRepo(f.remote, { 'raw/2024/a.jpg': Buffer.alloc(10_000, 1), 'raw/2024/b.jpg': Buffer.alloc(10_000, 2), 'raw/keep.txt': 'k' })
  const s = await f.open()
  await mkdir(join(f.dir, 'archive'))
  await rename(join(f.dir, 'raw/2024'), join(f.dir, 'archive/2024'))
  await waitFor(async () => (await s.diff()).length === 4, 'four staged changes')
  t.same(paths(await s.diff()), ['added:archive/2024/a.jpg', 'added:archive/2024/b.jpg', 'removed:raw/2024/a.jpg', 'removed:raw/2024/b.jpg'])
  t.equal(s.journal.get('archive/2024/a.jpg')?.t, 'ref')
  t.equal(s.journal.get('archive/2024/b.jpg')?.t, 'ref')
  const c = await s.commit({ message: 'archive' })
  t.equal((await f.remote.statObject(REPO, c.id, 'archive/2024/b.jpg' as never)).size, 10_000)
})

t.test('a burst of 10,000 small files written by another process', async t => {
  const f = await syncFixture(t)
  await seedRepo(f.remote, { 'seed.txt': 's' })
  const s = await f.open()
  const burst = join(f.dir, 'burst')
  const { spawn } = await import('node:child_process')
  const t0 = Date.now()
  const writer = spawn(process.execPath, ['-e', `const fs=require('fs');fs.mkdirSync(${JSON.stringify(burst)});for(let i=0;i<10000;i++)fs.writeFileSync(${JSON.stringify(burst)}+'/f'+i+'.txt','small file '+i)`], { stdio: 'inherit' })
  const code = await new Promise(resolve => writer.on('exit', resolve))
  t.equal(code, 0)
  const written = Date.now() - t0
  await waitFor(() => s.stagedStats().paths === 10_000, '10,000 staged', 240_000)
  t.comment(`10,000 files: written in ${written} ms, all staged ${Date.now() - t0} ms after the first write`)
  const e = s.journal.get('burst/f9999.txt')
  t.equal(e?.t === 'file' ? e.size : -1, 'small file 9999'.length)
  t.equal(s.stagedStats().paths, 10_000, 'each file staged once')
})

t.test('a sub-path of the branch: only it is materialised; commits land under it', async t => {
  const f = await syncFixture(t)
  await seedRepo(f.remote, { 'train/a.txt': 'a', 'train/x/b.txt': 'b', 'val/c.txt': 'c' })
  const s = await f.open({ subPath: 'train' })
  t.same((await readdir(f.dir)).sort(), ['a.txt', 'x'])
  await writeFile(join(f.dir, 'x/b.txt'), 'B')
  await writeFile(join(f.dir, 'new.txt'), 'n')
  await waitFor(async () => (await s.diff()).length === 2, 'staged')
  t.same(paths(await s.diff()), ['added:train/new.txt', 'changed:train/x/b.txt'])
  const c = await s.commit({ message: 'sub' })
  t.equal(await readObject(f.remote, c.id, 'train/x/b.txt'), 'B')
  t.equal(await readObject(f.remote, c.id, 'train/new.txt'), 'n')
  t.equal(await readObject(f.remote, c.id, 'val/c.txt'), 'c', 'outside the sub-path untouched')
  await commitFiles(f.remote, { 'val/c.txt': 'C', 'train/late.txt': 'late' })
  const r = await s.pull()
  t.equal(r.updated, 1, 'only the change under the sub-path is pulled')
  t.equal(await readLocal(f.dir, 'late.txt'), 'late')
})
