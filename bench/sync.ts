// Sync-mode measurements (run: node dist/bench/sync.js [files] [kib] [--big N]):
//  1. materialise throughput of SyncSession (cold cache, warm cache; fsynced downloads or not)
//     against a plain parallel download of the same objects (readRange + writeFile, 16 at once);
//  2. the time from a local change to its staging, for one file and for a burst of 10,000;
//  3. with --big N: materialise, idle rescan and one change among N small files (scale).
// Everything runs against the embedded store in a temp directory, which is removed at the end.

import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { ContentCache } from '../lib/cache/index.js'
import type { BranchName, ObjectPath, RepoName } from '../lib/core/ids.js'
import { LocalRemote } from '../lib/remote/local.js'
import type { Change, ObjectStat } from '../lib/remote/types.js'
import { SyncSession } from '../lib/sync/session.js'
import { chokidarWatcher } from '../lib/sync/watch.js'
import { silentLogger } from '../lib/core/log.js'

const REPO = 'bench' as RepoName
const MAIN = 'main' as BranchName
const args = process.argv.slice(2)
const FILES = Number(args[0] ?? 2000)
const KIB = Number(args[1] ?? 100)
const bigAt = args.indexOf('--big')
const BIG = bigAt === -1 ? 0 : Number(args[bigAt + 1] ?? 100_000)

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6
const now = (): bigint => process.hrtime.bigint()
const mbps = (bytes: number, t: number): string => `${(bytes / 1024 / 1024 / (t / 1000)).toFixed(1)} MiB/s`
const sleep = (n: number): Promise<void> => new Promise(resolve => setTimeout(resolve, n))

async function pool<T> (items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0
  await Promise.all(Array.from({ length: n }, async () => { while (i < items.length) await fn(items[i++] as T) }))
}

async function listAll (remote: LocalRemote, repo: RepoName): Promise<ObjectStat[]> {
  const out: ObjectStat[] = []
  let after = ''
  for (;;) {
    const p = await remote.listObjects(repo, MAIN, { after, amount: 1000 })
    for (const e of p.entries) if (e.type === 'object') out.push(e.stat)
    if (!p.hasMore) return out
    after = p.nextAfter
  }
}

async function seed (remote: LocalRemote, repo: RepoName, n: number, size: number): Promise<void> {
  await remote.createRepo(repo, { defaultBranch: MAIN })
  let base = await remote.resolveRef(repo, MAIN)
  for (let start = 0; start < n; start += 5000) {
    const changes: Change[] = []
    for (let i = start; i < Math.min(n, start + 5000); i++) changes.push({ op: 'put', path: `d${i % 100}/f${i}.bin` as ObjectPath, content: { kind: 'buffer', data: randomBytes(size) } })
    base = (await remote.commitChanges(repo, MAIN, changes, { base, message: 'seed' })).id
  }
}

async function main (): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'lk-bench-sync-'))
  const remote = await LocalRemote.open({ dir: join(root, 'store') })
  try {
    if (FILES > 0) await part1()
    async function part1 (): Promise<void> {
    await seed(remote, REPO, FILES, KIB * 1024)
    const stats = await listAll(remote, REPO)
    const total = stats.reduce((a, s) => a + s.size, 0)
    console.log(`objects: ${stats.length} x ${KIB} KiB = ${(total / 1024 / 1024).toFixed(0)} MiB`)

    for (const fsync of [false, true]) {
      const dest = join(root, `plain-${String(fsync)}`)
      const t0 = now()
      await pool(stats, 16, async (s) => {
        const data = await remote.readRange(REPO, s, 0, s.size)
        const file = join(dest, s.path)
        await mkdir(dirname(file), { recursive: true })
        if (!fsync) { await writeFile(file, data); return }
        const { open } = await import('node:fs/promises')
        const fh = await open(file, 'w')
        try { await fh.writeFile(data); await fh.datasync() } finally { await fh.close() }
      })
      const t = ms(t0)
      console.log(`plain parallel download${fsync ? ' + fsync' : ''}: ${t.toFixed(0)} ms, ${mbps(total, t)}, ${(stats.length / (t / 1000)).toFixed(0)} files/s`)
      await rm(dest, { recursive: true, force: true })
    }

    let run = 0
    const materialise = async (label: string, cache: ContentCache, durable: boolean): Promise<void> => {
      const dir = join(root, `sync-${run}`)
      const state = join(root, `state-${run++}`)
      const s = await SyncSession.open({ remote, repo: REPO, branch: MAIN, subPath: '', dir, stateDir: state, cache, durableDownloads: durable, log: silentLogger })
      const t0 = now()
      await s.start({})
      const t = ms(t0)
      console.log(`sync materialise, ${label}${durable ? ', fsynced' : ''}: ${t.toFixed(0)} ms, ${mbps(total, t)}, ${(stats.length / (t / 1000)).toFixed(0)} files/s (${s.counters.localCopies} local copies)`)
      await s.close()
      await rm(dir, { recursive: true, force: true })
    }
    for (const durable of [false, true]) {
      const cacheDir = join(root, `cache-${String(durable)}`)
      const cache = await ContentCache.open({ dir: cacheDir, maxBytes: 8 * 1024 ** 3 })
      await materialise('cold cache', cache, durable)
      await materialise('warm cache', cache, durable)
      await cache.close()
      await rm(cacheDir, { recursive: true, force: true })
    }

    // change -> staged latency, with the real watcher
    const cache = await ContentCache.open({ dir: join(root, 'cache-lat'), maxBytes: 8 * 1024 ** 3 })
    for (const settleMs of [500, 100]) {
      const dir = join(root, `lat-${settleMs}`)
      const s = await SyncSession.open({ remote, repo: REPO, branch: MAIN, subPath: '', dir, stateDir: join(root, `lat-state-${settleMs}`), cache, settleMs, log: silentLogger })
      await s.start({ watch: chokidarWatcher(silentLogger) })
      const one: number[] = []
      for (let k = 0; k < 5; k++) {
        const rel = `new/one-${k}.txt`
        await mkdir(join(dir, 'new'), { recursive: true })
        await sleep(200)
        const t0 = now()
        await writeFile(join(dir, rel), `one ${k}`)
        while (s.journal.get(rel) === undefined) await sleep(2)
        one.push(ms(t0))
      }
      console.log(`one file, change -> staged (settle ${settleMs} ms): ${one.map(x => x.toFixed(0)).join(', ')} ms`)
      const burst = join(dir, 'burst')
      await mkdir(burst)
      // the writer is another process, as in real use (the daemon never shares its event loop)
      const t0 = now()
      const w = spawn(process.execPath, ['-e', `const fs=require('fs');for(let i=0;i<10000;i++)fs.writeFileSync(${JSON.stringify(burst)}+'/b'+i+'.txt','burst '+i)`], { stdio: 'inherit' })
      await new Promise(resolve => w.on('exit', resolve))
      const written = ms(t0)
      while (s.stagedStats().paths < 5 + 10_000) await sleep(10)
      const t = ms(t0)
      console.log(`10,000 files, settle ${settleMs} ms: written in ${written.toFixed(0)} ms, all staged ${t.toFixed(0)} ms after the first write (${(t - written).toFixed(0)} ms after the last)`)
      await s.close()
    }
    await cache.close()
    }

    if (BIG > 0) {
      const repo = 'big' as RepoName
      const t0 = now()
      await seed(remote, repo, BIG, 1024)
      console.log(`big: seeded ${BIG} files in ${ms(t0).toFixed(0)} ms`)
      const bcache = await ContentCache.open({ dir: join(root, 'cache-big'), maxBytes: 8 * 1024 ** 3 })
      const dir = join(root, 'big')
      const open = async (): Promise<SyncSession> => await SyncSession.open({ remote, repo, branch: MAIN, subPath: '', dir, stateDir: join(root, 'big-state'), cache: bcache, log: silentLogger })
      let s = await open()
      let t1 = now()
      await s.start({ watch: chokidarWatcher(silentLogger) })
      console.log(`big: materialised ${s.counters.downloaded} files + watching in ${ms(t1).toFixed(0)} ms, rss ${(process.memoryUsage().rss / 1024 / 1024).toFixed(0)} MiB`)
      t1 = now()
      await s.rescan()
      console.log(`big: rescan with nothing changed ${ms(t1).toFixed(0)} ms (hashed ${s.counters.hashed})`)
      await writeFile(join(dir, 'd7/f7.bin'), 'changed')
      t1 = now()
      while (s.stagedStats().paths < 1) await sleep(5)
      console.log(`big: one change staged ${ms(t1).toFixed(0)} ms after the write`)
      await s.close()
      t1 = now()
      s = await open()
      await s.start({ watch: chokidarWatcher(silentLogger) })
      console.log(`big: restart (reconcile against the index, re-watch) ${ms(t1).toFixed(0)} ms, hashed ${s.counters.hashed}, downloaded ${s.counters.downloaded}, staged ${s.stagedStats().paths}`)
      await s.close()
      await bcache.close()
    }
  } finally {
    await remote.close()
    await rm(root, { recursive: true, force: true })
  }
}

await main()
