// Measures the mount core without FUSE: metadata of a 100,000-entry directory, read throughput
// cold (through the remote) and warm (from the cache), and staged write throughput.
// Run: npx tsc -p . && node dist/bench/core-bench.js   (uses the in-memory test remote)

import { constants as C } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ContentCache } from '../lib/cache/index.js'
import { branchName, refExpr, repoName, type ObjectPath } from '../lib/core/ids.js'
import { openMountSession } from '../lib/fs/index.js'
import { sampleBytes } from '../test/conformance/dataset.js'
import { MemoryRemote } from '../test/support/memory-remote.js'

const N = Number(process.env.N ?? 100_000)
const BIG = Number(process.env.BIG_MIB ?? 256) * 1024 * 1024
const repo = repoName('bench')
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6

const dir = await mkdtemp(join(tmpdir(), 'lk-bench-'))
try {
  const remote = new MemoryRemote()
  await remote.createRepo(repo)
  let head = await remote.resolveRef(repo, 'main')
  const small = Buffer.from('x')
  const big = sampleBytes('big', BIG)
  const changes = Array.from({ length: N }, (_, i) => ({ op: 'put' as const, path: `many/f${String(i).padStart(6, '0')}.jpg` as ObjectPath, content: { kind: 'buffer' as const, data: Buffer.from(String(i)) } }))
  head = (await remote.commitChanges(repo, branchName('main'), changes, { base: head, message: 'many' })).id
  await remote.commitChanges(repo, branchName('main'), [{ op: 'put', path: 'big.bin' as ObjectPath, content: { kind: 'buffer', data: big } }], { base: head, message: 'big' })

  const cache = await ContentCache.open({ dir: join(dir, 'cache'), maxBytes: 4 * BIG })
  let t0 = process.hrtime.bigint()
  const s = await openMountSession({ remote, repo, ref: refExpr('main'), write: true, cache, stateDir: join(dir, 'state') })
  console.log(`open session (resolveRef): ${ms(t0).toFixed(1)} ms`)
  const fs = s.fs

  t0 = process.hrtime.bigint()
  const names = await fs.readdir('/many')
  console.log(`readdir ${names.length} entries, cold (${remote.callCount('listObjects')} list pages): ${ms(t0).toFixed(0)} ms`)
  t0 = process.hrtime.bigint()
  await fs.readdir('/many')
  console.log(`readdir ${names.length} entries, warm: ${ms(t0).toFixed(1)} ms`)
  t0 = process.hrtime.bigint()
  let sync = 0
  for (const n of names) if (fs.getattrSync(`/many/${n}`) !== undefined) sync++
  const el = ms(t0)
  console.log(`getattrSync of ${names.length} listed entries: ${el.toFixed(1)} ms (${(el * 1000 / names.length).toFixed(2)} µs each, ${sync} answered from memory)`)

  // the warm small-file path a training epoch takes: open, read, release of every file
  const one = Buffer.alloc(4096)
  const epoch = async (): Promise<number> => {
    const e0 = process.hrtime.bigint()
    for (const n of names.slice(0, 20_000)) {
      const p = `/many/${n}`
      const fh = await fs.open(p, C.O_RDONLY)
      await fs.read(p, fh, one, one.length, 0)
      await fs.release(p, fh)
    }
    return ms(e0)
  }
  const cold = await epoch()
  const warm = await epoch()
  console.log(`open+read+release of 20,000 small files: cold ${(cold * 1000 / 20000).toFixed(1)} µs/file (fetch into cache), warm ${(warm * 1000 / 20000).toFixed(1)} µs/file`)

  const buf = Buffer.alloc(128 * 1024)
  const readAll = async (): Promise<number> => {
    const fh = await fs.open('/big.bin', C.O_RDONLY)
    let pos = 0
    for (;;) { const n = await fs.read('/big.bin', fh, buf, buf.length, pos); if (n === 0) break; pos += n }
    await fs.release('/big.bin', fh)
    return pos
  }
  t0 = process.hrtime.bigint()
  let n = await readAll()
  let e = ms(t0)
  console.log(`read ${n >> 20} MiB cold (remote -> cache, 128 KiB reads): ${e.toFixed(0)} ms = ${((n / 1048576) / (e / 1000)).toFixed(0)} MiB/s`)
  t0 = process.hrtime.bigint()
  n = await readAll()
  e = ms(t0)
  console.log(`read ${n >> 20} MiB warm (cache, 128 KiB reads): ${e.toFixed(0)} ms = ${((n / 1048576) / (e / 1000)).toFixed(0)} MiB/s; hits ${cache.counters.hits} misses ${cache.counters.misses}`)

  const W = 128 * 1024 * 1024
  const wbuf = Buffer.alloc(128 * 1024, 3)
  t0 = process.hrtime.bigint()
  const fh = await fs.create('/out.bin', 0o644, C.O_WRONLY | C.O_CREAT | C.O_TRUNC)
  for (let pos = 0; pos < W; pos += wbuf.length) await fs.write('/out.bin', fh, wbuf, wbuf.length, pos)
  await fs.flush('/out.bin', fh)
  await fs.release('/out.bin', fh)
  e = ms(t0)
  console.log(`write ${W >> 20} MiB staged (128 KiB writes + close/fsync): ${e.toFixed(0)} ms = ${((W / 1048576) / (e / 1000)).toFixed(0)} MiB/s`)

  t0 = process.hrtime.bigint()
  for (let i = 0; i < 1000; i++) {
    const f = await fs.create(`/small-${i}`, 0o644, C.O_WRONLY | C.O_CREAT)
    await fs.write(`/small-${i}`, f, small, 1, 0)
    await fs.release(`/small-${i}`, f)
  }
  e = ms(t0)
  console.log(`create+write+close of 1000 small files (journal fsync each): ${e.toFixed(0)} ms = ${(1000 / (e / 1000)).toFixed(0)} files/s`)
  await s.close()
  await cache.close()
} finally {
  await rm(dir, { recursive: true, force: true })
}
