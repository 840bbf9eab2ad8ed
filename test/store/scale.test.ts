// A 1,000,000-object commit built from a sorted stream, then listed by prefix: both with
// bounded memory (heap growth is measured while they run and asserted), and reasonably fast.

import t from 'tap'
import * as v8 from 'node:v8'
import * as vm from 'node:vm'
import { B, P, R, buf, tempStore } from '../support/store.js'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void
const MB = 1024 * 1024
const N = 1_000_000
const repo = R('scale')
/** `d0000/f0000000`: 1000 directories of 1000 objects */
const pathOf = (i: number): string => `d${String(Math.floor(i / 1000)).padStart(4, '0')}/f${String(i).padStart(7, '0')}`

/**
 * Runs `f` while sampling RSS every 50 ms and the live heap (after a forced GC, so garbage
 * waiting for collection does not count) every second; a full GC is too slow to run more often.
 */
async function peakDuring<T> (f: () => Promise<T>): Promise<{ result: T, heapGrowthMB: number, peakRssMB: number, ms: number }> {
  gc()
  const base = process.memoryUsage().heapUsed
  let peakHeap = base
  let peakRss = process.memoryUsage.rss()
  const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()) }, 50)
  const heapTimer = setInterval(() => { gc(); peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed) }, 1000)
  const t0 = performance.now()
  try {
    const result = await f()
    const ms = performance.now() - t0
    gc()
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
    return { result, heapGrowthMB: (peakHeap - base) / MB, peakRssMB: peakRss / MB, ms }
  } finally {
    clearInterval(rssTimer)
    clearInterval(heapTimer)
  }
}

t.test('1,000,000 objects: bulk commit and prefix listing with bounded memory', async t => {
  // ~10 s on an idle 2-core box; the shared CI box can be several times slower
  t.setTimeout(280_000)
  const { remote } = await tempStore(t, { fsync: false })
  await remote.createRepo(repo)
  const seed = await remote.putObject(repo, B('main'), P('seed'), buf('tiny'))
  await remote.resetBranch(repo, B('main'), { type: 'all' })
  function * entries (): Generator<{ path: string, checksum: string, size: number, mtime: number }> {
    for (let i = 0; i < N; i++) yield { path: pathOf(i), checksum: seed.checksum, size: 4, mtime: 1_700_000_000 }
  }
  const commit = await peakDuring(async () => await remote.commitSortedEntries(repo, B('main'), entries(), { message: 'a million' }))
  t.comment(`commit of ${N}: ${commit.ms.toFixed(0)} ms, heap growth ${commit.heapGrowthMB.toFixed(0)} MB, peak RSS ${commit.peakRssMB.toFixed(0)} MB`)
  t.equal(commit.result.stats.count, N)
  t.ok(commit.heapGrowthMB < 100, `commit live heap growth ${commit.heapGrowthMB.toFixed(0)} MB is bounded (1M entries held would be ~300 MB)`)
  const id = commit.result.id

  // a prefix of 100,000 objects read page by page: a seek, then ranges in order
  const listing = await peakDuring(async () => {
    let after = ''
    let count = 0
    let prev = ''
    let pages = 0
    for (;;) {
      const page = await remote.listObjects(repo, id, { prefix: 'd05', after, amount: 1000 })
      pages++
      for (const e of page.entries) {
        if (e.type !== 'object') throw new Error('no prefixes without delimiter')
        if (e.stat.path <= prev) throw new Error(`out of order: ${e.stat.path} after ${prev}`)
        prev = e.stat.path
        count++
      }
      if (!page.hasMore) return { count, pages, last: prev }
      after = page.nextAfter
    }
  })
  t.comment(`prefix listing of 100,000: ${listing.ms.toFixed(0)} ms in ${listing.result.pages} pages, heap growth ${listing.heapGrowthMB.toFixed(0)} MB, peak RSS ${listing.peakRssMB.toFixed(0)} MB`)
  t.same(listing.result, { count: 100_000, pages: 100, last: pathOf(599_999) })
  t.ok(listing.heapGrowthMB < 64, `listing live heap growth ${listing.heapGrowthMB.toFixed(0)} MB is bounded`)
  t.ok(listing.peakRssMB < 700, `peak RSS ${listing.peakRssMB.toFixed(0)} MB`)

  // one page deep inside: the seek does not read what comes before
  const deep = await peakDuring(async () => await remote.listObjects(repo, id, { prefix: 'd0987/', amount: 10 }))
  t.same(deep.result.entries.map(e => (e.type === 'object' ? e.stat.path : e.path)), Array.from({ length: 10 }, (_, i) => pathOf(987_000 + i)))
  t.ok(deep.ms < 500, `deep first page in ${deep.ms.toFixed(1)} ms`)

  // directories: one seek per rolled-up prefix
  const root = await remote.listObjects(repo, id, { delimiter: '/', amount: 1000 })
  t.equal(root.entries.length, 1000)
  t.equal(root.hasMore, false)
  t.same(root.entries[999], { type: 'prefix', path: 'd0999/' })
  const st = await remote.statObject(repo, id, P(pathOf(123_456)))
  t.equal(st.checksum, seed.checksum)
  t.equal((await remote.readRange(repo, st, 0, 4)).toString(), 'tiny')

  // a change on top rewrites one range and reuses the other ~244
  const one = await remote.commitChanges(repo, B('main'), [{ op: 'put', path: P(pathOf(500_000)), content: buf('changed') }], { base: id, message: 'one' })
  const d = await remote.diff(repo, id, one.id)
  t.same(d.entries.map(e => [e.path, e.type]), [[pathOf(500_000), 'changed']])
})
