// Lifecycle at core level: commits (metadata, re-pin, conflicts, retries after failures), a
// remote failing mid-read, and recovery of staged changes after the writer is killed (SIGKILL).

import { spawn } from 'node:child_process'
import { constants as C } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ContentCache } from '../../lib/cache/index.js'
import { META_BASE, META_HOST, META_KEY } from '../../lib/commit/index.js'
import { LkError } from '../../lib/core/errors.js'
import { branchName, refExpr, repoName, type ObjectPath } from '../../lib/core/ids.js'
import { openMountSession } from '../../lib/fs/index.js'
import type { MountSession } from '../../lib/fs/types.js'
import { FaultyRemote } from '../../lib/remote/faulty.js'
import { LocalRemote } from '../../lib/remote/local.js'
import type { CommitInfo, Remote } from '../../lib/remote/types.js'
import { CoreDriver } from '../conformance/core-driver.js'
import { SAMPLE_BRANCH, SAMPLE_REPO, sampleFile, seedSample } from '../conformance/dataset.js'
import { openCoreMount } from '../support/core-mount.js'
import { MemoryRemote } from '../support/memory-remote.js'

const repo = repoName(SAMPLE_REPO)
const main = branchName(SAMPLE_BRANCH)

async function history (remote: Remote, ref = SAMPLE_BRANCH): Promise<CommitInfo[]> {
  const out: CommitInfo[] = []
  for await (const c of remote.log(repo, ref)) out.push(c)
  return out
}

async function readRemote (remote: Remote, ref: string, path: string): Promise<Buffer> {
  const st = await remote.statObject(repo, ref, path as ObjectPath)
  return await remote.readRange(repo, st, 0, st.size)
}

t.test('commit: one commit with the staged changes, metadata, and a re-pin', async t => {
  const m = await openCoreMount({ write: true })
  t.teardown(m.close)
  const d = new CoreDriver(m.session.fs)
  await d.writeFile('x.txt', Buffer.from('x'))
  await d.unlink('labels.csv')
  await d.rename('README.md', 'docs.md')
  await d.mkdir('empty-dir')
  t.same((await m.session.diff()).map(e => `${e.type} ${e.path}`), ['removed README.md', 'added docs.md', 'removed labels.csv', 'added x.txt'])
  const before = m.session.pinnedCommit()
  const c = await m.session.commit({ message: 'run 1', metadata: { run: '42' } })
  t.equal(c.metadata.run, '42')
  t.equal(c.metadata[META_BASE], before)
  t.equal(c.metadata[META_HOST], hostname())
  t.match(c.metadata[META_KEY], /^[0-9a-f-]{36}$/)
  t.equal(m.session.pinnedCommit(), c.id, 're-pinned')
  t.equal((await d.getxattr('', 'user.lakefs.commit')).toString(), c.id)
  t.same(await m.session.diff(), [], 'nothing staged afterwards')
  t.equal((await readRemote(m.remote, SAMPLE_BRANCH, 'x.txt')).toString(), 'x')
  t.ok((await readRemote(m.remote, SAMPLE_BRANCH, 'docs.md')).equals(sampleFile('README.md').data))
  await t.rejects(m.remote.statObject(repo, SAMPLE_BRANCH, 'labels.csv' as ObjectPath))
  t.same(await d.readdir('empty-dir'), [], 'an empty directory stays local after the commit')
  t.equal((await history(m.remote)).length, 3)
  await t.rejects(m.session.commit({ message: 'again' }), { code: 'LK_NOTHING_TO_COMMIT' })
})

t.test('commit: a lost answer is retried into exactly one commit (idempotency key)', async t => {
  const m = await openCoreMount({ write: true, wrap: r => new FaultyRemote(r) })
  t.teardown(m.close)
  const faulty = m.remote as FaultyRemote
  const d = new CoreDriver(m.session.fs)
  await d.writeFile('a.txt', Buffer.from('A'))
  faulty.inject({ method: 'commitChanges', mode: 'lost', times: 1 })
  await t.rejects(m.session.commit({ message: 'm' }), { code: 'LK_REMOTE_UNAVAILABLE' })
  t.equal((await history(faulty.inner)).length, 3, 'the remote did commit')
  await d.writeFile('b.txt', Buffer.from('B'))
  const c = await m.session.commit({ message: 'm' })
  t.equal((await history(faulty.inner)).length, 3, 'the retry found it instead of committing twice')
  t.equal(faulty.callCount('commitChanges'), 1)
  t.equal(m.session.pinnedCommit(), c.id)
  t.same((await m.session.diff()).map(e => e.path), ['b.txt'], 'later writes stay staged for the next commit')
  const c2 = await m.session.commit({ message: 'second' })
  t.not(c2.id, c.id)
  t.equal((await readRemote(faulty.inner, SAMPLE_BRANCH, 'b.txt')).toString(), 'B')
})

t.test('commit: a failure before the remote applied it is retried once', async t => {
  const m = await openCoreMount({ write: true, wrap: r => new FaultyRemote(r) })
  t.teardown(m.close)
  const faulty = m.remote as FaultyRemote
  const d = new CoreDriver(m.session.fs)
  await d.writeFile('a.txt', Buffer.from('A'))
  faulty.inject({ method: 'commitChanges', times: 1 })
  await t.rejects(m.session.commit({ message: 'm' }))
  t.equal((await d.readFile('a.txt')).toString(), 'A', 'still visible while sealed')
  const c = await m.session.commit({ message: 'm' })
  const h = await history(faulty.inner)
  t.equal(h.length, 3)
  t.equal(h[0]?.id, c.id)
  t.same((await faulty.inner.diff(repo, h[1]?.id ?? '', c.id)).entries.map(e => e.path), ['a.txt'], 'exactly the staged change')
})

t.test('commit: a sealed set interrupted by a crash is found again on reopen', async t => {
  const m = await openCoreMount({ write: true, wrap: r => new FaultyRemote(r) })
  t.teardown(m.close)
  const faulty = m.remote as FaultyRemote
  await new CoreDriver(m.session.fs).writeFile('a.txt', Buffer.from('A'))
  faulty.inject({ method: 'commitChanges', mode: 'lost', times: 1 })
  await t.rejects(m.session.commit({ message: 'm' }))
  await m.session.close()
  const s2 = await m.reopen()
  t.equal((await new CoreDriver(s2.fs).readFile('a.txt')).toString(), 'A')
  const c = await s2.commit({ message: 'm' })
  t.equal((await history(faulty.inner)).length, 3, 'no second commit')
  t.equal(s2.pinnedCommit(), c.id)
  t.same(await s2.diff(), [])
})

t.test('commit: conflicts keep everything staged; another branch takes the changes', async t => {
  const m = await openCoreMount({ write: true })
  t.teardown(m.close)
  const d = new CoreDriver(m.session.fs)
  await d.writeFile('README.md', Buffer.from('mine'))
  await d.writeFile('new.txt', Buffer.from('n'))
  // another writer changes README.md on the branch
  const head = await m.remote.resolveRef(repo, SAMPLE_BRANCH)
  await m.remote.commitChanges(repo, main, [{ op: 'put', path: 'README.md' as ObjectPath, content: { kind: 'buffer', data: Buffer.from('theirs') } }], { base: head, message: 'other' })
  const err = await m.session.commit({ message: 'm' }).catch((e: unknown) => e)
  t.ok(err instanceof LkError && err.code === 'LK_CONFLICT')
  t.same((err as LkError).details?.conflicts, ['README.md'])
  t.equal((await d.readFile('README.md')).toString(), 'mine', 'the mount still shows its own version')
  t.same((await m.session.diff()).map(e => e.path), ['README.md', 'new.txt'])
  await d.writeFile('after.txt', Buffer.from('later'))
  const c = await m.session.commit({ message: 'to a branch', branch: branchName('rescue') })
  t.equal((await readRemote(m.remote, 'rescue', 'README.md')).toString(), 'mine')
  t.equal((await readRemote(m.remote, 'rescue', 'after.txt')).toString(), 'later')
  t.equal((await readRemote(m.remote, SAMPLE_BRANCH, 'README.md')).toString(), 'theirs', 'the branch kept the other commit')
  t.equal(m.session.identity.branch, 'rescue', 'the mount follows the branch it committed to')
  t.equal(m.session.pinnedCommit(), c.id)
})

t.test('commit: changes by another writer to other paths are kept; the mount sees them after re-pin', async t => {
  const m = await openCoreMount({ write: true })
  t.teardown(m.close)
  const d = new CoreDriver(m.session.fs)
  await d.writeFile('mine.txt', Buffer.from('m'))
  const head = await m.remote.resolveRef(repo, SAMPLE_BRANCH)
  await m.remote.commitChanges(repo, main, [{ op: 'put', path: 'theirs.txt' as ObjectPath, content: { kind: 'buffer', data: Buffer.from('t') } }], { base: head, message: 'other' })
  await t.rejects(d.stat('theirs.txt'), { code: 'ENOENT' }, 'pinned: not visible before the commit')
  await m.session.commit({ message: 'm' })
  t.equal((await d.readFile('theirs.txt')).toString(), 't')
  t.equal((await d.readFile('mine.txt')).toString(), 'm')
})

t.test('a remote failing mid-read gives EIO within a bounded time', async t => {
  // no read-ahead: the first read would otherwise fetch the chunks this test wants to see fail
  const m = await openCoreMount({ write: false, wrap: r => new FaultyRemote(r), fetchTimeoutMs: 300, chunkSize: 1 << 20, readAhead: 0 })
  t.teardown(m.close)
  const faulty = m.remote as FaultyRemote
  const fs = m.session.fs
  const fh = await fs.open('/big/blob.bin', C.O_RDONLY)
  const buf = Buffer.alloc(4096)
  t.equal(await fs.read('/big/blob.bin', fh, buf, 4096, 0), 4096, 'first chunk read')
  faulty.inject({ method: 'readRange', mode: 'hang' })
  const t0 = Date.now()
  const e = await fs.read('/big/blob.bin', fh, buf, 4096, 2 * 1024 * 1024 + 10).catch((x: unknown) => x)
  t.ok(e instanceof LkError && e.errno === 'EIO', 'EIO')
  t.ok(Date.now() - t0 < 3000, `within ${Date.now() - t0} ms`)
  faulty.clear()
  faulty.inject({ method: 'readRange' })
  const e2 = await fs.read('/big/blob.bin', fh, buf, 4096, 3 * 1024 * 1024).catch((x: unknown) => x)
  t.ok(e2 instanceof LkError && e2.errno === 'EIO', 'a failing remote: EIO')
  faulty.clear()
  t.equal(await fs.read('/big/blob.bin', fh, buf, 100, 3 * 1024 * 1024), 100, 'reads again after recovery')
  await fs.release('/big/blob.bin', fh)
})

t.test('SIGKILL of a writer loses nothing closed or fsynced', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-crash-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const stateDir = join(dir, 'state')
  const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'crash-writer.js')
  const storeDir = join(dir, 'store')
  const child = spawn(process.execPath, [fixture, stateDir, join(dir, 'cache-child'), storeDir], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); if (out.includes('READY')) resolve() })
    child.on('exit', (code) => { reject(new Error(`writer exited early with ${code}`)) })
  })
  child.kill('SIGKILL')
  await new Promise(resolve => child.once('exit', resolve))

  // the store the killed writer used, opened by this process
  const remote = await LocalRemote.open({ dir: storeDir })
  t.teardown(async () => { await remote.close() })
  const cache = await ContentCache.open({ dir: join(dir, 'cache'), maxBytes: 1 << 26 })
  t.teardown(async () => { await cache.close() })
  const s: MountSession = await openMountSession({ remote, repo, ref: refExpr(SAMPLE_BRANCH), write: true, cache, stateDir })
  t.teardown(async () => { await s.close() })
  const d = new CoreDriver(s.fs)
  t.equal((await d.readFile('closed.txt')).toString(), 'closed data')
  t.equal((await d.readFile('README.md')).toString(), sampleFile('README.md').data.toString() + 'appended\n')
  t.same(await d.readdir('outputs'), ['synced.bin'])
  const synced = await d.readFile('outputs/synced.bin')
  t.ok(synced.length >= 100_000 && synced.subarray(0, 100_000).equals(Buffer.alloc(100_000, 1)), `fsynced bytes kept (${synced.length} bytes)`)
  t.same(await d.readdir('train-moved'), ['cat', 'dog'])
  await t.rejects(d.stat('train'), { code: 'ENOENT' })
  await t.rejects(d.stat('labels.csv'), { code: 'ENOENT' })
  t.equal((await d.getxattr('empty.txt', 'user.note')).toString(), 'kept')
  const c = await s.commit({ message: 'after crash' })
  t.equal((await readRemote(remote, c.id, 'closed.txt')).toString(), 'closed data')
  t.equal((await readRemote(remote, c.id, 'train-moved/dog/001.bin')).length, sampleFile('train/dog/001.bin').data.length)
})

t.test('commit: writes and namespace changes continue while the remote commits', async t => {
  const m = await openCoreMount({ write: true, wrap: r => new FaultyRemote(r) })
  t.teardown(m.close)
  const faulty = m.remote as FaultyRemote
  const d = new CoreDriver(m.session.fs)
  await d.writeFile('a.txt', Buffer.from('A'))
  faulty.inject({ method: 'commitChanges', mode: 'slow', latencyMs: 300 })
  const committing = m.session.commit({ message: 'slow' })
  let committed = false
  void committing.then(() => { committed = true }, () => {})
  await new Promise(resolve => setTimeout(resolve, 50))
  // all of these finish while the commit is still waiting on the remote
  await d.writeFile('b.txt', Buffer.from('B'))
  await d.unlink('a.txt')
  await d.mkdir('later')
  t.notOk(committed, 'namespace changes did not wait for the commit')
  const c = await committing
  t.equal((await readRemote(m.remote, c.id, 'a.txt')).toString(), 'A', 'the commit has what was sealed')
  await t.rejects(m.remote.statObject(repo, c.id, 'b.txt' as ObjectPath))
  await t.rejects(d.stat('a.txt'), { code: 'ENOENT' }, 'the unlink made during the commit holds after the re-pin')
  t.equal((await d.readFile('b.txt')).toString(), 'B')
  t.same((await m.session.diff()).map(e => `${e.type} ${e.path}`), ['removed a.txt', 'added b.txt'])
})

t.test('prefetch fills the cache; later reads need no remote call; stats count them', async t => {
  const m = await openCoreMount({ write: false, wrap: r => new FaultyRemote(r) })
  t.teardown(m.close)
  const faulty = m.remote as FaultyRemote
  const progress: number[] = []
  const r = await m.session.prefetch('/train', (done) => { progress.push(done) })
  t.equal(r.files, 3)
  t.equal(r.bytes, (100 + 4 + 70) * 1024)
  t.same(progress.sort(), [1, 2, 3])
  const before = faulty.callCount('readRange')
  const d = new CoreDriver(m.session.fs)
  t.ok((await d.readFile('train/dog/001.bin')).equals(sampleFile('train/dog/001.bin').data))
  t.equal(faulty.callCount('readRange'), before, 'served from the cache')
  const st = m.session.stats()
  t.ok(st.cacheHits >= 1 && st.bytesFetched >= r.bytes && st.reads >= 1)
})

t.test('sub-path mounts map paths under the prefix; tags mount read-only only', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-sub-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const remote = new MemoryRemote()
  const seeded = await seedSample(remote)
  await remote.createTag(repo, 'v1' as never, seeded)
  const cache = await ContentCache.open({ dir: join(dir, 'cache'), maxBytes: 1 << 26 })
  t.teardown(async () => { await cache.close() })
  const s = await openMountSession({ remote, repo, ref: refExpr(SAMPLE_BRANCH), subPath: 'train/', write: true, cache, stateDir: join(dir, 'state') })
  t.teardown(async () => { await s.close() })
  const d = new CoreDriver(s.fs)
  t.same(await d.readdir(''), ['cat', 'dog'])
  t.ok((await d.readFile('dog/001.bin')).equals(sampleFile('train/dog/001.bin').data))
  await d.writeFile('cat/003.bin', Buffer.from('new cat'))
  await d.unlink('dog/001.bin')
  t.same((await s.diff()).map(e => `${e.type} ${e.path}`), ['added train/cat/003.bin', 'removed train/dog/001.bin'])
  const c = await s.commit({ message: 'sub' })
  t.equal((await readRemote(remote, c.id, 'train/cat/003.bin')).toString(), 'new cat')
  await t.rejects(remote.statObject(repo, c.id, 'train/dog/001.bin' as ObjectPath))
  t.ok((await readRemote(remote, c.id, 'README.md')).equals(sampleFile('README.md').data), 'outside the sub-path untouched')

  await t.rejects(openMountSession({ remote, repo, ref: refExpr('v1'), write: true, cache, stateDir: join(dir, 'tag-state') }), { code: 'LK_NOT_A_BRANCH' })
  const ro = await openMountSession({ remote, repo, ref: refExpr('v1'), write: false, cache })
  t.teardown(async () => { await ro.close() })
  t.equal(ro.pinnedCommit(), seeded)
  t.equal(ro.identity.branch, undefined)
  t.ok(ro.fs.readOnly)
  await t.rejects(new CoreDriver(ro.fs).writeFile('x', Buffer.from('x')), { code: 'EROFS' })
  await t.rejects(ro.commit({ message: 'no' }), { code: 'LK_READ_ONLY_MOUNT' })
})
