// DirPrefetcher (lib/fs/prefetch.ts) alone, with a fake listing and fetch; then through a
// MountSession: a directory read file after file is fetched ahead of its reader.

import { constants as C } from 'node:fs'
import t from 'tap'
import { branchName, repoName, type ObjectPath } from '../../lib/core/ids.js'
import { DirPrefetcher } from '../../lib/fs/prefetch.js'
import { FaultyRemote } from '../../lib/remote/faulty.js'
import type { ObjectStat } from '../../lib/remote/types.js'
import { SAMPLE_REPO, sampleBytes } from '../conformance/dataset.js'
import { openCoreMount } from '../support/core-mount.js'
import { MemoryRemote } from '../support/memory-remote.js'

const statOf = (name: string, size = 100): ObjectStat => ({ path: `d/${name}` as ObjectPath, physicalAddress: `mem://${name}`, checksum: `sum-${name}`, size, mtime: 0, contentType: 'application/octet-stream', metadata: {} }) as unknown as ObjectStat

type Entries = Map<string, ObjectStat | number>

function listingOf (n: number): Entries {
  const m: Entries = new Map()
  m.set('sub', 0)
  for (let i = 0; i < n; i++) m.set(`f${String(i).padStart(3, '0')}`, statOf(`f${String(i).padStart(3, '0')}`))
  return m
}

const tick = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve)) }
const name = (i: number): string => `d/f${String(i).padStart(3, '0')}`

function fixture (n: number, opts: { window?: number, inFlight?: number, listed?: boolean } = {}): { p: DirPrefetcher, fetched: string[], release: () => void } {
  const listing = listingOf(n)
  const fetched: string[] = []
  let waiters: Array<() => void> = []
  const p = new DirPrefetcher({
    listing: async dir => dir === 'd' && opts.listed !== false ? listing : undefined,
    isCommitted: rel => rel !== name(5),
    fetch: async stat => { fetched.push(stat.path); await new Promise<void>(resolve => { waiters.push(resolve) }) },
    ...(opts.window === undefined ? {} : { window: opts.window }),
    ...(opts.inFlight === undefined ? {} : { inFlight: opts.inFlight }),
  })
  return { p, fetched, release: () => { const w = waiters; waiters = []; for (const r of w) r() } }
}

t.test('files read in listing order: the next ones are fetched, bounded in flight', async t => {
  const { p, fetched, release } = fixture(100, { window: 6, inFlight: 3 })
  p.opened(name(0))
  await tick()
  t.same(fetched, [], 'one read is not yet an order')
  p.opened(name(1))
  await tick()
  t.same(fetched, ['d/f002', 'd/f003', 'd/f004'], 'the next files, at most 3 in flight')
  t.equal(p.queued, 2, 'f006, f007 wait (f005 is written in this mount: skipped)')
  release()
  await tick()
  t.same(fetched.slice(3), ['d/f006', 'd/f007'])
  release()
  await tick()
  t.equal(p.running, 0)
  p.opened(name(2))
  await tick()
  t.same(fetched.slice(5), ['d/f008'], 'the window moves with the reader, nothing fetched twice')
  release()
  p.close()
})

t.test('several readers out of order still count as in order; a jump drops the queue', async t => {
  const { p, fetched, release } = fixture(200, { window: 8, inFlight: 1 })
  for (const i of [1, 0, 3, 2]) p.opened(name(i))
  await tick()
  t.same(fetched, ['d/f002'], 'in order from the second read (f001, f000)')
  t.ok(p.queued > 0)
  p.opened(name(150))
  await tick()
  t.equal(p.queued, 0, 'a read far ahead: the queued files are dropped')
  t.ok(p.counters.dropped > 0)
  release()
  await tick()
  t.same(fetched, ['d/f002'], 'nothing more started for the old position')
  p.close()
})

t.test('unlisted directories are never listed for prefetch; close drops the queue and stops', async t => {
  const un = fixture(50, { listed: false })
  un.p.opened(name(0))
  un.p.opened(name(1))
  await tick()
  t.same(un.fetched, [])
  const { p, fetched, release } = fixture(50, { window: 8, inFlight: 2 })
  p.opened(name(0))
  p.opened(name(1))
  await tick()
  t.equal(fetched.length, 2)
  p.close()
  t.equal(p.queued, 0)
  release()
  await tick()
  t.equal(fetched.length, 2, 'nothing started after close')
  p.opened(name(2))
  p.opened(name(3))
  await tick()
  t.equal(fetched.length, 2)
})

t.test('a session reading a listed directory in order: the next files come from prefetch', async t => {
  const inner = new MemoryRemote()
  const m = await openCoreMount({ write: false, remote: inner, wrap: r => new FaultyRemote(r) })
  t.teardown(m.close)
  // a directory of 20 files, committed after the seed
  const repo = repoName(SAMPLE_REPO)
  const files = Array.from({ length: 20 }, (_, i) => ({ path: `pre/x${String(i).padStart(2, '0')}.bin` as ObjectPath, data: sampleBytes(`pre${i}`, 3000) }))
  const head = await inner.resolveRef(repo, 'main')
  await inner.commitChanges(repo, branchName('main'), files.map(f => ({ op: 'put' as const, path: f.path, content: { kind: 'buffer' as const, data: f.data } })), { base: head, message: 'prefetch fixture' })
  const session = await m.reopen()
  const fs = session.fs
  t.equal((await fs.readdir('/pre')).length, 20)
  const faulty = m.remote as FaultyRemote
  faulty.inject({ method: 'readRange', mode: 'slow', latencyMs: 20 })
  const buf = Buffer.alloc(4096)
  for (let i = 0; i < 20; i++) {
    const p = `/pre/x${String(i).padStart(2, '0')}.bin`
    const fh = await fs.open(p, C.O_RDONLY)
    const n = await fs.read(p, fh, buf, 4096, 0)
    t.ok(buf.subarray(0, n).equals((files[i] as { data: Buffer }).data), `x${i} read`)
    await fs.release(p, fh)
    // the reader's own work between files (a training step): time for the prefetch to land
    await new Promise(resolve => setTimeout(resolve, 40))
  }
  t.ok(m.cache.counters.prefetches >= 10, `prefetched (${m.cache.counters.prefetches})`)
  const st = session.stats()
  t.ok(st.cacheHits >= 10, `most reads were hits (${st.cacheHits} hits, ${st.cacheMisses} misses)`)
  t.equal(faulty.callCount('readRange'), 20, 'each file fetched once')
})

t.test('the window goes on into the next listed directory beside the one being read', async t => {
  const dirOf = (prefix: string, n: number): Entries => {
    const m: Entries = new Map()
    for (let i = 0; i < n; i++) m.set(`f${i}`, { ...statOf(`f${i}`), path: `${prefix}/f${i}` as ObjectPath })
    return m
  }
  const root: Entries = new Map<string, ObjectStat | number>([['a', 0], ['top.txt', statOf('top')], ['b', 0], ['c', 0]])
  const listings: Record<string, ReturnType<typeof dirOf>> = { '': root, a: dirOf('a', 5), b: dirOf('b', 5) }
  const fetched: string[] = []
  const p = new DirPrefetcher({
    listing: async dir => listings[dir],
    isCommitted: () => true,
    fetch: async stat => { fetched.push(stat.path) },
    window: 4,
    inFlight: 10,
  })
  p.opened('a/f0')
  p.opened('a/f1')
  await tick()
  t.same(fetched, ['a/f2', 'a/f3', 'a/f4', 'b/f0'], 'past the end of a: the first file of b')
  p.opened('a/f2')
  await tick()
  p.opened('b/f0')
  await tick()
  t.same(fetched.slice(4), ['b/f1', 'b/f2', 'b/f3', 'b/f4'], 'arriving in b counts as in order at once')
  p.opened('b/f1')
  await tick()
  t.equal(fetched.length, 8, 'c is not listed: nothing from it')
  p.close()
})
