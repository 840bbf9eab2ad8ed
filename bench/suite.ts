// The lk-mount benchmark suite (`npm run bench`, `npm run bench -- --quick`): lk-mount against
// the local disk (the physical limit), `rclone mount` and `s3fs` over the same bytes in the same
// Ceph RGW. See bench/README.md for what is measured and how to read the results.
//
// What it starts, in order: a single-node RGW (test/support/rgw.ts), the datasets on local disk,
// the same objects uploaded twice into one bucket (content-addressed blobs under `lk/` for the
// embedded store, plain keys under `plain/` for the peers), `lk-mount serve` on that store with
// its blobs in the bucket, and lk-mountd (private LK_MOUNT_HOME) pointed at the server through
// the LAKECTL_* variables, so lk-mount reads go daemon → presigned URL → RGW, as on a GPU node.
//
// Fairness rules: every workload runs for every system in rotated order, repetition after
// repetition (A B C D, B C D A, ...), so load drift hits all systems alike; "cold" means a fresh
// mount with a fresh cache directory (and, for the local disk, its files dropped from the page
// cache with fadvise); medians are reported. Everything started is stopped by pid and every mount
// detached in `finally`, and again synchronously on process exit.

import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, readFileSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { loadavg, tmpdir, cpus, totalmem } from 'node:os'
import { join, relative, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { startRgw, type Rgw } from '../test/support/rgw.js'
import { LocalRemote } from '../lib/remote/local.js'
import { S3BlobStore } from '../lib/store/blobs-s3.js'
import type { BulkEntry } from '../lib/store/store.js'
import { branchName, repoName } from '../lib/core/ids.js'
import { ControlClient } from '../lib/control/client.js'
import { Procs, run, waitMounted, type Tracked } from './procs.js'

// ---------------------------------------------------------------------------------------------
// configuration

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    tiny: { type: 'boolean', default: false },
    reps: { type: 'string' },
    out: { type: 'string' },
    only: { type: 'string' },
    keep: { type: 'boolean', default: false },
    /** extra node flags for lk-mountd, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (profiling) */
    'daemon-node-args': { type: 'string' },
    /** the same for lk-mount serve */
    'serve-node-args': { type: 'string' },
  },
})

const MODE = args.tiny ? 'tiny' : args.quick ? 'quick' : 'full'
const SIZES = {
  full: { bigMiB: 1024, small: 5000, smallDirs: 50, bigDir: 100_000, meta: 1_000_000, writes: 1000, reps: 3 },
  quick: { bigMiB: 256, small: 1000, smallDirs: 10, bigDir: 20_000, meta: 200_000, writes: 1000, reps: 1 },
  tiny: { bigMiB: 16, small: 200, smallDirs: 4, bigDir: 2000, meta: 20_000, writes: 100, reps: 1 },
}[MODE]
const REPS = args.reps === undefined ? SIZES.reps : Number(args.reps)
const ONLY = args.only === undefined ? undefined : new Set(args.only.split(','))
const want = (w: string): boolean => ONLY === undefined || ONLY.has(w)
const SMALL_BYTES = 100 * 1024
const BIGDIR_BYTES = 1024
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const READER = join(ROOT, 'bench', 'reader.py')
const CLI = join(ROOT, 'dist', 'cli', 'main.js')
const DAEMON = join(ROOT, 'dist', 'daemon', 'main.js')
const SERVE = join(ROOT, 'dist', 'daemon', 'serve.js')
const RESULTS = args.out ?? join(ROOT, 'bench', 'results')
const REPO = 'bench'
const META_REPO = 'meta'
const BUCKET = 'bench'

type System = 'local' | 'lk' | 'rclone' | 's3fs'
const SYSTEMS: System[] = ['local', 'lk', 'rclone', 's3fs']
/** the systems this run measures (a peer that could not be installed is left out) */
let RUN: System[] = [...SYSTEMS]
const peersLeftOut: System[] = []

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
const now = (): number => performance.now()
const log = (msg: string): void => { process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`) }

// ---------------------------------------------------------------------------------------------
// results

interface Metric { unit: string, higherIsBetter: boolean, samples: Partial<Record<System, number[]>> }
const metrics = new Map<string, Metric>()
function record (name: string, unit: string, higherIsBetter: boolean, system: System, value: number): void {
  let m = metrics.get(name)
  if (m === undefined) { m = { unit, higherIsBetter, samples: {} }; metrics.set(name, m) }
  ;(m.samples[system] ??= []).push(value)
  log(`  ${name} ${system}: ${value.toFixed(unit === 's' ? 3 : 1)} ${unit}`)
}
const median = (xs: number[] | undefined): number | undefined => {
  if (xs === undefined || xs.length === 0) return undefined
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}
/** speed ratio lk vs other: > 1 means lk-mount is faster, whatever the unit */
function speedRatio (m: Metric, other: System): number | undefined {
  const lk = median(m.samples.lk)
  const o = median(m.samples[other])
  if (lk === undefined || o === undefined || lk === 0 || o === 0) return undefined
  return m.higherIsBetter ? lk / o : o / lk
}

const loadSamples: number[] = []
const loadTimer = setInterval(() => { loadSamples.push(loadavg()[0] ?? 0) }, 5000)
loadTimer.unref()

// ---------------------------------------------------------------------------------------------
// helpers

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      const port = typeof a === 'object' && a !== null ? a.port : 0
      s.close(() => { resolve(port) })
    })
  })
}

async function pool<T> (items: T[], concurrency: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
}

async function listFiles (root: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string): Promise<void> => {
    const ents = await readdir(d, { withFileTypes: true })
    ents.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    for (const e of ents) {
      const p = join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else out.push(p)
    }
  }
  await walk(root)
  return out
}

async function py (...a: string[]): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const out = await run('python3', [READER, ...a], { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } })
  return JSON.parse(out.trim().split('\n').pop() ?? '{}')
}

/** wall time of a shell command (stdout discarded), seconds */
async function timeCmd (cmd: string, a: string[]): Promise<number> {
  const t0 = now()
  const r = spawnSync(cmd, a, { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 })
  const secs = (now() - t0) / 1000
  if (r.status !== 0) throw new Error(`${cmd} ${a.join(' ')} failed: ${r.stderr?.toString() ?? ''}`)
  return secs
}

async function writeRandomFile (file: string, bytes: number): Promise<void> {
  await mkdir(dirname(file), { recursive: true })
  const ws = createWriteStream(file)
  const chunk = 4 << 20
  for (let off = 0; off < bytes; off += chunk) {
    const b = randomBytes(Math.min(chunk, bytes - off))
    if (!ws.write(b)) await new Promise<void>(resolve => ws.once('drain', () => { resolve() }))
  }
  await new Promise<void>((resolve, reject) => { ws.end(() => { resolve() }); ws.once('error', reject) })
}

async function sha256File (file: string): Promise<string> {
  const h = createHash('sha256')
  for await (const c of createReadStream(file)) h.update(c as Buffer)
  return h.digest('hex')
}

// ---------------------------------------------------------------------------------------------
// the run

const procs = new Procs()
process.on('exit', () => { procs.killAllSync() })
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => { log(`${sig}: cleaning up`); void procs.cleanup().finally(() => process.exit(130)) })
}

/**
 * installs the peers when missing (scripts/setup.sh --bench does it up front); a peer that still
 * cannot be had is left out of the run, loudly, so the suite completes and reports what it could
 */
function ensurePeers (): Array<'rclone' | 's3fs'> {
  const absent = (): Array<'rclone' | 's3fs'> => (['rclone', 's3fs'] as const).filter(p => spawnSync('sh', ['-c', `command -v ${p}`]).status !== 0)
  let missing = absent()
  if (missing.length === 0) return []
  log(`installing ${missing.join(' ')} (apt-get)`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = (): number | null => spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env }).status
  if (install() !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env })
    install()
  }
  missing = absent()
  if (missing.length > 0) log(`WARNING: ${missing.join(' and ')} could not be installed; the run goes on without ${missing.length > 1 ? 'them' : 'it'} (install with: apt-get install -y ${missing.join(' ')})`)
  return missing
}

function gitCommit (): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT }).stdout?.toString().trim() !== ''
  return `${r.stdout?.toString().trim() ?? 'unknown'}${dirty ? '-dirty' : ''}`
}

const work = await mkdtemp(join(tmpdir(), 'lk-bench-'))
const data = join(work, 'data')
const mnt = join(work, 'mnt')
let rgw: Rgw | undefined
let daemon: Tracked | undefined
let client: ControlClient | undefined
const startedAt = new Date()
let failure: unknown

try {
  const absentPeers = ensurePeers()
  if (absentPeers.length > 0) {
    peersLeftOut.push(...absentPeers)
    RUN = RUN.filter(s => !absentPeers.includes(s as 'rclone' | 's3fs'))
  }
  if (!existsSync(DAEMON) || !existsSync(SERVE)) throw new Error('build first: npx tsc -p .')
  log(`mode ${MODE} (${JSON.stringify(SIZES)}), reps ${REPS}, work dir ${work}, load ${loadavg().map(x => x.toFixed(1)).join(' ')}`)

  // -- datasets on local disk ------------------------------------------------------------------
  let t0 = now()
  // (--only skips the datasets of the workloads left out: for profiling one workload)
  if (want('seq')) await writeRandomFile(join(data, 'big', 'big.bin'), SIZES.bigMiB * 1024 * 1024)
  for (let i = 0; i < (want('small') || want('write') ? SIZES.small : 0); i++) {
    const d = `d${String(i % SIZES.smallDirs).padStart(3, '0')}`
    await writeRandomFile(join(data, 'small', d, `f${String(i).padStart(6, '0')}.bin`), SMALL_BYTES)
  }
  // the big directory: identical 1 KiB objects (only metadata matters to listings)
  const bigDirContent = randomBytes(BIGDIR_BYTES)
  await mkdir(join(data, 'many'), { recursive: true })
  for (let i = 0; i < (want('ls') ? SIZES.bigDir : 0); i++) await writeFile(join(data, 'many', `e${String(i).padStart(7, '0')}`), bigDirContent)
  // the write workload's inputs: fresh random bytes per repetition (never already in the store)
  for (let r = 0; r < (want('write') ? REPS : 0); r++) {
    for (let i = 0; i < SIZES.writes; i++) await writeRandomFile(join(work, 'writes', `r${r}`, `w${String(i).padStart(5, '0')}.bin`), SMALL_BYTES)
  }
  log(`datasets generated in ${((now() - t0) / 1000).toFixed(1)} s`)

  // -- RGW and the bucket --------------------------------------------------------------------------
  const totalData = SIZES.bigMiB * 1024 * 1024 + SIZES.small * SMALL_BYTES + SIZES.bigDir * BIGDIR_BYTES
  rgw = await startRgw({ memstoreBytes: Math.max(2 << 30, 3 * totalData + 3 * REPS * SIZES.writes * SMALL_BYTES) })
  log(`RGW at ${rgw.endpoint} in ${rgw.startMs} ms`)
  await rgw.createBucket(BUCKET)
  const s3: S3Client = rgw.client

  // -- the embedded store, blobs in the bucket under lk/ ---------------------------------------
  t0 = now()
  const storeDir = join(work, 'store')
  const s3conf = { bucket: BUCKET, prefix: 'lk', endpoint: rgw.endpoint, credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey } }
  const blobs = new S3BlobStore(s3conf)
  const store = await LocalRemote.open({ dir: storeDir, blobs, fsync: false })
  await store.createRepo(repoName(REPO))
  const files = await listFiles(data)
  const entries: BulkEntry[] = []
  // one upload per distinct content (the big directory is one blob 20k-100k times over)
  const uploads = new Map<string, Promise<void>>()
  await pool(files, 16, async (f) => {
    const sha = await sha256File(f)
    const size = statSync(f).size
    let up = uploads.get(sha)
    if (up === undefined) {
      up = blobs.put(sha, { kind: 'file', file: f, size })
      uploads.set(sha, up)
    }
    await up
    entries.push({ path: relative(data, f), checksum: sha, size })
  })
  entries.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  const main = await store.commitSortedEntries(repoName(REPO), branchName('main'), entries, { message: 'bench dataset' })
  await store.createBranch(repoName(REPO), branchName('wr'), 'main')
  log(`lk store: ${entries.length} objects committed (${main.id.slice(0, 12)}) in ${((now() - t0) / 1000).toFixed(1)} s`)

  // the metadata-only commit: META entries in 1000-entry directories, all pointing at one blob
  t0 = now()
  const metaBlob = createHash('sha256').update(bigDirContent).digest('hex')
  if (!uploads.has(metaBlob)) await blobs.put(metaBlob, { kind: 'buffer', data: bigDirContent })
  await store.createRepo(repoName(META_REPO))
  const metaEntries = function * (): Generator<BulkEntry> {
    for (let i = 0; i < (want('meta') ? SIZES.meta : 1); i++) {
      yield { path: `d${String(Math.floor(i / 1000)).padStart(5, '0')}/f${String(i).padStart(8, '0')}.jpg`, checksum: metaBlob, size: BIGDIR_BYTES }
    }
  }
  await store.commitSortedEntries(repoName(META_REPO), branchName('main'), metaEntries(), { message: 'metadata only' })
  log(`meta commit of ${SIZES.meta} objects in ${((now() - t0) / 1000).toFixed(1)} s`)
  await store.close()

  // -- the same bytes under plain keys for the peers -------------------------------------------
  t0 = now()
  await pool(files, 32, async (f) => {
    const size = statSync(f).size
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `plain/${relative(data, f)}`, Body: createReadStream(f), ContentLength: size }))
  })
  log(`peer keys uploaded in ${((now() - t0) / 1000).toFixed(1)} s`)

  // -- lk-mount serve and lk-mountd ---------------------------------------------------------------
  const servePort = await freePort()
  const awsEnv = { AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey }
  const serve = procs.spawn('lk-mount serve', process.execPath, [...(args['serve-node-args']?.split(' ').filter(a => a !== '') ?? []), SERVE, '--store', storeDir, '--listen', `127.0.0.1:${servePort}`, '--access-key-id', 'BENCHAK', '--blobs', `s3://${BUCKET}/lk`, '--s3-endpoint', rgw.endpoint], {
    env: { ...process.env, ...awsEnv, LK_SERVE_SECRET_ACCESS_KEY: 'bench-secret' },
  })
  for (let i = 0; ; i++) {
    try { const r = await fetch(`http://127.0.0.1:${servePort}/api/v1/healthcheck`); if (r.status < 300) break } catch {}
    if (serve.child.exitCode !== null || i > 300) throw new Error(`lk-mount serve did not start: ${serve.output()}`)
    await sleep(100)
  }
  const lakectlEnv = { LAKECTL_SERVER_ENDPOINT_URL: `http://127.0.0.1:${servePort}`, LAKECTL_CREDENTIALS_ACCESS_KEY_ID: 'BENCHAK', LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY: 'bench-secret' }

  const startDaemon = async (home: string): Promise<{ t: Tracked, c: ControlClient }> => {
    await mkdir(home, { recursive: true, mode: 0o700 })
    const nodeArgs = args['daemon-node-args']?.split(' ').filter(a => a !== '') ?? []
    const t = procs.spawn('lk-mountd', process.execPath, [...nodeArgs, DAEMON, '--foreground'], { env: { ...process.env, ...lakectlEnv, LK_MOUNT_HOME: home, HOME: home } })
    const socketPath = join(home, 'lk-mountd.sock')
    for (let i = 0; ; i++) {
      try { return { t, c: await ControlClient.connect({ socketPath }) } } catch {}
      if (t.child.exitCode !== null || i > 300) throw new Error(`lk-mountd did not start: ${t.output()}`)
      await sleep(100)
    }
  }
  ;({ t: daemon, c: client } = await startDaemon(join(work, 'home')))
  log('serve and daemon up')

  // -- peers -------------------------------------------------------------------------------------
  const rcloneConf = join(work, 'rclone.conf')
  await writeFile(rcloneConf, `[rgw]\ntype = s3\nprovider = Other\nendpoint = ${rgw.endpoint}\naccess_key_id = ${rgw.accessKeyId}\nsecret_access_key = ${rgw.secretAccessKey}\nforce_path_style = true\nregion = us-east-1\n`, { mode: 0o600 })
  const s3fsPw = join(work, 's3fs.passwd')
  await writeFile(s3fsPw, `${rgw.accessKeyId}:${rgw.secretAccessKey}\n`, { mode: 0o600 })

  // -- mounting: each call is a fresh mount with a fresh cache --------------------------------------
  let seq = 0
  interface Mounted { root: string, unmount: () => Promise<void> }
  /** xattrs: false mounts lk-mount with --no-xattrs (the other systems ignore it) */
  interface MountOpts { write?: boolean, ref?: string, repo?: string, xattrs?: boolean }
  const mountSystem = async (sys: System, opts: MountOpts = {}): Promise<Mounted> => {
    if (sys === 'local') return { root: data, unmount: async () => {} }
    const n = seq++
    const mp = join(mnt, `${sys}-${n}`)
    const cache = join(work, 'caches', `${sys}-${n}`)
    await mkdir(mp, { recursive: true })
    await mkdir(cache, { recursive: true })
    if (sys === 'lk') {
      const c = client
      if (c === undefined) throw new Error('no daemon')
      await c.request('mount', { uri: `lakefs://${opts.repo ?? REPO}/${opts.ref ?? 'main'}`, mountpoint: mp, write: opts.write ?? false, cacheDir: cache, ...(opts.xattrs === false ? { xattrs: false } : {}), ...(opts.write === true ? { onUnmount: 'commit' as const, message: 'bench writes' } : {}) })
      procs.trackMount(mp)
      return {
        root: mp,
        unmount: async () => {
          await c.request('umount', { mountpoint: mp })
          procs.untrackMount(mp)
          await rm(cache, { recursive: true, force: true })
        },
      }
    }
    let t: Tracked
    if (sys === 'rclone') {
      const env = { ...process.env }
      delete env.AWS_CA_BUNDLE
      t = procs.spawn('rclone', 'rclone', ['--config', rcloneConf, 'mount', `rgw:${BUCKET}/plain`, mp, '--vfs-cache-mode', 'full', '--cache-dir', cache, '--dir-cache-time', '1h'], { env })
    } else {
      // s3fs mounts the bucket; the dataset is under plain/
      t = procs.spawn('s3fs', 's3fs', [`${BUCKET}:/plain`, mp, '-f', '-o', `url=${rgw?.endpoint ?? ''},use_path_request_style,passwd_file=${s3fsPw},sigv4,endpoint=us-east-1,use_cache=${cache},del_cache,stat_cache_expire=3600,enable_noobj_cache`])
    }
    procs.trackMount(mp)
    await waitMounted(mp, t)
    return {
      root: mp,
      unmount: async () => {
        await procs.unmount(mp)
        await procs.stop(t)
        await rm(cache, { recursive: true, force: true })
      },
    }
  }
  const coldLocal = async (sub: string): Promise<void> => { await py('evict', join(data, sub)) }
  const order = (rep: number): System[] => RUN.map((_, i) => RUN[(i + rep) % RUN.length] as System)
  // "warm" is the steady state: every system's cache writes from the cold read (lk-mount's
  // background cache-file writes, rclone's and s3fs's cache files) and the kernel's writeback of
  // them are done before the warm read starts, for every system alike (local disk included)
  const settle = async (): Promise<void> => {
    await sleep(2000)
    spawnSync('sync')
  }
  const withMount = async <T>(sys: System, fn: (root: string) => Promise<T>, opts: MountOpts = {}): Promise<T> => {
    const m = await mountSystem(sys, opts)
    try { return await fn(m.root) } finally { await m.unmount() }
  }

  // -- workloads -----------------------------------------------------------------------------------
  for (let rep = 0; rep < REPS; rep++) {
    log(`repetition ${rep + 1}/${REPS}, order ${order(rep).join(' ')}, load ${loadavg()[0]?.toFixed(1)}`)
    if (want('seq')) {
      for (const sys of order(rep)) {
        if (sys === 'local') await coldLocal('big')
        await withMount(sys, async (root) => {
          const f = join(root, 'big', 'big.bin')
          const cold = await py('seq', f)
          await settle()
          const warm = await py('seq', f)
          record(`seq read ${SIZES.bigMiB} MiB cold`, 'MiB/s', true, sys, cold.bytes / 1048576 / cold.secs)
          record(`seq read ${SIZES.bigMiB} MiB warm`, 'MiB/s', true, sys, warm.bytes / 1048576 / warm.secs)
        })
      }
    }
    if (want('small')) {
      for (const workers of [1, 8]) {
        for (const sys of order(rep)) {
          if (sys === 'local') await coldLocal('small')
          await withMount(sys, async (root) => {
            const r = await py('epochs', join(root, 'small'), String(workers), '2')
            if (r.files !== SIZES.small) throw new Error(`${sys}: saw ${r.files} small files, expected ${SIZES.small}`)
            record(`small files epoch 1 (cold), ${workers} reader${workers > 1 ? 's' : ''}`, 'files/s', true, sys, r.epochs[0].files_per_s)
            record(`small files epoch 2 (warm), ${workers} reader${workers > 1 ? 's' : ''}`, 'files/s', true, sys, r.epochs[1].files_per_s)
          })
        }
      }
    }
    if (want('ls')) {
      for (const sys of order(rep)) {
        // ls -l and find each get their own fresh mount for the cold number
        await withMount(sys, async (root) => {
          const dir = join(root, 'many')
          const cold = await timeCmd('ls', ['-l', dir])
          const warm = await timeCmd('ls', ['-l', dir])
          record(`ls -l of ${SIZES.bigDir} entries cold`, 's', false, sys, cold)
          record(`ls -l of ${SIZES.bigDir} entries warm`, 's', false, sys, warm)
          // the local disk is the yardstick of the --no-xattrs rows too (one measurement, two rows)
          if (sys === 'local') {
            record(`ls -l of ${SIZES.bigDir} entries cold, lk-mount --no-xattrs`, 's', false, sys, cold)
            record(`ls -l of ${SIZES.bigDir} entries warm, lk-mount --no-xattrs`, 's', false, sys, warm)
          }
        })
        if (sys === 'lk') {
          // the same with --no-xattrs: ls -l probes security.selinux and system.posix_acl_access on
          // every entry, which the kernel does not cache and a FUSE daemon answers one by one
          await withMount(sys, async (root) => {
            const dir = join(root, 'many')
            record(`ls -l of ${SIZES.bigDir} entries cold, lk-mount --no-xattrs`, 's', false, sys, await timeCmd('ls', ['-l', dir]))
            record(`ls -l of ${SIZES.bigDir} entries warm, lk-mount --no-xattrs`, 's', false, sys, await timeCmd('ls', ['-l', dir]))
          }, { xattrs: false })
        }
        await withMount(sys, async (root) => {
          const dir = join(root, 'many')
          record(`find of ${SIZES.bigDir} entries cold`, 's', false, sys, await timeCmd('find', [dir]))
          record(`find of ${SIZES.bigDir} entries warm`, 's', false, sys, await timeCmd('find', [dir]))
        })
      }
    }
    if (want('write')) {
      // lk: write through the mount, then commit on unmount; raw: parallel PUTs of the same bytes
      const src = join(work, 'writes', `r${rep}`)
      const runLk = async (): Promise<void> => {
        const m = await mountSystem('lk', { write: true, ref: 'wr' })
        const w0 = now()
        const w = await py('write', src, join(m.root, 'out', `r${rep}`))
        if (w.files !== SIZES.writes) throw new Error(`wrote ${w.files} files, expected ${SIZES.writes}`)
        const u0 = now()
        await m.unmount()
        const total = (now() - w0) / 1000
        record(`write ${SIZES.writes} files + commit on unmount`, 's', false, 'lk', total)
        record(`  of which commit on unmount`, 's', false, 'lk', (now() - u0) / 1000)
        // the daemon's own account of the commit (changes, pre-uploaded, build and remote times)
        const line = daemon?.output().split('\n').filter(l => l.includes('commit: committed')).pop()
        if (line !== undefined) log(`lk-mountd: ${line.slice(0, 400)}`)
      }
      const runRaw = async (): Promise<void> => {
        const list = await listFiles(src)
        const r0 = now()
        await pool(list, 16, async (f) => {
          await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `rawup/r${rep}/${relative(src, f)}`, Body: readFileSync(f) }))
        })
        // the raw upload is the "local" column: the physical limit of moving these bytes
        record(`write ${SIZES.writes} files + commit on unmount`, 's', false, 'local', (now() - r0) / 1000)
      }
      if (rep % 2 === 0) { await runLk(); await runRaw() } else { await runRaw(); await runLk() }
    }
  }

  // -- mount time and daemon RSS on the big metadata-only commit (a daemon of its own) ------------
  if (want('meta')) {
    client?.close()
    await procs.stop(daemon)
    const m = await startDaemon(join(work, 'home-meta'))
    daemon = m.t
    client = m.c
    const rss = (): number => {
      const st = readFileSync(`/proc/${m.t.child.pid ?? 0}/status`, 'utf8')
      return Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? 0) / 1024
    }
    // the first mount of a fresh daemon also creates its shared cache and opens the remote:
    // recorded apart; the target is about mounting on a running daemon
    for (let rep = 0; rep <= Math.max(REPS, 2); rep++) {
      const mp = join(mnt, `meta-${seq++}`)
      await mkdir(mp, { recursive: true })
      // the daemon's shared cache, as a user's mount: a fresh cache directory costs its own
      // set-up, which is not what this number is about
      const m0 = now()
      await m.c.request('mount', { uri: `lakefs://${META_REPO}/main`, mountpoint: mp })
      record(rep === 0 ? `first mount after daemon start (${SIZES.meta}-object commit)` : `mount of a ${SIZES.meta}-object commit`, 's', false, 'lk', (now() - m0) / 1000)
      procs.trackMount(mp)
      if (rep === 0) {
        // one listing of everything, on the daemon's first mount: RSS then says what listing
        // the commit costs (later mounts would add what earlier ones left on the heap)
        const before = rss()
        const l0 = now()
        const out = spawnSync('find', [mp], { maxBuffer: 1 << 30 })
        const lines = out.stdout.toString().split('\n').filter(l => l !== '').length
        if (lines < SIZES.meta) throw new Error(`find listed ${lines} entries of ${SIZES.meta}`)
        record(`find over the ${SIZES.meta}-object commit`, 's', false, 'lk', (now() - l0) / 1000)
        record(`daemon RSS after listing ${SIZES.meta} objects`, 'MiB', false, 'lk', rss())
        log(`  (daemon RSS before listing ${before.toFixed(0)} MiB)`)
      }
      await m.c.request('umount', { mountpoint: mp })
      procs.untrackMount(mp)
    }
  }
} catch (e) {
  failure = e
  log(`FAILED: ${(e as Error).stack ?? String(e)}`)
} finally {
  client?.close()
  await procs.cleanup()
  await rgw?.stop().catch(() => {})
  if (!args.keep) await rm(work, { recursive: true, force: true }).catch(() => {})
  clearInterval(loadTimer)
}

// ---------------------------------------------------------------------------------------------
// report

const TARGETS: Array<{ metric: string, vs: System | 'abs', min?: number, max?: number, text: string }> = [
  { metric: 'small files epoch 2 (warm), 1 reader', vs: 'local', min: 0.25, text: 'warm small-file epoch files/s lk/local ≥ 0.25 (1 reader)' },
  { metric: 'small files epoch 2 (warm), 8 readers', vs: 'local', min: 0.25, text: 'warm small-file epoch files/s lk/local ≥ 0.25 (8 readers)' },
  { metric: `seq read ${SIZES.bigMiB} MiB warm`, vs: 'local', min: 0.9, text: `warm ${SIZES.bigMiB} MiB seq read lk/local ≥ 0.9` },
  { metric: `seq read ${SIZES.bigMiB} MiB cold`, vs: 'rclone', min: 1.5, text: `cold ${SIZES.bigMiB} MiB seq read lk/rclone ≥ 1.5` },
  { metric: 'small files epoch 1 (cold), 1 reader', vs: 'rclone', min: 2.0, text: 'cold small files lk/rclone ≥ 2.0 (1 reader)' },
  { metric: 'small files epoch 1 (cold), 8 readers', vs: 'rclone', min: 2.0, text: 'cold small files lk/rclone ≥ 2.0 (8 readers)' },
  { metric: 'small files epoch 1 (cold), 1 reader', vs: 's3fs', min: 1.5, text: 'cold small files lk/s3fs ≥ 1.5 (1 reader)' },
  { metric: 'small files epoch 1 (cold), 8 readers', vs: 's3fs', min: 1.5, text: 'cold small files lk/s3fs ≥ 1.5 (8 readers)' },
  { metric: `ls -l of ${SIZES.bigDir} entries warm`, vs: 'local', min: 0.8, text: `warm ls -l of ${SIZES.bigDir} local time / lk time ≥ 0.8 (default mount: xattrs served)` },
  { metric: `ls -l of ${SIZES.bigDir} entries warm, lk-mount --no-xattrs`, vs: 'local', min: 0.8, text: `warm ls -l of ${SIZES.bigDir} local time / lk time ≥ 0.8 (mount --no-xattrs)` },
  { metric: `mount of a ${SIZES.meta}-object commit`, vs: 'abs', max: 0.5, text: `mount of a ${SIZES.meta}-object commit ≤ 0.5 s` },
  { metric: `daemon RSS after listing ${SIZES.meta} objects`, vs: 'abs', max: 300, text: `daemon RSS after listing ${SIZES.meta} objects ≤ 300 MiB` },
  { metric: `write ${SIZES.writes} files + commit on unmount`, vs: 'local', min: 0.8, text: `write + commit of ${SIZES.writes} files lk vs raw parallel upload ≥ 0.8` },
]

const commit = gitCommit()
const loadMed = median(loadSamples)
const fmt = (x: number | undefined, d = 2): string => x === undefined ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(d)
const rows = [...metrics.entries()].map(([name, m]) => ({
  name,
  unit: m.unit,
  higherIsBetter: m.higherIsBetter,
  samples: m.samples,
  median: Object.fromEntries(SYSTEMS.map(s => [s, median(m.samples[s]) ?? null])),
  ratio: { local: speedRatio(m, 'local') ?? null, rclone: speedRatio(m, 'rclone') ?? null, s3fs: speedRatio(m, 's3fs') ?? null },
}))
const targets = TARGETS.map(t => {
  const m = metrics.get(t.metric)
  const value = m === undefined ? undefined : t.vs === 'abs' ? median(m.samples.lk) : speedRatio(m, t.vs)
  const met = value === undefined ? null : t.min !== undefined ? value >= t.min : value <= (t.max ?? Infinity)
  return { target: t.text, value: value ?? null, met }
})
const report = {
  commit,
  mode: MODE,
  reps: REPS,
  sizes: SIZES,
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), load1: { min: Math.min(...loadSamples), median: loadMed ?? null, max: Math.max(...loadSamples) } },
  setup: 'lk-mount: lk-mountd → lk-mount serve (LakefsRemote, presigned URLs) → Ceph RGW; rclone mount --vfs-cache-mode full; s3fs use_cache; same bucket and bytes',
  failure: failure === undefined ? null : String((failure as Error).message ?? failure),
  peersLeftOut,
  rows,
  targets,
}
const md: string[] = [
  `# lk-mount benchmark (${MODE}, ${REPS} repetition${REPS > 1 ? 's' : ''})`,
  '',
  `commit \`${commit}\`, ${report.startedAt} → ${report.finishedAt}, ${cpus().length} CPUs, load average (1 min) during the run: median ${fmt(loadMed, 1)}, min ${fmt(report.machine.load1.min, 1)}, max ${fmt(report.machine.load1.max, 1)}.`,
  `${report.setup}. Medians; ratios are speed ratios (> 1: lk-mount faster), whatever the unit.`,
  failure === undefined ? '' : `\n**The run failed:** ${report.failure ?? ''}\n`,
  peersLeftOut.length === 0 ? '' : `\n**Not measured:** ${peersLeftOut.join(', ')} (could not be installed).\n`,
  '| workload | unit | local | lk-mount | rclone | s3fs | lk/local | lk/rclone | lk/s3fs |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map(r => `| ${r.name} | ${r.unit} | ${fmt(r.median.local ?? undefined)} | ${fmt(r.median.lk ?? undefined)} | ${fmt(r.median.rclone ?? undefined)} | ${fmt(r.median.s3fs ?? undefined)} | ${fmt(r.ratio.local ?? undefined)} | ${fmt(r.ratio.rclone ?? undefined)} | ${fmt(r.ratio.s3fs ?? undefined)} |`),
  '',
  'For the write row, "local" is a raw parallel upload of the same bytes with the S3 SDK (16 in flight).',
  '',
  '| target | value | met |',
  '|---|---|---|',
  ...targets.map(t => `| ${t.target} | ${fmt(t.value ?? undefined)} | ${t.met === null ? 'not measured' : t.met ? 'yes' : '**no**'} |`),
  '',
]
await mkdir(RESULTS, { recursive: true })
await writeFile(join(RESULTS, 'latest.json'), JSON.stringify(report, null, 2) + '\n')
await writeFile(join(RESULTS, 'latest.md'), md.join('\n'))
process.stdout.write(md.join('\n') + '\n')
log(`results in ${join(RESULTS, 'latest.md')}`)
process.exit(failure === undefined ? 0 : 1)
