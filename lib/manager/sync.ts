// The sync manager: every `lk-mount sync` of the daemon, their records and their recovery. The
// sync itself (materialise, watch, stage, commit, pull) is lib/sync's SyncSession; this file is
// its lifecycle, beside the mounts' (lib/manager/index.ts), with the same habits.
//
// What it owns: `<stateRoot>/<id>/sync.json` (what is synced where, with which policy, and
// whether it should be running) next to the session's own `journal/`, `index.json`,
// `conflicts/` and `discarded/`. The id is a hash of (store, repo, branch, path, dir): syncing the
// same branch into the same directory again finds its journal and index and resumes.
//
// Lifecycle: start -> 'starting' (materialise / reconcile, progress to the caller) -> 'running'.
// `stop` applies commit / keep / discard. A daemon that stops (SIGTERM) only pauses its syncs:
// the records stay `running: true` and the next daemon resumes them, reconciling the directory
// against the index and the journal (edits made meanwhile are staged then). A commit that fails
// keeps the changes staged; a stopped sync with staged changes stays listed as 'staged' until it
// is committed, discarded or started again.
//
// What it must never do: drop staged changes except on an explicit discard or after their commit
// succeeded; run two operations of one directory at once (a promise chain per directory).

import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { LkError, toLkError } from '../core/errors.js'
import { branchName, type BranchName } from '../core/ids.js'
import { silentLogger, type Logger } from '../core/log.js'
import { systemClock, type Clock } from '../core/clock.js'
import { formatUri, parseUri } from '../core/uri.js'
import type { ContentCache } from '../cache/index.js'
import type { CommitInfo, DiffEntry, Metadata, Remote } from '../remote/types.js'
import { SyncSession, type Progress, type StartWatcher } from '../sync/session.js'
import { chokidarWatcher } from '../sync/watch.js'
import type { OnStop, SyncPullResult, SyncRequest, SyncState, SyncStatus, SyncStopRequest, SyncStopResult } from './types.js'

export interface SyncManagerOptions {
  /** `<home>/state/syncs` */
  stateRoot: string
  remoteFor (target: unknown): Promise<{ remote: Remote, key: string }>
  cacheFor (): Promise<ContentCache>
  log?: Logger
  clock?: Clock
  /** injectable: tests may drive events themselves */
  watch?: StartWatcher
  /** milliseconds a file must be still before it is staged (default 500) */
  settleMs?: number
  /** how often `--pull` looks for newer commits (default 30 s) */
  pullEveryMs?: number
  /** whether a directory is one of the daemon's mount points (a sync there is refused) */
  isMountpoint?: (dir: string) => boolean
}

interface SyncRecord {
  version: 1
  id: string
  uri: string
  target: unknown
  targetKey: string
  dir: string
  onStop: OnStop
  commitEveryMs: number
  pull: boolean
  include: string[]
  exclude: string[]
  message?: string
  metadata?: Metadata
  /** false after `sync stop --keep` (or a failed commit at stop): resumed only by a new `sync` */
  running: boolean
  createdAt: string
}

interface Entry {
  rec: SyncRecord
  state: SyncState
  since: string
  session: SyncSession | undefined
  log: Logger
  timers: NodeJS.Timeout[]
  lastCommit?: string
  lastError?: string
  /** the background start of a recovered sync */
  starting?: Promise<void>
}

export function syncId (targetKey: string, repo: string, branch: string, path: string, dir: string): string {
  return createHash('sha256').update(JSON.stringify(['sync', targetKey, repo, branch, path, dir])).digest('hex').slice(0, 16)
}

export class SyncManager {
  readonly #o: SyncManagerOptions
  readonly #log: Logger
  readonly #clock: Clock
  readonly #entries = new Map<string, Entry>()
  readonly #chains = new Map<string, Promise<unknown>>()

  constructor (o: SyncManagerOptions) {
    this.#o = o
    this.#log = o.log ?? silentLogger
    this.#clock = o.clock ?? systemClock
  }

  has (dir: string): boolean { return this.#entries.has(resolve(dir)) }

  #serial<T> (dir: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#chains.get(dir) ?? Promise.resolve()
    const next = prev.then(fn, fn)
    const settled = next.catch(() => {})
    this.#chains.set(dir, settled)
    void settled.then(() => { if (this.#chains.get(dir) === settled) this.#chains.delete(dir) })
    return next
  }

  #now (): string { return new Date(this.#clock.now()).toISOString() }

  #entry (dir: string): Entry {
    const e = this.#entries.get(resolve(dir))
    if (e === undefined) throw new LkError('LK_NOT_MOUNTED', `no lk-mount sync or mount at ${resolve(dir)}`)
    return e
  }

  // ------------------------------------------------------------------ recovery

  /** resumes every sync that was running (in the background); lists stopped ones with staged changes */
  async recover (): Promise<void> {
    await mkdir(this.#o.stateRoot, { recursive: true, mode: 0o700 })
    for (const id of await readdir(this.#o.stateRoot)) {
      let rec: SyncRecord
      try {
        rec = JSON.parse(await readFile(join(this.#o.stateRoot, id, 'sync.json'), 'utf8')) as SyncRecord
      } catch {
        continue
      }
      const log = this.#log.child({ sync: rec.id, uri: rec.uri })
      const entry: Entry = { rec, state: rec.running ? 'starting' : 'staged', since: this.#now(), session: undefined, log, timers: [] }
      if (!rec.running) {
        // listed only when it holds staged changes
        const journal = join(this.#o.stateRoot, id, 'journal', 'manifest.json')
        const staged = await readFile(journal, 'utf8').then(t => (JSON.parse(t) as { active: string[], sealed: unknown }), () => undefined)
        if (staged === undefined) continue
        try {
          await this.#open(entry)
          const n = entry.session?.stagedStats().paths ?? 0
          await entry.session?.close()
          entry.session = undefined
          if (n === 0 && entry.rec.running === false) continue
        } catch (e) {
          entry.state = 'failed'
          entry.lastError = toLkError(e).message
        }
        this.#entries.set(rec.dir, entry)
        continue
      }
      this.#entries.set(rec.dir, entry)
      log.info('recover: resuming the sync', { dir: rec.dir })
      entry.starting = this.#serial(rec.dir, async () => { await this.#run(entry) }).catch((e: unknown) => {
        entry.state = 'failed'
        entry.lastError = toLkError(e).message
        log.error('recover: the sync could not resume; run `lk-mount sync` again', { err: e })
      })
    }
  }

  // ------------------------------------------------------------------ start

  async start (req: SyncRequest, onProgress?: Progress): Promise<SyncStatus> {
    const dir = resolve(req.dir)
    return await this.#serial(dir, async () => await this.#start(req, dir, onProgress))
  }

  async #start (req: SyncRequest, dir: string, onProgress?: Progress): Promise<SyncStatus> {
    const uri = parseUri(req.uri)
    if (uri.ref === undefined) throw new LkError('LK_BAD_URI', `${req.uri} names no branch`)
    const branch = branchName(uri.ref)
    const { remote, key } = await this.#o.remoteFor(req.target)
    const kind = await remote.refKind(uri.repo, branch)
    if (kind !== 'branch') throw new LkError('LK_NOT_A_BRANCH', `${uri.ref} is a ${kind}: only branches can be synced`)
    const id = syncId(key, uri.repo, branch, uri.path, dir)
    if (this.#o.isMountpoint?.(dir) === true) throw new LkError('LK_MOUNTPOINT_BUSY', `${dir} is an lk-mount mount point; unmount it first`)
    const existing = this.#entries.get(dir)
    if (existing !== undefined) {
      if (existing.rec.id !== id) throw new LkError('LK_MOUNTPOINT_BUSY', `${dir} is already synced with ${existing.rec.uri}; stop that sync first (\`lk-mount sync stop ${dir}\`)`)
      if (existing.state === 'running' || existing.state === 'starting' || existing.state === 'committing') throw new LkError('LK_MOUNTPOINT_BUSY', `${dir} is already being synced with ${existing.rec.uri}`)
    }
    const st = await stat(dir).catch(() => undefined)
    if (st !== undefined && !st.isDirectory()) throw new LkError('LK_MOUNTPOINT_INVALID', `${dir} is not a directory`)
    let rec: SyncRecord | undefined = existing?.rec
    if (rec === undefined) {
      // an earlier sync of the same branch into the same directory left its index: reuse it
      rec = await readFile(join(this.#o.stateRoot, id, 'sync.json'), 'utf8').then(t => JSON.parse(t) as SyncRecord, () => undefined)
    }
    rec = {
      version: 1,
      id,
      uri: formatUri({ repo: uri.repo, ref: branch, path: uri.path }),
      target: req.target ?? null,
      targetKey: key,
      dir,
      onStop: req.onStop ?? 'commit',
      commitEveryMs: req.commitEveryMs ?? 0,
      pull: req.pull ?? false,
      include: req.include ?? [],
      exclude: req.exclude ?? [],
      ...(req.message === undefined ? {} : { message: req.message }),
      ...(req.metadata === undefined ? {} : { metadata: req.metadata }),
      running: true,
      createdAt: rec?.createdAt ?? this.#now(),
    }
    const log = existing?.log ?? this.#log.child({ sync: id, repo: uri.repo, branch })
    const entry: Entry = existing ?? { rec, state: 'starting', since: this.#now(), session: undefined, log, timers: [] }
    entry.rec = rec
    entry.state = 'starting'
    entry.lastError = undefined
    this.#entries.set(dir, entry)
    await this.#saveRecord(rec)
    try {
      await this.#run(entry, onProgress)
    } catch (e) {
      // nothing runs: keep the record only if it holds staged changes
      rec.running = false
      await entry.session?.close().catch(() => {})
      entry.session = undefined
      entry.state = 'failed'
      entry.lastError = toLkError(e).message
      await this.#saveRecord(rec)
      throw e
    }
    return this.#status(entry)
  }

  async #open (entry: Entry): Promise<SyncSession> {
    if (entry.session !== undefined) return entry.session
    const rec = entry.rec
    const uri = parseUri(rec.uri)
    const { remote } = await this.#o.remoteFor(rec.target ?? undefined)
    entry.session = await SyncSession.open({
      remote,
      repo: uri.repo,
      branch: branchName(uri.ref ?? ''),
      subPath: uri.path,
      dir: rec.dir,
      stateDir: join(this.#o.stateRoot, rec.id),
      cache: await this.#o.cacheFor(),
      include: rec.include,
      exclude: rec.exclude,
      ...(this.#o.settleMs === undefined ? {} : { settleMs: this.#o.settleMs }),
      log: entry.log,
      clock: this.#clock,
    })
    return entry.session
  }

  /** opens, materialises / reconciles, watches, starts the timers */
  async #run (entry: Entry, onProgress?: Progress): Promise<void> {
    const session = await this.#open(entry)
    await session.start({ watch: this.#o.watch ?? chokidarWatcher(entry.log), ...(onProgress === undefined ? {} : { onProgress }) })
    entry.state = 'running'
    entry.since = this.#now()
    entry.starting = undefined
    const rec = entry.rec
    if (rec.commitEveryMs > 0) {
      const t = setInterval(() => { void this.#periodicCommit(entry) }, rec.commitEveryMs)
      t.unref()
      entry.timers.push(t)
    }
    if (rec.pull) {
      await this.#autoPull(entry)
      const t = setInterval(() => { void this.#serial(rec.dir, async () => { await this.#autoPull(entry) }) }, this.#o.pullEveryMs ?? 30_000)
      t.unref()
      entry.timers.push(t)
    }
    entry.log.info('sync: running', { dir: rec.dir, base: session.baseCommit, files: session.counters.baseFiles, downloaded: session.counters.downloaded })
  }

  async #autoPull (entry: Entry): Promise<void> {
    if (entry.state !== 'running' || entry.session === undefined) return
    try {
      const r = await entry.session.pull()
      if (r.from !== r.to) entry.log.info('sync: pulled', { from: r.from, to: r.to, updated: r.updated, removed: r.removed })
    } catch (e) {
      entry.lastError = toLkError(e).message
      entry.log.warn('sync: automatic pull skipped', { err: e })
    }
  }

  async #periodicCommit (entry: Entry): Promise<void> {
    await this.#serial(entry.rec.dir, async () => {
      const s = entry.session
      if (entry.state !== 'running' || s === undefined) return
      try {
        await s.rescan()
        if (s.stagedStats().paths === 0) return
        const c = await this.#commitSession(entry, s, entry.rec.message ?? `lk-mount sync: changes under ${entry.rec.dir}`)
        if (c !== undefined) entry.log.info('sync: periodic commit', { commit: c.id })
      } catch (e) {
        entry.lastError = toLkError(e).message
        entry.log.warn('sync: periodic commit failed; changes stay staged', { err: e })
      }
    })
  }

  // ------------------------------------------------------------------ stop, commit, pull

  async stop (req: SyncStopRequest, onProgress?: Progress): Promise<SyncStopResult> {
    const dir = resolve(req.dir)
    const entry = this.#entry(dir)
    await entry.starting
    return await this.#serial(dir, async () => {
      const rec = entry.rec
      const action = req.action ?? rec.onStop
      this.#stopTimers(entry)
      const session = await this.#open(entry)
      await session.stopWatching()
      onProgress?.({ phase: 'stage', done: 0 })
      // the last edits, whatever the watcher reported
      await session.rescan()
      let out: SyncStopResult = { action }
      try {
        if (action === 'commit') {
          onProgress?.({ phase: 'commit', done: 0 })
          const c = await this.#commitSession(entry, session, req.message ?? rec.message ?? `lk-mount sync: changes under ${rec.dir}`, req.metadata)
          if (c !== undefined) out = { action, commit: c }
        } else if (action === 'discard') {
          const r = await session.discard()
          out = { action, movedAside: r.movedAside }
        }
      } catch (e) {
        rec.running = false
        await this.#saveRecord(rec)
        await session.close()
        entry.session = undefined
        entry.state = 'staged'
        entry.since = this.#now()
        entry.lastError = toLkError(e).message
        entry.log.warn('sync stop: commit failed, changes kept staged', { err: e })
        throw e
      }
      const left = session.stagedStats().paths
      await session.close()
      entry.session = undefined
      rec.running = false
      await this.#saveRecord(rec)
      if (left > 0) {
        entry.state = 'staged'
        entry.since = this.#now()
      } else {
        this.#entries.delete(dir)
      }
      entry.log.info('sync: stopped', { dir, action, staged: left })
      return out
    })
  }

  async #commitSession (entry: Entry, session: SyncSession, message: string, metadata?: Metadata, branch?: BranchName): Promise<CommitInfo | undefined> {
    const before = entry.state
    entry.state = 'committing'
    try {
      const c = await session.commit({ message, metadata: { 'lk-mount.host': hostname(), 'lk-mount.sync-dir': entry.rec.dir, ...entry.rec.metadata, ...metadata }, ...(branch === undefined ? {} : { branch }) })
      entry.lastCommit = c.id
      if ((session.branch as string) !== (parseUri(entry.rec.uri).ref as string | undefined)) {
        const u = parseUri(entry.rec.uri)
        entry.rec.uri = formatUri({ repo: u.repo, ref: session.branch, path: u.path })
        await this.#saveRecord(entry.rec)
      }
      return c
    } catch (e) {
      if (e instanceof LkError && e.code === 'LK_NOTHING_TO_COMMIT') return undefined
      throw e
    } finally {
      entry.state = before
    }
  }

  async commit (dir: string, opts: { message: string, metadata?: Metadata, branch?: string }): Promise<CommitInfo> {
    const entry = this.#entry(dir)
    await entry.starting
    return await this.#serial(entry.rec.dir, async () => {
      const wasOpen = entry.session !== undefined
      const session = await this.#open(entry)
      try {
        const branch = opts.branch === undefined ? undefined : branchName(opts.branch)
        const c = await session.commit({ message: opts.message, metadata: { 'lk-mount.host': hostname(), 'lk-mount.sync-dir': entry.rec.dir, ...entry.rec.metadata, ...opts.metadata }, ...(branch === undefined ? {} : { branch }) })
        entry.lastCommit = c.id
        if (branch !== undefined) {
          const u = parseUri(entry.rec.uri)
          entry.rec.uri = formatUri({ repo: u.repo, ref: branch, path: u.path })
          await this.#saveRecord(entry.rec)
        }
        if (!wasOpen && session.stagedStats().paths === 0) this.#entries.delete(entry.rec.dir)
        return c
      } finally {
        if (!wasOpen) { await session.close(); entry.session = undefined }
      }
    })
  }

  async diff (dir: string): Promise<DiffEntry[]> {
    const entry = this.#entry(dir)
    if (entry.session !== undefined) return await entry.session.diff()
    return await this.#serial(entry.rec.dir, async () => {
      const s = await this.#open(entry)
      try { return await s.diff() } finally { await s.close(); entry.session = undefined }
    })
  }

  async pull (dir: string, opts: { force?: boolean } = {}, onProgress?: Progress): Promise<SyncPullResult> {
    const entry = this.#entry(dir)
    await entry.starting
    return await this.#serial(entry.rec.dir, async () => {
      if (entry.session === undefined) throw new LkError('LK_NOT_MOUNTED', `the sync of ${entry.rec.dir} is stopped; start it with \`lk-mount sync ${entry.rec.uri} ${entry.rec.dir}\``)
      onProgress?.({ phase: 'pull', done: 0 })
      return await entry.session.pull({ ...(opts.force === undefined ? {} : { force: opts.force }), ...(onProgress === undefined ? {} : { onProgress }) })
    })
  }

  status (dir?: string): SyncStatus[] {
    let list = [...this.#entries.values()]
    if (dir !== undefined) {
      list = list.filter(e => e.rec.dir === resolve(dir))
      if (list.length === 0) throw new LkError('LK_NOT_MOUNTED', `no lk-mount sync at ${resolve(dir)}`)
    }
    return list.map(e => this.#status(e))
  }

  #status (e: Entry): SyncStatus {
    const u = parseUri(e.rec.uri)
    const s = e.session
    const staged = s?.stagedStats() ?? { paths: 0, bytes: 0 }
    return {
      id: e.rec.id,
      uri: e.rec.uri,
      dir: e.rec.dir,
      repo: u.repo,
      branch: u.ref ?? '',
      baseCommit: s?.baseCommit ?? '',
      state: e.state,
      onStop: e.rec.onStop,
      commitEveryMs: e.rec.commitEveryMs,
      pull: e.rec.pull,
      include: e.rec.include,
      exclude: e.rec.exclude,
      stagedPaths: staged.paths,
      stagedBytes: staged.bytes,
      pendingPaths: s?.counters.pending ?? 0,
      baseFiles: s?.counters.baseFiles ?? 0,
      downloaded: s?.counters.downloaded ?? 0,
      downloadedBytes: s?.counters.downloadedBytes ?? 0,
      ...(e.lastCommit === undefined ? {} : { lastCommit: e.lastCommit }),
      ...(e.lastError === undefined ? {} : { lastError: e.lastError }),
      since: e.since,
    }
  }

  #stopTimers (e: Entry): void {
    for (const t of e.timers) clearInterval(t)
    e.timers = []
  }

  /** daemon stop: pauses every sync (flushes what is staged); records stay running for the next daemon */
  async shutdown (): Promise<void> {
    await Promise.allSettled([...this.#entries.values()].map(async e => {
      this.#stopTimers(e)
      await this.#serial(e.rec.dir, async () => {
        await e.session?.close()
        e.session = undefined
      })
    }))
  }

  async #saveRecord (rec: SyncRecord): Promise<void> {
    const dir = join(this.#o.stateRoot, rec.id)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const tmp = join(dir, `sync.json.${process.pid}.tmp`)
    await writeFile(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 })
    await rename(tmp, join(dir, 'sync.json'))
  }

  /** forgets a sync's state directory entirely (not used by stop: the index makes a re-sync cheap) */
  async forget (id: string): Promise<void> {
    await rm(join(this.#o.stateRoot, id), { recursive: true, force: true })
  }
}
