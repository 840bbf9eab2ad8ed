// ContentCache against a real directory and a (faulty) in-memory remote.

import { readdir, stat, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { ContentCache } from '../../lib/cache/index.js'
import { LkError } from '../../lib/core/errors.js'
import { branchName, repoName, type ObjectPath } from '../../lib/core/ids.js'
import { FaultyRemote } from '../../lib/remote/faulty.js'
import type { ObjectStat, Remote } from '../../lib/remote/types.js'
import { sampleBytes } from '../conformance/dataset.js'
import { MemoryRemote } from '../support/memory-remote.js'

const repo = repoName('cache-test')

async function fixture (files: Record<string, Buffer>): Promise<{ remote: FaultyRemote, stats: Record<string, ObjectStat> }> {
  const inner = new MemoryRemote()
  await inner.createRepo(repo)
  const head = await inner.resolveRef(repo, 'main')
  await inner.commitChanges(repo, branchName('main'), Object.entries(files).map(([p, data]) => ({ op: 'put' as const, path: p as ObjectPath, content: { kind: 'buffer' as const, data } })), { base: head, message: 'm' })
  const stats: Record<string, ObjectStat> = {}
  for (const p of Object.keys(files)) stats[p] = await inner.statObject(repo, 'main', p as ObjectPath)
  return { remote: new FaultyRemote(inner), stats }
}

async function readAll (c: ContentCache, src: Parameters<ContentCache['read']>[0]): Promise<Buffer> {
  const buf = Buffer.alloc(src.stat.size)
  let pos = 0
  while (pos < src.stat.size) pos += await c.read(src, buf.subarray(pos), src.stat.size - pos, pos)
  return buf
}

t.test('small files are fetched whole once; hits afterwards', async t => {
  const data = sampleBytes('a', 5000)
  const { remote, stats } = await fixture({ a: data })
  const c = await ContentCache.open({ dir: t.testdir(), maxBytes: 1 << 20, chunkSize: 1 << 16 })
  const src = { remote, repo, stat: stats.a as ObjectStat }
  t.ok((await readAll(c, src)).equals(data))
  const buf = Buffer.alloc(10)
  t.equal(await c.read(src, buf, 10, 100), 10)
  t.ok(buf.equals(data.subarray(100, 110)))
  t.equal(remote.callCount('readRange'), 1)
  t.equal(c.counters.misses, 1)
  t.equal(c.counters.hits, 1)
  t.equal(c.counters.bytesFetched, 5000)
  await c.close()
})

t.test('concurrent readers of one missing chunk cause one fetch', async t => {
  const data = sampleBytes('b', 300_000)
  const { remote, stats } = await fixture({ b: data })
  remote.inject({ method: 'readRange', mode: 'slow', latencyMs: 50 })
  const c = await ContentCache.open({ dir: t.testdir(), maxBytes: 1 << 22, chunkSize: 1 << 20, readAhead: 0 })
  const src = { remote, repo, stat: stats.b as ObjectStat }
  const reads = Array.from({ length: 8 }, async (_, i) => {
    const buf = Buffer.alloc(1000)
    await c.read(src, buf, 1000, i * 1000)
    return buf.equals(data.subarray(i * 1000, i * 1000 + 1000))
  })
  t.same(await Promise.all(reads), Array(8).fill(true))
  t.equal(remote.callCount('readRange'), 1)
  await c.close()
})

t.test('large files in chunks; sequential reads prefetch ahead in parallel', async t => {
  const chunk = 64 * 1024
  const data = sampleBytes('c', chunk * 6 + 17)
  const { remote, stats } = await fixture({ c: data })
  const c = await ContentCache.open({ dir: t.testdir(), maxBytes: 1 << 22, chunkSize: chunk, readAhead: 2 })
  const src = { remote, repo, stat: stats.c as ObjectStat }
  const buf = Buffer.alloc(chunk)
  await c.read(src, buf, chunk, 0)
  await c.read(src, buf, chunk, chunk)
  // the second sequential read starts read-ahead of chunks 2 and 3
  await new Promise(resolve => setTimeout(resolve, 50))
  t.ok(c.counters.fetches >= 4, `read-ahead fetched (${c.counters.fetches} fetches)`)
  const misses = c.counters.misses
  await c.read(src, buf, chunk, 2 * chunk)
  t.ok(buf.equals(data.subarray(2 * chunk, 3 * chunk)))
  t.equal(c.counters.misses, misses, 'chunk 2 came from read-ahead (a hit)')
  t.ok((await readAll(c, src)).equals(data))
  await c.close()
})

t.test('LRU eviction bounds the size and deletes files; never evicts a chunk being read', async t => {
  const files: Record<string, Buffer> = {}
  for (let i = 0; i < 10; i++) files[`f${i}`] = sampleBytes(`e${i}`, 10_000)
  const { remote, stats } = await fixture(files)
  const dir = t.testdir()
  const c = await ContentCache.open({ dir, maxBytes: 35_000, chunkSize: 1 << 16 })
  for (let i = 0; i < 10; i++) await readAll(c, { remote, repo, stat: stats[`f${i}`] as ObjectStat })
  await c.flush()
  t.ok(c.usedBytes <= 35_000, `used ${c.usedBytes}`)
  t.equal(c.entries, 3)
  await new Promise(resolve => setTimeout(resolve, 20))
  const onDisk = (await readdir(dir, { recursive: true })).filter(n => /\.\d+$/.test(n))
  t.equal(onDisk.length, 3, 'evicted chunk files are deleted')
  // a slow read of f0 while others push it out still returns the right bytes
  remote.inject({ method: 'readRange', mode: 'slow', latencyMs: 20 })
  const src0 = { remote, repo, stat: stats.f0 as ObjectStat }
  const results = await Promise.all([readAll(c, src0), ...[1, 2, 3, 4].map(async i => await readAll(c, { remote, repo, stat: stats[`f${i}`] as ObjectStat }))])
  t.ok(results[0]?.equals(files.f0 as Buffer))
  await c.close()
})

t.test('the index survives a restart, oldest first', async t => {
  const files: Record<string, Buffer> = { x: sampleBytes('x', 1000), y: sampleBytes('y', 1000), z: sampleBytes('z', 1000) }
  const { remote, stats } = await fixture(files)
  const dir = t.testdir()
  const c1 = await ContentCache.open({ dir, maxBytes: 10_000 })
  for (const k of ['x', 'y', 'z']) await readAll(c1, { remote, repo, stat: stats[k] as ObjectStat })
  await c1.close()
  // make x the oldest, z the newest on disk
  const names = (await readdir(dir, { recursive: true })).filter(n => /\.\d+$/.test(n))
  t.equal(names.length, 3)
  for (const n of names) {
    const which = Object.keys(files).find(k => (stats[k] as ObjectStat).checksum === n.split('/').pop()?.split('.')[0])
    const age = which === 'x' ? 300 : which === 'y' ? 200 : 100
    const when = new Date(Date.now() - age * 1000)
    await utimes(join(dir, n), when, when)
  }
  const c2 = await ContentCache.open({ dir, maxBytes: 2500 })
  t.equal(c2.entries, 2, 'rebuilding within a smaller budget drops the oldest')
  t.ok(!c2.has(stats.x as ObjectStat))
  t.ok(c2.has(stats.z as ObjectStat))
  const before = remote.callCount('readRange')
  t.ok((await readAll(c2, { remote, repo, stat: stats.z as ObjectStat })).equals(files.z as Buffer))
  t.equal(remote.callCount('readRange'), before, 'served from the rebuilt index')
  t.same(await readdir(join(dir, 'tmp')), [], 'no temp files left')
  await c2.close()
})

t.test('a failing remote gives EIO; a hanging one gives EIO within the deadline', async t => {
  const { remote, stats } = await fixture({ f: sampleBytes('f', 100) })
  const c = await ContentCache.open({ dir: t.testdir(), maxBytes: 1 << 20, fetchTimeoutMs: 200 })
  const src = { remote, repo, stat: stats.f as ObjectStat }
  remote.inject({ method: 'readRange', times: 1 })
  const e1 = await c.read(src, Buffer.alloc(10), 10, 0).catch((e: unknown) => e)
  t.ok(e1 instanceof LkError && e1.errno === 'EIO', 'failure is EIO')
  remote.inject({ method: 'readRange', mode: 'hang', times: 1 })
  const t0 = Date.now()
  const e2 = await c.read(src, Buffer.alloc(10), 10, 0).catch((e: unknown) => e)
  const took = Date.now() - t0
  t.ok(e2 instanceof LkError && e2.errno === 'EIO' && e2.code === 'LK_REMOTE_TIMEOUT', 'a hang times out as EIO')
  t.ok(took >= 190 && took < 2000, `bounded: ${took} ms`)
  remote.clear()
  const buf = Buffer.alloc(10)
  t.equal(await c.read(src, buf, 10, 0), 10, 'works again once the remote recovers')
  await c.close()
})

t.test('a short answer from the remote is never cached', async t => {
  const { remote, stats } = await fixture({ s: sampleBytes('s', 1000) })
  const st = { ...(stats.s as ObjectStat), size: 2000 }
  const c = await ContentCache.open({ dir: t.testdir(), maxBytes: 1 << 20 })
  const e = await c.read({ remote, repo, stat: st }, Buffer.alloc(2000), 2000, 0).catch((x: unknown) => x)
  t.ok(e instanceof LkError && e.errno === 'EIO')
  t.equal(c.entries, 0)
  const st2 = await stat(c.dir)
  t.ok(st2.isDirectory())
  await c.close()
})

t.test('a full disk: evict and retry once, else the chunk is served but not kept (on a real 1 MiB tmpfs)', async t => {
  const { execFileSync } = await import('node:child_process')
  const { mkdtemp, rmdir } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const dir = await mkdtemp(join(tmpdir(), 'lk-nospc-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' })
  } catch {
    await rmdir(dir)
    t.pass('skipped: needs permission to mount a tmpfs')
    return
  }
  t.teardown(async () => { execFileSync('umount', [dir], { stdio: 'ignore' }); await rmdir(dir) })
  const files: Record<string, Buffer> = {}
  for (let i = 0; i < 6; i++) files[`f${i}`] = sampleBytes(`nospc${i}`, 300 * 1024)
  files.huge = sampleBytes('huge', 2 * 1024 * 1024)
  const { remote, stats } = await fixture(files)
  // the budget says 100 MiB, the disk holds 1 MiB: the cache must notice ENOSPC itself
  const c = await ContentCache.open({ dir, maxBytes: 100 * 1024 * 1024, chunkSize: 4 * 1024 * 1024 })
  for (let i = 0; i < 6; i++) {
    t.ok((await readAll(c, { remote, repo, stat: stats[`f${i}`] as ObjectStat })).equals(files[`f${i}`] as Buffer), `f${i} read on a full disk`)
    await c.flush()
  }
  t.ok(c.entries <= 3 && c.counters.evictions >= 3, `evicted to make room (${c.entries} entries, ${c.counters.evictions} evictions)`)
  // the reader has the bytes before the write fails: it is answered, the chunk is not kept
  t.ok((await readAll(c, { remote, repo, stat: stats.huge as ObjectStat })).equals(files.huge as Buffer), 'a chunk larger than the disk is still read')
  await c.flush()
  t.equal(c.counters.writeFailures, 1, 'its write failed (LK_NO_SPACE, logged)')
  t.notOk(c.has(stats.huge as ObjectStat), 'and it is not cached')
  t.same(await readdir(join(dir, 'tmp')), [], 'no partial chunk left behind')
  await c.close()
})

t.test('a chunk larger than the whole cache is served but not kept', async t => {
  const data = sampleBytes('larger', 50_000)
  const { remote, stats } = await fixture({ l: data })
  const dir = t.testdir()
  const c = await ContentCache.open({ dir, maxBytes: 10_000 })
  const src = { remote, repo, stat: stats.l as ObjectStat }
  t.ok((await readAll(c, src)).equals(data))
  t.equal(c.entries, 0)
  t.same((await readdir(dir, { recursive: true })).filter(n => /\.\d+$/.test(n)), [], 'no orphaned chunk file')
  await c.close()
})

t.test('a reader is answered from the fetched bytes, before (and without) the cache file', async t => {
  const data = sampleBytes('bg', 40_000)
  const { remote, stats } = await fixture({ bg: data })
  const dir = t.testdir()
  const c = await ContentCache.open({ dir, maxBytes: 1 << 20, chunkSize: 1 << 16 })
  const src = { remote, repo, stat: stats.bg as ObjectStat }
  t.ok((await readAll(c, src)).equals(data))
  t.equal(c.entries, 0, 'answered while its file is still being written')
  t.equal(c.pendingBytes, data.length, 'the bytes are held meanwhile')
  const buf = Buffer.alloc(100)
  t.equal(await c.read(src, buf, 100, 1000), 100)
  t.ok(buf.equals(data.subarray(1000, 1100)), 'a read meanwhile copies from memory')
  t.ok(c.has(src.stat))
  await c.flush()
  t.equal(c.entries, 1, 'then it is in the index')
  t.equal(c.pendingBytes, 0)
  t.equal(remote.callCount('readRange'), 1)
  await c.close()
  // close waits for writes: a reopened cache finds the chunk
  const c2 = await ContentCache.open({ dir, maxBytes: 1 << 20, chunkSize: 1 << 16 })
  t.ok(c2.has(src.stat))
  await c2.close()

  // a cache directory that cannot be written: readers are still answered
  const { rm, writeFile } = await import('node:fs/promises')
  const broken = t.testdir()
  const c3 = await ContentCache.open({ dir: join(broken, 'c'), maxBytes: 1 << 20, chunkSize: 1 << 16 })
  await rm(join(broken, 'c', 'tmp'), { recursive: true })
  await writeFile(join(broken, 'c', 'tmp'), 'not a directory')
  t.ok((await readAll(c3, src)).equals(data), 'served although its file cannot be written')
  await c3.flush()
  t.equal(c3.counters.writeFailures, 1)
  t.equal(c3.entries, 0)
  await c3.close()
})

t.test('fetched bytes held in memory are bounded: past the bound a read waits for its write', async t => {
  const files: Record<string, Buffer> = { p: sampleBytes('p', 30_000), q: sampleBytes('q', 30_000) }
  const { remote, stats } = await fixture(files)
  const c = await ContentCache.open({ dir: t.testdir(), maxBytes: 1 << 20, chunkSize: 1 << 16, maxPendingBytes: 40_000 })
  await readAll(c, { remote, repo, stat: stats.p as ObjectStat })
  t.equal(c.entries, 0, 'within the bound: answered before the write')
  await readAll(c, { remote, repo, stat: stats.q as ObjectStat })
  t.ok(c.has(stats.q as ObjectStat) && c.pendingBytes <= 30_000, `past the bound: answered after its write (pending ${c.pendingBytes})`)
  await c.close()
})

t.test('prefetch fetches a file once, ahead of its reader; failures are left to the read', async t => {
  const files: Record<string, Buffer> = { a: sampleBytes('pa', 20_000), b: sampleBytes('pb', 20_000) }
  const { remote, stats } = await fixture(files)
  const c = await ContentCache.open({ dir: t.testdir(), maxBytes: 1 << 20, chunkSize: 1 << 16 })
  const a = { remote, repo, stat: stats.a as ObjectStat }
  await Promise.all([c.prefetch(a), c.prefetch(a)])
  t.equal(remote.callCount('readRange'), 1, 'one fetch for two prefetches')
  t.ok((await readAll(c, a)).equals(files.a as Buffer))
  t.equal(c.counters.misses, 0, 'the read was a hit')
  await c.prefetch(a)
  t.equal(remote.callCount('readRange'), 1, 'a cached file is not fetched again')
  remote.inject({ method: 'readRange', mode: 'fail', times: 1 })
  const b = { remote, repo, stat: stats.b as ObjectStat }
  await c.prefetch(b)
  t.ok((await readAll(c, b)).equals(files.b as Buffer), 'the read after a failed prefetch fetches again')
  await c.close()
})

t.test('sequential read-ahead asks for spans of several chunks in one request, within the bounds', async t => {
  const chunk = 16 * 1024
  const data = sampleBytes('span', chunk * 20 + 5)
  const { remote, stats } = await fixture({ s: data })
  const ranges: number[] = []
  const inner = remote.inner
  const counting = Object.create(remote) as FaultyRemote & Required<Pick<Remote, 'readRangeParts'>>
  counting.readRange = async (r, st, a, b) => { ranges.push(b - a); return await inner.readRange(r, st, a, b) }
  // a streaming remote: parts handed over one by one, 5 ms apart
  counting.readRangeParts = async (r, st, a, b, size, onPart) => {
    ranges.push(b - a)
    const all = await inner.readRange(r, st, a, b)
    for (let k = 0; k * size < all.length; k++) {
      await new Promise(resolve => setTimeout(resolve, 5))
      onPart(k, all.subarray(k * size, Math.min(all.length, (k + 1) * size)))
    }
  }
  const c = await ContentCache.open({ dir: t.testdir(), maxBytes: 1 << 22, chunkSize: chunk, readAhead: 8, spanChunks: 4 })
  const src = { remote: counting, repo, stat: stats.s as ObjectStat }
  const buf = Buffer.alloc(4096)
  const out = Buffer.alloc(data.length)
  for (let pos = 0; pos < data.length;) {
    const n = await c.read(src, buf, 4096, pos)
    buf.copy(out, pos, 0, n)
    pos += n
  }
  t.ok(out.equals(data), 'the bytes are right')
  t.ok(ranges.filter(n => n === 4 * chunk).length >= 3, `spans of 4 chunks (${ranges.map(n => n / chunk).join(' ')})`)
  t.ok(ranges.length <= 10, `${ranges.length} requests for 21 chunks`)
  t.equal(ranges.reduce((a, b) => a + b, 0), data.length, 'every byte fetched once')
  await c.close()

  // at most maxAheadBytes of read-ahead in flight
  remote.inject({ method: 'readRange', mode: 'slow', latencyMs: 100 })
  ranges.length = 0
  const c2 = await ContentCache.open({ dir: t.testdir(), maxBytes: 1 << 22, chunkSize: chunk, readAhead: 8, spanChunks: 4, maxAheadBytes: 2 * chunk })
  const first = c2.read(src, buf, 4096, 0)
  await new Promise(resolve => setTimeout(resolve, 20))
  t.same(ranges.map(n => n / chunk).sort(), [1, 4], 'chunk 0 and one span: then the bound stops read-ahead')
  await first
  await c2.close()
  remote.clear()

  // a span's first chunk is readable before the span has arrived
  let release: () => void = () => {}
  const gate = new Promise<void>(resolve => { release = resolve })
  counting.readRangeParts = async (r, st, a, b, size, onPart) => {
    const all = await inner.readRange(r, st, a, b)
    onPart(0, all.subarray(0, size))
    await gate
    for (let k = 1; k * size < all.length; k++) onPart(k, all.subarray(k * size, Math.min(all.length, (k + 1) * size)))
  }
  const c3 = await ContentCache.open({ dir: t.testdir(), maxBytes: 1 << 22, chunkSize: chunk, readAhead: 8, spanChunks: 4 })
  await c3.read(src, buf, 4096, 0)
  await new Promise(resolve => setTimeout(resolve, 20))
  const misses = c3.counters.misses
  t.equal(await c3.read(src, buf, 4096, chunk), 4096)
  t.ok(buf.equals(data.subarray(chunk, chunk + 4096)), 'chunk 1 read while chunks 2-4 are still on the way')
  t.equal(c3.counters.misses, misses, 'and it was a hit')
  release()
  const all = Buffer.alloc(data.length)
  let pos = 0
  while (pos < data.length) pos += await c3.read(src, all.subarray(pos), data.length - pos, pos)
  t.ok(all.equals(data))
  await c3.close()

  // a span that fails midway: the chunks it delivered are kept, the others are fetched again
  counting.readRangeParts = async (r, st, a, b, size, onPart) => {
    const all = await inner.readRange(r, st, a, b)
    onPart(0, all.subarray(0, size))
    throw new LkError('LK_REMOTE_UNAVAILABLE', 'cut')
  }
  const c4 = await ContentCache.open({ dir: t.testdir(), maxBytes: 1 << 22, chunkSize: chunk, readAhead: 8, spanChunks: 4 })
  const again = Buffer.alloc(data.length)
  pos = 0
  while (pos < data.length) pos += await c4.read(src, again.subarray(pos), Math.min(4096, data.length - pos), pos)
  t.ok(again.equals(data), 'every byte read despite the failing spans')
  await c4.close()
})
