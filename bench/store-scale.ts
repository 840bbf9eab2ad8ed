// Scale bench of the embedded store: a bulk commit of 10k and 1M metadata-only objects (all
// pointing at one small blob), its time and peak RSS, then prefix listings in the 1M commit.
//   npx tsc -p . && node dist/bench/store-scale.js [--counts 10000,1000000] [--no-fsync]
// Prints one line per measurement and a JSON summary at the end.

import { mkdtemp, rm } from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import * as v8 from 'node:v8'
import { LocalRemote } from '../lib/remote/local.js'
import type { BranchName, ObjectPath, RepoName } from '../lib/core/ids.js'

const args = process.argv.slice(2)
const countsArg = args[args.indexOf('--counts') + 1]
const counts = args.includes('--counts') && countsArg !== undefined ? countsArg.split(',').map(Number) : [10_000, 1_000_000]
const fsync = !args.includes('--no-fsync')
const repo = 'bench' as RepoName
const main = 'main' as BranchName
const MB = 1024 * 1024

/**
 * samples RSS every 20 ms and the V8 heap every 250 ms while `f` runs (process.memoryUsage()
 * walks the heap and is too slow to call often); returns its result, time and peaks
 */
async function measure<T> (f: () => Promise<T>): Promise<{ result: T, ms: number, peakRssMB: number, peakHeapMB: number }> {
  let peakRss = process.memoryUsage.rss()
  let peakHeap = v8.getHeapStatistics().used_heap_size
  const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()) }, 20)
  const heapTimer = setInterval(() => { peakHeap = Math.max(peakHeap, v8.getHeapStatistics().used_heap_size) }, 250)
  const t0 = performance.now()
  try {
    const result = await f()
    return { result, ms: performance.now() - t0, peakRssMB: Math.round(peakRss / MB), peakHeapMB: Math.round(peakHeap / MB) }
  } finally {
    clearInterval(rssTimer)
    clearInterval(heapTimer)
  }
}

/** `d000/f0000000` ... : 1000 entries per directory */
const pathOf = (i: number): string => `d${String(Math.floor(i / 1000)).padStart(4, '0')}/f${String(i).padStart(7, '0')}`

const summary: Record<string, unknown> = { fsync, node: process.version, cpus: os.cpus().length }
for (const n of counts) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lk-bench-'))
  const remote = await LocalRemote.open({ dir, fsync })
  try {
    await remote.createRepo(repo)
    const blob = await remote.putObject(repo, main, 'seed' as ObjectPath, { kind: 'buffer', data: Buffer.from('tiny') })
    await remote.resetBranch(repo, main, { type: 'all' })
    function * entries (): Generator<{ path: string, checksum: string, size: number, mtime: number }> {
      for (let i = 0; i < n; i++) yield { path: pathOf(i), checksum: blob.checksum, size: 4, mtime: 1_700_000_000 }
    }
    const c = await measure(async () => await remote.commitSortedEntries(repo, main, entries(), { message: `bulk ${n}` }))
    console.log(`commit ${n}: ${c.ms.toFixed(0)} ms, ${c.result.stats.rangesWritten} ranges, peak RSS ${c.peakRssMB} MB, peak heap ${c.peakHeapMB} MB`)
    summary[`commit_${n}`] = { ms: Math.round(c.ms), ranges: c.result.stats.rangesWritten, peakRssMB: c.peakRssMB, peakHeapMB: c.peakHeapMB }

    // one more object on top: only the touched range is rewritten
    const inc = await measure(async () => await remote.commitChanges(repo, main, [{ op: 'put', path: pathOf(Math.floor(n / 2)) as ObjectPath, content: { kind: 'buffer', data: Buffer.from('changed') } }], { base: c.result.id, message: 'one change' }))
    console.log(`commitChanges of 1 object on ${n}: ${inc.ms.toFixed(1)} ms`)
    summary[`commit_one_on_${n}`] = { ms: Math.round(inc.ms * 10) / 10 }

    const cid = inc.result.id
    const mid = pathOf(Math.floor(n / 2))
    const prefix = mid.slice(0, mid.indexOf('/') + 1)
    const first = await measure(async () => await remote.listObjects(repo, cid, { prefix, amount: 1000 }))
    console.log(`list prefix ${prefix} (first page, ${first.result.entries.length} entries) cold: ${first.ms.toFixed(1)} ms`)
    const warm = await measure(async () => await remote.listObjects(repo, cid, { prefix, amount: 1000 }))
    console.log(`  same, warm: ${warm.ms.toFixed(2)} ms`)
    const single = await measure(async () => await remote.statObject(repo, cid, mid as ObjectPath))
    console.log(`  stat one object: ${single.ms.toFixed(2)} ms`)
    const root = await measure(async () => await remote.listObjects(repo, cid, { delimiter: '/', amount: 1000 }))
    console.log(`list root with delimiter (${root.result.entries.length} prefixes, one seek each): ${root.ms.toFixed(0)} ms`)
    const all = await measure(async () => {
      let after = ''
      let total = 0
      for (;;) {
        const p = await remote.listObjects(repo, cid, { after, amount: 1000 })
        total += p.entries.length
        if (!p.hasMore) return total
        after = p.nextAfter
      }
    })
    console.log(`list everything in pages of 1000 (${all.result}): ${all.ms.toFixed(0)} ms, peak RSS ${all.peakRssMB} MB, peak heap ${all.peakHeapMB} MB`)
    summary[`list_${n}`] = {
      prefixFirstPageColdMs: Math.round(first.ms * 10) / 10,
      prefixFirstPageWarmMs: Math.round(warm.ms * 100) / 100,
      statMs: Math.round(single.ms * 100) / 100,
      rootDelimiterMs: Math.round(root.ms),
      fullPagedMs: Math.round(all.ms),
      fullPagedPeakRssMB: all.peakRssMB,
      fullPagedPeakHeapMB: all.peakHeapMB,
    }
  } finally {
    await remote.close()
    await rm(dir, { recursive: true, force: true })
  }
}
console.log(JSON.stringify(summary))
