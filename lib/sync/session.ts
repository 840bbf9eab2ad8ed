// SyncSession: one branch (or a sub-path of it) kept as a plain local directory.
//
// Three views of a path, as for a mount: the pinned base commit (`#base`, listed once, replaced
// after a commit or pull), the staging journal (lib/staging, the same journal mounts use: final
// state per path), and the local directory, which here is the working copy itself. A local file
// is compared with what the journal or the base says it should be BY CONTENT (sha256); the
// persisted index (`index.json`) remembers, per path, the size, mtime, ctime, inode and sha256
// of the local file last seen, so a path is re-hashed only when one of those changed. Any write
// changes ctime, so a rewrite that restores the mtime is still seen; a rewrite with the same
// bytes hashes equal and is not a change.
//
// Staging a changed file copies it into the journal's data directory (fsynced, then recorded),
// so the working copy can keep changing while a commit uploads. Content the sync already knows
// (a base object with that sha256: a rename or a copy of an unchanged file) is staged as a `ref`
// to that object instead, so nothing new is uploaded for it.
//
// Downloads go through the shared ContentCache (a cached object is a local copy), into
// `.<name>.lk-partial-<random>` beside the final name, fsynced, then hard-linked into place (which
// fails instead of overwriting a file the user created meanwhile) and recorded in the index. A
// partial file is never taken for a complete one: partial names are ignored and deleted at start.
//
// What it must never do: stage a file that is still being written (a path is processed only once
// its size/mtime/ctime have been still for `settleMs`, and the copy is checked against the file
// afterwards), touch ignored paths (lib/sync/ignore.ts), delete or overwrite a local file that
// differs from the base (pull refuses, or with force moves it aside into the state directory).
//
// Concurrency contract: every operation that reads or changes the base, the index or the journal
// runs on one promise chain (`#serial`): a batch of watcher events, the start-up reconcile, a
// commit, a pull, a discard. So a commit never sees half of a batch, and the base never changes
// under a batch. Watcher callbacks only add paths to the dirty set (synchronously).

import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, type Stats } from 'node:fs'
import { copyFile, link, lstat, mkdir, open, readFile, readdir, rename, rm, unlink, utimes, writeFile } from 'node:fs/promises'
import { dirname, join, sep } from 'node:path'
import { LkError, errnoOf } from '../core/errors.js'
import { isMappablePath, type BranchName, type CommitId, type ObjectPath, type RepoName } from '../core/ids.js'
import { silentLogger, type Logger } from '../core/log.js'
import { systemClock, type Clock } from '../core/clock.js'
import type { ContentCache } from '../cache/index.js'
import { commitStaged } from '../commit/index.js'
import type { CommitInfo, DiffEntry, Metadata, ObjectStat, Remote } from '../remote/types.js'
import { Journal, fsyncDir, type StagedEntry } from '../staging/index.js'
import { IGNORE_FILE, PARTIAL_MARK, PathFilter, isPartial } from './ignore.js'

export interface SyncSessionOptions {
  remote: Remote
  repo: RepoName
  branch: BranchName
  /** sub-path of the repository that is the directory's root ('' for all) */
  subPath: string
  /** the local directory (absolute) */
  dir: string
  /** the sync's own state directory: journal/, index.json, conflicts/ */
  stateDir: string
  cache: ContentCache
  include?: readonly string[]
  exclude?: readonly string[]
  /** how long a file's size/mtime/ctime must be still before it is staged (default 500 ms) */
  settleMs?: number
  /** events are collected this long before a batch is processed (default 100 ms) */
  debounceMs?: number
  /** parallel downloads and hashes (default 16) */
  concurrency?: number
  /** fsync each downloaded file before it takes its final name (default true) */
  durableDownloads?: boolean
  log?: Logger
  clock?: Clock
}

export interface SyncCounters {
  /** files in the base commit that the sync manages */
  baseFiles: number
  downloaded: number
  downloadedBytes: number
  /** downloads served from the cache without a remote fetch */
  localCopies: number
  hashed: number
  staged: number
  /** staging of watcher events waiting to run (including files still being written) */
  pending: number
}

export type Progress = (ev: { phase: string, done: number, total?: number, bytes?: number }) => void

/** the watcher: lib/sync/watch.ts gives chokidar; tests can give nothing and call `notify` */
export interface Watcher { close (): Promise<void> }
export type StartWatcher = (dir: string, ignored: (abs: string, isDir: boolean | undefined) => boolean, onPath: (abs: string, kind: 'file' | 'dir') => void) => Promise<Watcher>

/** [size, mtimeMs, ctimeMs, ino, sha256] of a local file */
type Fingerprint = [number, number, number, number, string]

interface IndexFile {
  version: 1
  files: Array<[string, ...Fingerprint]>
  /** remote checksum -> sha256 of its bytes (learnt when downloading or hashing) */
  shaOf: Record<string, string>
  /** journal data file -> sha256 */
  staged: Record<string, string>
}

const sameFp = (fp: Fingerprint | undefined, st: Stats): boolean =>
  fp !== undefined && fp[0] === st.size && fp[1] === st.mtimeMs && fp[2] === st.ctimeMs && fp[3] === st.ino

const fpOf = (st: Stats, sha: string): Fingerprint => [st.size, st.mtimeMs, st.ctimeMs, st.ino, sha]

/** files up to this size are read into memory once to hash and stage them */
const SMALL_FILE = 256 * 1024

function sleep (ms: number): Promise<void> { return new Promise(resolve => setTimeout(resolve, ms)) }

async function sha256Of (file: string, size: number): Promise<string> {
  if (size <= 1024 * 1024) return createHash('sha256').update(await readFile(file)).digest('hex')
  const h = createHash('sha256')
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer)
  return h.digest('hex')
}

async function lstatOrNull (p: string): Promise<Stats | null> {
  try { return await lstat(p) } catch (e) {
    const n = errnoOf(e)
    if (n === 'ENOENT' || n === 'ENOTDIR') return null
    throw e
  }
}

/** runs `fn` over `items` with at most `n` at a time */
async function pool<T> (items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T)
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker))
}

export class SyncSession {
  readonly dir: string
  readonly #o: SyncSessionOptions
  readonly #remote: Remote
  readonly #cache: ContentCache
  readonly #log: Logger
  readonly #clock: Clock
  readonly #prefix: string
  readonly #settleMs: number
  readonly #debounceMs: number
  readonly #concurrency: number
  #branch: BranchName
  #journal: Journal
  #filter: PathFilter
  #baseCommit: CommitId
  #base = new Map<string, ObjectStat>()
  #baseLoaded = false
  #files = new Map<string, Fingerprint>()
  /** the one warning about keys that map to no file was given */
  #hiddenSaid = false
  #shaOf = new Map<string, string>()
  #stagedSha = new Map<string, string>()
  /** sha256 -> a base object with those bytes (rename detection) */
  #bySha = new Map<string, ObjectStat>()
  #dirty = new Set<string>()
  #notBefore = new Map<string, number>()
  #timer: NodeJS.Timeout | undefined
  #chain: Promise<unknown> = Promise.resolve()
  #watcher: Watcher | undefined
  #indexDirty = false
  #indexTimer: NodeJS.Timeout | undefined
  #closed = false
  #batchRunning: Promise<void> | undefined
  readonly counters: SyncCounters = { baseFiles: 0, downloaded: 0, downloadedBytes: 0, localCopies: 0, hashed: 0, staged: 0, pending: 0 }
  /** when the last staging happened (ms), for measurements and status */
  lastStagedAt = 0

  private constructor (o: SyncSessionOptions, journal: Journal, base: CommitId, filter: PathFilter) {
    this.dir = o.dir
    this.#o = o
    this.#remote = o.remote
    this.#cache = o.cache
    this.#log = o.log ?? silentLogger
    this.#clock = o.clock ?? systemClock
    let sub = o.subPath.replace(/^\/+/, '')
    if (sub !== '' && !sub.endsWith('/')) sub += '/'
    this.#prefix = sub
    this.#settleMs = o.settleMs ?? 500
    this.#debounceMs = o.debounceMs ?? 100
    this.#concurrency = o.concurrency ?? 16
    this.#branch = o.branch
    this.#journal = journal
    this.#filter = filter
    this.#baseCommit = base
  }

  /** opens the journal and the index; pins the branch head unless staged changes hold an older base */
  static async open (o: SyncSessionOptions): Promise<SyncSession> {
    const log = o.log ?? silentLogger
    const kind = await o.remote.refKind(o.repo, o.branch)
    if (kind !== 'branch') throw new LkError('LK_NOT_A_BRANCH', `${o.branch} is a ${kind}: only branches can be synced`)
    await mkdir(o.dir, { recursive: true })
    const st = await lstat(o.dir)
    if (!st.isDirectory()) throw new LkError('LK_MOUNTPOINT_INVALID', `${o.dir} is not a directory`)
    const journal = await Journal.open({ dir: join(o.stateDir, 'journal'), log })
    let base = journal.base
    if (base === null) {
      base = await o.remote.resolveRef(o.repo, o.branch)
      await journal.setBase(base)
    }
    let lkignore = ''
    try { lkignore = await readFile(join(o.dir, IGNORE_FILE), 'utf8') } catch {}
    const filter = new PathFilter({ lkignore, ...(o.include === undefined ? {} : { include: o.include }), ...(o.exclude === undefined ? {} : { exclude: o.exclude }) })
    const s = new SyncSession(o, journal, base, filter)
    await s.#loadIndex()
    return s
  }

  get branch (): BranchName { return this.#branch }
  get baseCommit (): CommitId { return this.#baseCommit }
  get journal (): Journal { return this.#journal }

  #serial<T> (fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn, fn)
    this.#chain = next.catch(() => {})
    return next
  }

  /**
   * Whether a key under the prefix maps to a file of the directory. Keys that do not (lakeFS
   * accepts `dir/` markers, `a//b`, `../x`) are left out of the base, never written, and said once.
   */
  #mappable (key: string, rel: string): boolean {
    if (isMappablePath(rel)) return true
    if (!this.#hiddenSaid && !rel.endsWith('/')) {
      this.#hiddenSaid = true
      this.#log.warn('sync: keys that map to no file name are left out of the directory (e.g. "a//b", "../x"; "dir/" markers are skipped silently)', { key })
    }
    return false
  }

  #abs (rel: string): string {
    const abs = join(this.dir, ...rel.split('/'))
    // defence in depth: whatever a key says, nothing is read or written outside the directory
    if (abs !== this.dir && !abs.startsWith(this.dir + sep)) throw new LkError('LK_BAD_PATH', `${JSON.stringify(rel)} lies outside the sync directory ${this.dir}`, { details: { path: rel } })
    return abs
  }
  #rel (abs: string): string | undefined {
    if (abs === this.dir) return ''
    if (!abs.startsWith(this.dir + sep)) return undefined
    return abs.slice(this.dir.length + 1).split(sep).join('/')
  }

  #objectPath (rel: string): ObjectPath { return (this.#prefix + rel) as ObjectPath }

  ignored (rel: string, isDir = false): boolean { return this.#filter.ignored(rel, isDir) }

  // ---------------------------------------------------------------- index

  get #indexPath (): string { return join(this.#o.stateDir, 'index.json') }

  async #loadIndex (): Promise<void> {
    let raw: IndexFile
    try { raw = JSON.parse(await readFile(this.#indexPath, 'utf8')) as IndexFile } catch (e) {
      if (errnoOf(e) !== 'ENOENT') this.#log.warn('sync: unreadable index, every file is re-hashed', { err: e })
      return
    }
    for (const [rel, ...fp] of raw.files) this.#files.set(rel, fp)
    for (const [k, v] of Object.entries(raw.shaOf)) this.#shaOf.set(k, v)
    for (const [k, v] of Object.entries(raw.staged)) this.#stagedSha.set(k, v)
  }

  /** atomic replace; the index is a cache of hashes, so a lost update only costs re-hashing */
  async saveIndex (): Promise<void> {
    if (this.#indexTimer !== undefined) { clearTimeout(this.#indexTimer); this.#indexTimer = undefined }
    this.#indexDirty = false
    const staged: Record<string, string> = {}
    for (const [, e] of this.#journal.entries()) if (e.t === 'file') { const s = this.#stagedSha.get(e.data); if (s !== undefined) staged[e.data] = s }
    for (const e of this.#journal.sealed?.entries.values() ?? []) if (e.t === 'file') { const s = this.#stagedSha.get(e.data); if (s !== undefined) staged[e.data] = s }
    const data: IndexFile = { version: 1, files: [...this.#files].map(([rel, fp]) => [rel, ...fp]), shaOf: Object.fromEntries(this.#shaOf), staged }
    const tmp = `${this.#indexPath}.${randomBytes(4).toString('hex')}`
    await writeFile(tmp, JSON.stringify(data))
    await rename(tmp, this.#indexPath)
  }

  #touchIndex (): void {
    this.#indexDirty = true
    if (this.#indexTimer !== undefined || this.#closed) return
    this.#indexTimer = setTimeout(() => {
      this.#indexTimer = undefined
      if (this.#indexDirty) this.saveIndex().catch((e: unknown) => { this.#log.warn('sync: could not save the index', { err: e }) })
    }, 2000)
    this.#indexTimer.unref()
  }

  #learn (stat: ObjectStat, sha: string): void {
    this.#shaOf.set(stat.checksum, sha)
    if (!this.#bySha.has(sha)) this.#bySha.set(sha, stat)
  }

  // ---------------------------------------------------------------- base

  async #listBase (commit: CommitId): Promise<Map<string, ObjectStat>> {
    const out = new Map<string, ObjectStat>()
    let after = ''
    for (;;) {
      const page = await this.#remote.listObjects(this.#o.repo, commit, { prefix: this.#prefix, after, amount: 1000 })
      for (const e of page.entries) {
        if (e.type !== 'object') continue
        const rel = e.stat.path.slice(this.#prefix.length)
        if (rel === '' || !this.#mappable(e.stat.path, rel)) continue
        if (!this.ignored(rel)) out.set(rel, e.stat)
      }
      if (!page.hasMore) return out
      after = page.nextAfter
    }
  }

  #setBase (commit: CommitId, base: Map<string, ObjectStat>): void {
    this.#baseCommit = commit
    this.#base = base
    this.#bySha.clear()
    for (const st of base.values()) {
      const sha = this.#shaOf.get(st.checksum)
      if (sha !== undefined && !this.#bySha.has(sha)) this.#bySha.set(sha, st)
    }
    this.counters.baseFiles = base.size
  }

  /** a session opened without `start` (a stopped sync being committed) lists its base on first use */
  async #ensureBase (): Promise<void> {
    if (this.#baseLoaded) return
    this.#setBase(this.#baseCommit, await this.#listBase(this.#baseCommit))
    this.#baseLoaded = true
  }

  /** sha256 of a base object: known from its download, or hashed from the cache */
  async #shaOfStat (stat: ObjectStat): Promise<string> {
    const known = this.#shaOf.get(stat.checksum)
    if (known !== undefined) return known
    const h = createHash('sha256')
    for await (const b of this.#cache.stream({ remote: this.#remote, repo: this.#o.repo, stat })) h.update(b)
    const sha = h.digest('hex')
    this.#learn(stat, sha)
    this.#touchIndex()
    return sha
  }

  // ---------------------------------------------------------------- start

  /**
   * Brings the directory in line with the base and the journal: deletes partial downloads,
   * downloads what is missing, stages local edits made while no daemon watched (against the
   * index and the journal), then starts the watcher. Resumable: what is intact is not fetched again.
   */
  async start (o: { watch?: StartWatcher, onProgress?: Progress } = {}): Promise<void> {
    // the watcher first, so no edit made during the reconcile is missed (events wait for it)
    if (o.watch !== undefined) {
      this.#watcher = await o.watch(this.dir, (abs, isDir) => {
        const rel = this.#rel(abs)
        return rel === undefined || (rel !== '' && this.ignored(rel, isDir === true))
      }, (abs, kind) => { this.#onEvent(abs, kind) })
    }
    await this.#serial(async () => { await this.#reconcileAll(o.onProgress) })
    this.#schedule(0)
  }

  async #walkLocal (): Promise<Map<string, Stats>> {
    const out = new Map<string, Stats>()
    const dirs: string[] = ['']
    while (dirs.length > 0) {
      const batch = dirs.splice(0, dirs.length)
      await pool(batch, this.#concurrency, async (rel) => {
        let names
        try { names = await readdir(this.#abs(rel), { withFileTypes: true }) } catch (e) {
          if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return
          throw e
        }
        for (const d of names) {
          const child = rel === '' ? d.name : `${rel}/${d.name}`
          if (d.isDirectory()) { if (!this.ignored(child, true)) dirs.push(child); continue }
          if (isPartial(child)) { await rm(this.#abs(child), { force: true }); continue }
          if (!d.isFile() || this.ignored(child)) continue
          const st = await lstatOrNull(this.#abs(child))
          if (st?.isFile() === true) out.set(child, st)
        }
      })
    }
    return out
  }

  async #reconcileAll (onProgress?: Progress): Promise<void> {
    const t0 = this.#clock.now()
    onProgress?.({ phase: 'list', done: 0 })
    const listed = await this.#listBase(this.#baseCommit)
    // the branch's .lkignore decides what else to fetch: it comes first
    const ig = listed.get(IGNORE_FILE)
    if (ig !== undefined && await lstatOrNull(this.#abs(IGNORE_FILE)) === null && !this.#files.has(IGNORE_FILE) && this.#journal.get(IGNORE_FILE) === undefined) {
      await this.#fetchInto(IGNORE_FILE, ig)
      await this.#reloadIgnore()
      for (const rel of [...listed.keys()]) if (this.ignored(rel)) listed.delete(rel)
    }
    this.#setBase(this.#baseCommit, listed)
    this.#baseLoaded = true
    onProgress?.({ phase: 'scan', done: 0 })
    const local = await this.#walkLocal()
    const toFetch: Array<[string, ObjectStat]> = []
    const toCheck = new Set<string>()
    for (const [rel, st] of this.#base) {
      if (local.has(rel)) continue
      const e = this.#journal.get(rel)
      // absent locally: deleted by the user (known to the index, or staged), else not downloaded yet
      if (this.#files.has(rel) || e !== undefined) { toCheck.add(rel); continue }
      toFetch.push([rel, st])
    }
    for (const [rel, st] of local) if (!sameFp(this.#files.get(rel), st) || this.#expectedDiffers(rel, this.#files.get(rel)?.[4])) toCheck.add(rel)
    for (const [rel] of this.#journal.entries()) if (!local.has(rel)) toCheck.add(rel)
    for (const rel of this.#files.keys()) if (!local.has(rel)) toCheck.add(rel)
    // the staged data must still be whole: a damaged copy is re-staged from the working copy
    for (const [rel, e] of [...this.#journal.entries()]) {
      if (e.t !== 'file') continue
      const st = await lstatOrNull(this.#journal.dataPath(e.data))
      if (st?.size !== e.size || !this.#stagedSha.has(e.data)) { this.#stagedSha.delete(e.data); toCheck.add(rel) }
    }
    await this.#download(toFetch, onProgress)
    const checks = [...toCheck]
    let done = 0
    await pool(checks, this.#concurrency, async (rel) => {
      await this.#reconcilePath(rel, { settled: true })
      onProgress?.({ phase: 'check', done: ++done, total: checks.length })
    })
    await this.saveIndex()
    this.#log.info('sync: directory reconciled', { base: this.#baseCommit, files: this.#base.size, downloaded: toFetch.length, checked: checks.length, ms: this.#clock.now() - t0 })
  }

  /** the index says the file is `sha`; does that differ from what journal/base expect? */
  #expectedDiffers (rel: string, sha: string | undefined): boolean {
    if (sha === undefined) return true
    const e = this.#journal.get(rel)
    if (e !== undefined) {
      if (e.t === 'file') return this.#stagedSha.get(e.data) !== sha
      if (e.t === 'ref') return this.#shaOf.get(e.stat.checksum) !== sha
      return true
    }
    const b = this.#base.get(rel)
    return b === undefined || this.#shaOf.get(b.checksum) !== sha
  }

  async #download (items: Array<[string, ObjectStat]>, onProgress?: Progress): Promise<void> {
    if (items.length === 0) return
    const total = items.length
    let done = 0
    let bytes = 0
    onProgress?.({ phase: 'fetch', done: 0, total, bytes: 0 })
    await pool(items, this.#concurrency, async ([rel, stat]) => {
      await this.#fetchInto(rel, stat)
      done++
      bytes += stat.size
      onProgress?.({ phase: 'fetch', done, total, bytes })
    })
  }

  /** downloads one base object to its path; leaves a file the user created meanwhile alone */
  async #fetchInto (rel: string, stat: ObjectStat, o: { replace?: boolean } = {}): Promise<boolean> {
    const final = this.#abs(rel)
    const parent = dirname(final)
    await mkdir(parent, { recursive: true })
    const name = final.slice(parent.length + 1)
    const tmp = join(parent, `.${name.slice(0, 100)}${PARTIAL_MARK}${randomBytes(4).toString('hex')}`)
    const cached = this.#cache.has(stat)
    const h = createHash('sha256')
    const fh = await open(tmp, 'wx')
    try {
      const buf = Buffer.allocUnsafe(Math.max(1, Math.min(this.#cache.chunkSize, stat.size)))
      for (let pos = 0; pos < stat.size;) {
        const n = await this.#cache.read({ remote: this.#remote, repo: this.#o.repo, stat }, buf, buf.length, pos)
        const piece = buf.subarray(0, n)
        h.update(piece)
        await fh.write(piece, 0, n, pos)
        pos += n
      }
      if (this.#o.durableDownloads !== false) await fh.datasync()
    } catch (e) {
      await fh.close().catch(() => {})
      await rm(tmp, { force: true })
      throw e
    }
    await fh.close()
    const mtime = new Date(stat.mtime * 1000)
    await utimes(tmp, mtime, mtime)
    try {
      // link, not rename: it fails instead of replacing a file the user created meanwhile
      // (a pull replaces a file known to be intact: rename, so there is never a gap)
      if (o.replace === true) await rename(tmp, final); else await link(tmp, final)
    } catch (e) {
      if (errnoOf(e) === 'EEXIST') { this.#dirty.add(rel); return false }
      throw e
    } finally {
      await unlink(tmp).catch(() => {})
    }
    const sha = h.digest('hex')
    this.#learn(stat, sha)
    // after the temp name is gone: link and unlink both change the inode's ctime
    const st = await lstat(final)
    this.#files.set(rel, fpOf(st, sha))
    this.#touchIndex()
    this.counters.downloaded++
    this.counters.downloadedBytes += stat.size
    if (cached) this.counters.localCopies++
    return true
  }

  // ---------------------------------------------------------------- events

  #onEvent (abs: string, kind: 'file' | 'dir'): void {
    const rel = this.#rel(abs)
    if (rel === undefined || rel === '') return
    if (rel === IGNORE_FILE) void this.#reloadIgnore()
    if (kind === 'dir') {
      // a moved or deleted directory: every path known under it, and whatever is there now
      const pre = rel + '/'
      for (const m of [this.#base.keys(), this.#files.keys(), [...this.#journal.entries()].map(([p]) => p)]) {
        for (const p of m) if (p.startsWith(pre)) this.#dirty.add(p)
      }
      this.#dirty.add('\0dir:' + rel)
    } else {
      this.#dirty.add(rel)
    }
    this.counters.pending = this.#dirty.size
    this.#schedule(this.#debounceMs)
  }

  /** tells the session a path changed (what the watcher calls; tests may call it directly) */
  notify (rel: string): void { this.#onEvent(this.#abs(rel), 'file') }

  async #reloadIgnore (): Promise<void> {
    const text = await readFile(join(this.dir, IGNORE_FILE), 'utf8').catch(() => '')
    this.#filter = new PathFilter({ lkignore: text, ...(this.#o.include === undefined ? {} : { include: this.#o.include }), ...(this.#o.exclude === undefined ? {} : { exclude: this.#o.exclude }) })
    this.#log.info('sync: .lkignore loaded', { rules: text.split('\n').length })
  }

  #schedule (ms: number): void {
    if (this.#closed || this.#timer !== undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#runBatch()
    }, ms)
  }

  #runBatch (): Promise<void> {
    if (this.#batchRunning !== undefined) return this.#batchRunning
    const p = this.#serial(async () => { await this.#processDirty() })
      .catch((e: unknown) => { this.#log.error('sync: staging a batch failed; retried with the next event', { err: e }) })
      .finally(() => {
        this.#batchRunning = undefined
        this.counters.pending = this.#dirty.size
        if (this.#dirty.size > 0) this.#schedule(this.#nextDelay())
      })
    this.#batchRunning = p
    return p
  }

  #nextDelay (): number {
    const now = this.#clock.now()
    let min = Infinity
    for (const rel of this.#dirty) min = Math.min(min, (this.#notBefore.get(rel) ?? now) - now)
    return Math.max(this.#debounceMs, Number.isFinite(min) ? min : this.#debounceMs)
  }

  /** processes every dirty path that is due; not-yet-settled paths stay dirty */
  async #processDirty (): Promise<void> {
    const now = this.#clock.now()
    const due: string[] = []
    for (const rel of this.#dirty) {
      if ((this.#notBefore.get(rel) ?? 0) > now) continue
      due.push(rel)
    }
    for (const rel of due) { this.#dirty.delete(rel); this.#notBefore.delete(rel) }
    const dirs = due.filter(r => r.startsWith('\0dir:')).map(r => r.slice(5))
    const files = due.filter(r => !r.startsWith('\0dir:'))
    const extra = new Set<string>()
    for (const d of dirs) {
      // whatever is under a directory that appeared (moved in) is new to us
      const st = await lstatOrNull(this.#abs(d))
      if (st?.isDirectory() !== true) continue
      for (const rel of await this.#walkUnder(d)) extra.add(rel)
    }
    const all = [...new Set([...files, ...extra])]
    await pool(all, this.#concurrency, async (rel) => { await this.#reconcilePath(rel, { settled: false }) })
  }

  async #walkUnder (rel: string): Promise<string[]> {
    const out: string[] = []
    const stack = [rel]
    while (stack.length > 0) {
      const d = stack.pop() as string
      let names
      try { names = await readdir(this.#abs(d), { withFileTypes: true }) } catch { continue }
      for (const n of names) {
        const child = `${d}/${n.name}`
        if (n.isDirectory()) { if (!this.ignored(child, true)) stack.push(child) } else if (n.isFile() && !this.ignored(child)) out.push(child)
      }
    }
    return out
  }

  /** waits until every event so far is staged (including files still settling, up to `maxMs`) */
  async flush (maxMs = 60_000): Promise<void> {
    const deadline = this.#clock.now() + maxMs
    for (;;) {
      if (this.#timer !== undefined) { clearTimeout(this.#timer); this.#timer = undefined }
      await this.#runBatch()
      if (this.#dirty.size === 0) return
      if (this.#clock.now() > deadline) {
        this.#log.warn('sync: files still being written were not staged', { paths: this.#dirty.size })
        return
      }
      await sleep(Math.min(this.#nextDelay(), 200))
    }
  }

  // ---------------------------------------------------------------- one path

  #later (rel: string, atMs: number): void {
    this.#dirty.add(rel)
    this.#notBefore.set(rel, atMs)
  }

  async #record (ops: Array<[string, StagedEntry | null]>): Promise<void> {
    await this.#journal.record(ops)
    this.counters.staged += ops.length
    this.lastStagedAt = this.#clock.now()
  }

  /**
   * Makes the journal say what the local file at `rel` is. `settled`: at start, files are taken
   * as they are (nothing is writing them that we could wait for).
   */
  async #reconcilePath (rel: string, o: { settled: boolean }): Promise<void> {
    if (this.ignored(rel)) return
    const abs = this.#abs(rel)
    const st = await lstatOrNull(abs)
    const e = this.#journal.get(rel)
    const inBase = this.#base.get(rel)
    if (st === null || !st.isFile()) {
      if (st !== null && !st.isDirectory()) this.#log.warn('sync: not a regular file; left alone (symlinks and devices are not stored)', { path: rel })
      if (st !== null && !st.isDirectory()) return
      if (this.#files.delete(rel)) this.#touchIndex()
      if (inBase !== undefined) { if (e?.t !== 'del') await this.#record([[rel, { t: 'del' }]]) } else if (e !== undefined && e.t !== 'del' && e.t !== 'dir') await this.#record([[rel, null]])
      return
    }
    const now = this.#clock.now()
    let sha: string
    let content: Buffer | undefined
    const fp = this.#files.get(rel)
    if (sameFp(fp, st)) {
      sha = (fp as Fingerprint)[4]
    } else {
      const lastChange = Math.max(st.mtimeMs, st.ctimeMs)
      if (!o.settled && now - lastChange < this.#settleMs) { this.#later(rel, lastChange + this.#settleMs); return }
      // small files are read once: the bytes hashed are the bytes staged
      if (st.size <= SMALL_FILE) {
        content = await readFile(abs)
        sha = createHash('sha256').update(content).digest('hex')
      } else {
        sha = await sha256Of(abs, st.size)
      }
      this.counters.hashed++
      const after = await lstatOrNull(abs)
      if (after === null || !sameFp(fpOf(after, sha), st)) { this.#later(rel, this.#clock.now() + this.#settleMs); return }
      this.#files.set(rel, fpOf(st, sha))
      this.#touchIndex()
    }
    // what the journal or the base says the file is
    let expected: string | undefined
    if (e !== undefined) {
      if (e.t === 'file') expected = this.#stagedSha.get(e.data)
      else if (e.t === 'ref') expected = this.#shaOf.get(e.stat.checksum)
    } else if (inBase !== undefined) {
      expected = await this.#shaOfStat(inBase)
    }
    if (expected === sha) return
    if (inBase !== undefined && await this.#shaOfStat(inBase) === sha) {
      // back to the base version (an edit undone, or a file moved back)
      if (e !== undefined) await this.#record([[rel, null]])
      return
    }
    const meta: Metadata = inBase?.metadata ?? {}
    const known = this.#bySha.get(sha)
    if (known !== undefined) {
      // bytes the branch already has (a rename, a copy): no upload
      await this.#record([[rel, { t: 'ref', stat: known, mtime: st.mtimeMs, meta: inBase === undefined ? known.metadata : meta }]])
      return
    }
    const data = await this.#journal.allocData()
    const dest = this.#journal.dataPath(data)
    let copied: string
    if (content !== undefined && content.length === st.size) {
      const fh = await open(dest, 'r+')
      try { await fh.writeFile(content); await fh.datasync() } finally { await fh.close() }
      copied = sha
    } else {
      await copyFile(abs, dest)
      const fh = await open(dest, 'r+')
      try { await fh.datasync() } finally { await fh.close() }
      copied = await sha256Of(dest, st.size)
    }
    const after = await lstatOrNull(abs)
    if (copied !== sha || after === null || !sameFp(fpOf(after, sha), st)) {
      // it changed while we copied it: try again once it is still
      await unlink(dest).catch(() => {})
      this.#later(rel, this.#clock.now() + this.#settleMs)
      return
    }
    this.#stagedSha.set(data, sha)
    await this.#record([[rel, { t: 'file', data, size: st.size, mtime: st.mtimeMs, meta }]])
    this.#touchIndex()
  }

  /** stats every managed path and stages what changed (used before a commit and at stop) */
  async rescan (): Promise<void> {
    await this.#serial(async () => {
      await this.#ensureBase()
      const local = await this.#walkLocal()
      const paths = new Set<string>([...local.keys(), ...this.#base.keys(), ...this.#files.keys(), ...[...this.#journal.entries()].map(([p]) => p)])
      const check: string[] = []
      for (const rel of paths) {
        const st = local.get(rel)
        if (st !== undefined && sameFp(this.#files.get(rel), st) && !this.#expectedDiffers(rel, this.#files.get(rel)?.[4])) continue
        if (st === undefined && !this.#base.has(rel) && this.#journal.get(rel) === undefined) { this.#files.delete(rel); continue }
        if (st === undefined && this.#journal.get(rel)?.t === 'del') continue
        check.push(rel)
      }
      await pool(check, this.#concurrency, async (rel) => { await this.#reconcilePath(rel, { settled: false }) })
    })
    await this.flush()
  }

  // ---------------------------------------------------------------- diff, commit, pull

  async diff (): Promise<DiffEntry[]> {
    await this.#serial(async () => { await this.#ensureBase() })
    const out: DiffEntry[] = []
    for (const [rel, e] of [...this.#journal.entries()]) {
      if (e.t === 'dir') continue
      const inBase = this.#base.has(rel)
      const path = this.#objectPath(rel)
      if (e.t === 'del') { if (inBase) out.push({ path, type: 'removed' }); continue }
      out.push({ path, type: inBase ? 'changed' : 'added', size: e.t === 'file' ? e.size : e.stat.size })
    }
    return out.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  }

  stagedStats (): { paths: number, bytes: number } {
    let paths = 0
    let bytes = 0
    for (const [, e] of this.#journal.entries()) {
      if (e.t === 'dir') continue
      paths++
      if (e.t === 'file') bytes += e.size
    }
    return { paths, bytes }
  }

  /**
   * Stages what is pending, then commits the staged changes as one commit (lib/commit) and moves
   * the base to it. Commits others made on the branch meanwhile (on other paths) arrive in the
   * directory like a pull. LK_CONFLICT keeps everything staged.
   */
  async commit (opts: { message: string, metadata?: Metadata, branch?: BranchName }): Promise<CommitInfo> {
    await this.rescan()
    return await this.#serial(async () => {
      const j = this.#journal
      const from = this.#baseCommit
      const res = await commitStaged({
        remote: this.#remote,
        repo: this.#o.repo,
        branch: this.#branch,
        journal: j,
        base: from,
        message: opts.message,
        ...(opts.metadata === undefined ? {} : { metadata: opts.metadata }),
        ...(opts.branch === undefined ? {} : { targetBranch: opts.branch }),
        log: this.#log,
        objectPath: (rel) => this.#objectPath(rel),
        baseHasFile: async (rel) => await this.#baseHasFileAt(j.sealed?.base ?? from, rel),
        streamOf: (stat) => this.#cache.stream({ remote: this.#remote, repo: this.#o.repo, stat }),
      })
      const own = new Set(res.sealed.entries.keys())
      // the committed versions are the new base; learn their sha256 so they are not re-hashed
      const ownSha = new Map<string, string>()
      for (const [rel, e] of res.sealed.entries) {
        if (e.t === 'file') { const s = this.#stagedSha.get(e.data); if (s !== undefined) ownSha.set(rel, s) }
        if (e.t === 'ref') { const s = this.#shaOf.get(e.stat.checksum); if (s !== undefined) ownSha.set(rel, s) }
      }
      this.#branch = res.branch
      await this.#advanceTo(res.commit.id, { skip: own, ownSha })
      await j.dropSealed()
      await j.setBase(res.commit.id)
      await j.gcData(new Set())
      await this.saveIndex()
      return res.commit
    })
  }

  async #baseHasFileAt (commit: CommitId, rel: string): Promise<boolean> {
    if (commit === this.#baseCommit) return this.#base.has(rel)
    try {
      await this.#remote.statObject(this.#o.repo, commit, this.#objectPath(rel))
      return true
    } catch (e) {
      if (e instanceof LkError && e.code === 'LK_OBJECT_NOT_FOUND') return false
      throw e
    }
  }

  async #changedBetween (from: CommitId, to: CommitId): Promise<string[]> {
    const out: string[] = []
    let after = ''
    for (;;) {
      const page = await this.#remote.diff(this.#o.repo, from, to, { prefix: this.#prefix, after, amount: 1000 })
      for (const d of page.entries) {
        const rel = d.path.slice(this.#prefix.length)
        if (rel !== '' && d.path.startsWith(this.#prefix) && this.#mappable(d.path, rel) && !this.ignored(rel)) out.push(rel)
      }
      if (!page.hasMore) return out
      after = page.nextAfter
    }
  }

  /**
   * Moves the base to `to` and brings the paths that changed between the bases (except `skip`,
   * our own committed paths) into the directory. A path with a local change is left alone.
   */
  async #advanceTo (to: CommitId, o: { skip: ReadonlySet<string>, ownSha?: ReadonlyMap<string, string> }): Promise<{ updated: number, removed: number }> {
    const from = this.#baseCommit
    if (from === to) return { updated: 0, removed: 0 }
    const changed = (await this.#changedBetween(from, to)).filter(r => !o.skip.has(r))
    const next = await this.#listBase(to)
    // our own paths: the committed object has the staged bytes
    for (const [rel, sha] of o.ownSha ?? []) { const st = next.get(rel); if (st !== undefined) this.#shaOf.set(st.checksum, sha) }
    const oldBase = this.#base
    let removed = 0
    const fetch: Array<[string, ObjectStat]> = []
    const remove: string[] = []
    for (const rel of changed) {
      const abs = this.#abs(rel)
      const st = await lstatOrNull(abs)
      const prev = oldBase.get(rel)
      const fp = this.#files.get(rel)
      const intact = st === null ? prev === undefined || this.#journal.get(rel)?.t === 'del' : prev !== undefined && sameFp(fp, st) && fp?.[4] === this.#shaOf.get(prev.checksum)
      const mine = this.#journal.get(rel) !== undefined
      if (mine || (st !== null && !intact)) { this.#log.warn('sync: branch changed a path with a local change; the local version is kept', { path: rel }); continue }
      const target = next.get(rel)
      if (target === undefined) { if (st !== null) remove.push(rel); continue }
      if (st !== null) {
        const sha = this.#shaOf.get(target.checksum)
        if (sha !== undefined && fp?.[4] === sha) continue
      }
      fetch.push([rel, target])
    }
    // new versions first (each replaces the old one atomically), deletions after, the base last:
    // a failed download leaves old versions and the old base, never a missing file the next
    // batch would take for a local deletion
    await pool(fetch, this.#concurrency, async ([rel, target]) => { await this.#fetchInto(rel, target, { replace: true }) })
    for (const rel of remove) {
      await unlink(this.#abs(rel)).catch(() => {})
      this.#files.delete(rel)
      removed++
    }
    this.#setBase(to, next)
    const updated = fetch.length
    this.#touchIndex()
    return { updated, removed }
  }

  /**
   * Brings newer commits of the branch into the directory. Refuses with LK_CONFLICT when a path
   * changed on the branch also has a local change, unless `force`: then the branch's version
   * wins and the local version is moved into `<state>/conflicts/<time>/` (nothing is lost).
   */
  async pull (opts: { force?: boolean, onProgress?: Progress } = {}): Promise<{ from: CommitId, to: CommitId, updated: number, removed: number, movedAside: string[] }> {
    await this.rescan()
    return await this.#serial(async () => {
      const j = this.#journal
      if (j.sealed !== undefined) throw new LkError('LK_CONFLICT', 'a commit of this sync is unfinished; run `lk-mount commit <dir>` first')
      const from = this.#baseCommit
      const to = await this.#remote.resolveRef(this.#o.repo, this.#branch)
      if (to === from) return { from, to, updated: 0, removed: 0, movedAside: [] }
      const changed = await this.#changedBetween(from, to)
      const overlap = changed.filter(rel => j.get(rel) !== undefined)
      const movedAside: string[] = []
      if (overlap.length > 0) {
        if (opts.force !== true) {
          throw new LkError('LK_CONFLICT', `branch ${this.#branch} changed ${overlap.length} path(s) that also have local changes: ${overlap.slice(0, 20).join(', ')}${overlap.length > 20 ? ', ...' : ''}`, { details: { conflicts: overlap, base: from, head: to } })
        }
        const aside = this.#asideDir('conflicts')
        for (const rel of overlap) {
          const dest = await this.#moveAside(rel, aside)
          if (dest !== undefined) movedAside.push(dest)
          this.#files.delete(rel)
        }
        await j.record(overlap.map(rel => [rel, null]))
      }
      const r = await this.#advanceTo(to, { skip: new Set() })
      await j.setBase(to)
      await j.gcData(new Set())
      await this.saveIndex()
      return { from, to, ...r, movedAside }
    })
  }

  /** `<state>/<kind>/<time>/`: where local versions go that a pull or discard replaces */
  #asideDir (kind: 'conflicts' | 'discarded'): string {
    return join(this.#o.stateDir, kind, new Date(this.#clock.now()).toISOString().replace(/[:.]/g, '-'))
  }

  /** moves the local file at `rel` (when it is a regular file) under `aside`; returns where it went */
  async #moveAside (rel: string, aside: string): Promise<string | undefined> {
    const abs = this.#abs(rel)
    const st = await lstatOrNull(abs)
    if (st?.isFile() !== true) return undefined
    const dest = join(aside, ...rel.split('/'))
    await mkdir(dirname(dest), { recursive: true })
    await rename(abs, dest)
    return dest
  }

  /**
   * Drops every staged change and puts the base version back in the directory. The local
   * versions of the changed paths are moved into `<state>/discarded/<time>/` first: a discard
   * never destroys the only copy of anything.
   */
  async discard (): Promise<{ movedAside: string[] }> {
    return await this.#serial(async () => {
      await this.#ensureBase()
      const j = this.#journal
      const aside = this.#asideDir('discarded')
      const movedAside: string[] = []
      const restore: Array<[string, ObjectStat]> = []
      for (const [rel, e] of [...j.entries()]) {
        if (e.t === 'dir') continue
        const dest = await this.#moveAside(rel, aside)
        if (dest !== undefined) movedAside.push(dest)
        this.#files.delete(rel)
        const b = this.#base.get(rel)
        if (b !== undefined) restore.push([rel, b])
      }
      await j.discard()
      await j.gcData(new Set())
      await this.#download(restore)
      await this.saveIndex()
      return { movedAside }
    })
  }

  /** stops watching; staged changes stay in the journal */
  async close (): Promise<void> {
    if (this.#closed) return
    await this.#watcher?.close().catch(() => {})
    this.#watcher = undefined
    if (this.#timer !== undefined) { clearTimeout(this.#timer); this.#timer = undefined }
    await this.#chain
    this.#closed = true
    await this.saveIndex().catch((e: unknown) => { this.#log.warn('sync: could not save the index', { err: e }) })
    await this.#journal.close()
  }

  /** stops the watcher only (stop: the last changes are then staged by `rescan`) */
  async stopWatching (): Promise<void> {
    await this.#watcher?.close().catch(() => {})
    this.#watcher = undefined
  }

  static async fsyncDir (dir: string): Promise<void> { await fsyncDir(dir) }
}
