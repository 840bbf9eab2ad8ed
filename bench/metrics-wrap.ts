// What the daemon's metrics wrapper (daemon/metrics.ts wrapFs) costs per filesystem call: the
// same MemFs read and getattr called directly and through the wrapper, in-process (no FUSE).
// Run: node dist/bench/metrics-wrap.js
import { Metrics } from '../daemon/metrics.js'
import { MemFs } from '../test/support/mem-fs.js'

const core = new MemFs({ files: { '/f': 'x'.repeat(4096) } })
const wrapped = new Metrics().wrapFs(core)
const buf = Buffer.alloc(4096)
const N = 200_000

async function time (name: string, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 10_000; i++) await fn()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) await fn()
  const ns = Number(process.hrtime.bigint() - t0) / N
  process.stdout.write(`${name.padEnd(28)} ${(ns / 1000).toFixed(3)} µs/call\n`)
  return ns
}

const fh = await core.open('/f', 0)
const fhw = await wrapped.open('/f', 0)
for (let round = 0; round < 2; round++) {
  const a = await time('read direct', () => core.read('/f', fh, buf, 4096, 0))
  const b = await time('read through wrapper', () => wrapped.read('/f', fhw, buf, 4096, 0))
  const c = await time('getattr(ENOENT) direct', () => core.getattr('/nope').catch(() => {}))
  const d = await time('getattr(ENOENT) wrapper', () => wrapped.getattr('/nope').catch(() => {}))
  process.stdout.write(`overhead: read ${((b - a) / 1000).toFixed(3)} µs, failing getattr ${((d - c) / 1000).toFixed(3)} µs\n`)
}
