// The mount manager: owns every mount of the daemon, their state records and their recovery.
//
// What it owns: `<stateRoot>/<id>/mount.json` (what was mounted, with which policy) and
// `<stateRoot>/<id>/journal/` (the mount's staged changes, owned by lib/staging through the
// session). The id is a hash of (store, repo, ref, mountpoint), so mounting the same branch at the
// same mount point again lands in the same state directory and resumes its staged changes.
//
// Lifecycle of a mount: validate the mount point -> write mount.json -> open the session ->
// mountFuse -> 'mounted'. Unmount: detach FUSE first (the mount point is clean whatever happens
// next), then settle: commit / keep / discard. A commit that fails (LK_CONFLICT, the store
// unavailable) keeps the changes staged: the entry becomes 'staged' and the error goes to the
// caller. At daemon start, every mount.json is examined: a write mount with staged changes is
// 'staged' (its stale FUSE mount point detached); anything else is cleaned up.
//
// What it must never do: drop staged changes except on an explicit discard or after their commit
// succeeded; leave a mount point mounted after unmount; import fuse-native (lib/fuse does).
//
// Concurrency: operations on one mount point run one at a time (a promise chain per mount point),
// so a commit and an unmount of the same mount never interleave; different mounts run in
// parallel. Entries are only added/removed inside those chains.

import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join, resolve, sep } from 'node:path'
import { LkError, toLkError } from '../core/errors.js'
import { branchName, type BranchName } from '../core/ids.js'
import { silentLogger, type Logger } from '../core/log.js'
import { systemClock, type Clock } from '../core/clock.js'
import { parseUri, formatUri } from '../core/uri.js'
import type { ContentCache } from '../cache/index.js'
import { openMountSession } from '../fs/index.js'
import type { MountSession, MountStats } from '../fs/types.js'
import { forceUnmount as fuseForceUnmount, isMounted as fuseIsMounted, mountFuse as realMountFuse } from '../fuse/index.js'
import type { FuseMount, MountFuse } from '../fuse/types.js'
import type { CommitInfo, DiffEntry, Metadata, Remote } from '../remote/types.js'
import type { CacheStatus, MountManager, MountRequest, MountState, MountStatus, OnUnmount, UnmountRequest, UnmountResult } from './types.js'
import { SyncManager } from './sync.js'
import type { StartWatcher } from '../sync/session.js'

export interface ManagerOptions {
  /** `<home>/state/mounts` */
  stateRoot: string
  /** the remote for a request's target, and a stable key for it (part of the mount id) */
  remoteFor (target: unknown): Promise<{ remote: Remote, key: string }>
  /** the shared cache, or a cache in another directory (`--cache-dir`) */
  cacheFor (dir?: string, maxBytes?: number): Promise<ContentCache>
  /** the shared cache, for status */
  sharedCache (): ContentCache | undefined
  log?: Logger
  clock?: Clock
  /** injectable for tests of the FUSE failure paths */
  mountFuse?: MountFuse
  isMounted?: (mnt: string) => Promise<boolean>
  forceUnmount?: (mnt: string, log: Logger) => Promise<void>
  /**
   * wraps each mount's filesystem before FUSE serves it (the daemon counts errors by errno for
   * its metrics); identity when absent
   */
  wrapFs?: (fs: MountSession['fs'], mount: { id: string, mountpoint: string }) => MountSession['fs']
  /** entries of a mount's listings kept in memory (lib/fs's default when absent) */
  listingBudget?: number
  /** `<home>/state/syncs` (default: a `syncs` folder beside stateRoot) */
  syncStateRoot?: string
  /** sync mode: injectable watcher and settle time (tests) */
  syncWatch?: StartWatcher
  syncSettleMs?: number
}

/** what mount.json holds */
interface MountRecord {
  version: 1
  id: string
  uri: string
  target: unknown
  targetKey: string
  mountpoint: string
  write: boolean
  onUnmount: OnUnmount
  message?: string
  metadata?: Metadata
  cacheDir?: string
  allowOther?: boolean
  /** absent: true */
  xattrs?: boolean
  createdAt: string
}

interface Entry {
  rec: MountRecord
  state: MountState
  since: string
  session: MountSession | undefined
  fuse: FuseMount | undefined
  remote: Remote | undefined
  log: Logger
  /** last error, for 'failed' */
  error?: string
}

const EMPTY_STATS: MountStats = { reads: 0, bytesRead: 0, cacheHits: 0, cacheMisses: 0, bytesFetched: 0, stagedPaths: 0, stagedBytes: 0 }

export class Manager implements MountManager {
  readonly #o: ManagerOptions
  readonly #log: Logger
  readonly #clock: Clock
  readonly #mountFuse: MountFuse
  readonly #isMounted: (mnt: string) => Promise<boolean>
  readonly #forceUnmount: (mnt: string, log: Logger) => Promise<void>
  /** by mount point */
  readonly #entries = new Map<string, Entry>()
  readonly #chains = new Map<string, Promise<unknown>>()
  /** the daemon's syncs (lib/manager/sync.ts); commit, diff and status of a directory fall back to them */
  readonly syncs: SyncManager

  constructor (o: ManagerOptions) {
    this.#o = o
    this.#log = o.log ?? silentLogger
    this.#clock = o.clock ?? systemClock
    this.#mountFuse = o.mountFuse ?? realMountFuse
    this.#isMounted = o.isMounted ?? fuseIsMounted
    this.#forceUnmount = o.forceUnmount ?? fuseForceUnmount
    this.syncs = new SyncManager({
      stateRoot: o.syncStateRoot ?? join(o.stateRoot, '..', 'syncs'),
      remoteFor: o.remoteFor,
      cacheFor: async () => await o.cacheFor(),
      log: this.#log,
      clock: this.#clock,
      isMountpoint: (dir) => this.#entries.has(dir),
      ...(o.syncWatch === undefined ? {} : { watch: o.syncWatch }),
      ...(o.syncSettleMs === undefined ? {} : { settleMs: o.syncSettleMs }),
    })
  }

  /** one operation at a time per mount point */
  #serial<T> (mountpoint: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#chains.get(mountpoint) ?? Promise.resolve()
    const next = prev.then(fn, fn)
    const settled = next.catch(() => {})
    this.#chains.set(mountpoint, settled)
    void settled.then(() => { if (this.#chains.get(mountpoint) === settled) this.#chains.delete(mountpoint) })
    return next
  }

  #now (): string { return new Date(this.#clock.now()).toISOString() }

  // ------------------------------------------------------------------ recovery

  /**
   * Reads every mount.json left by an earlier daemon: write mounts with staged changes become
   * 'staged' (their stale mount points are detached); everything else is removed.
   */
  async recover (): Promise<void> {
    await this.syncs.recover()
    await mkdir(this.#o.stateRoot, { recursive: true, mode: 0o700 })
    for (const id of await readdir(this.#o.stateRoot)) {
      const dir = join(this.#o.stateRoot, id)
      let rec: MountRecord
      try {
        rec = JSON.parse(await readFile(join(dir, 'mount.json'), 'utf8')) as MountRecord
      } catch (e) {
        this.#log.warn('recover: unreadable mount record, ignored', { dir, err: e })
        continue
      }
      const log = this.#log.child({ mount: rec.id, uri: rec.uri })
      try {
        await this.#cleanMountpoint(rec.mountpoint, log)
      } catch (e) {
        log.warn('recover: could not detach the stale mount point', { mountpoint: rec.mountpoint, err: e })
      }
      if (!rec.write) {
        await rm(dir, { recursive: true, force: true })
        continue
      }
      const entry: Entry = { rec, state: 'staged', since: this.#now(), session: undefined, fuse: undefined, remote: undefined, log }
      try {
        await this.#openSession(entry)
        const staged = entry.session?.stats().stagedPaths ?? 0
        if (staged === 0) {
          await entry.session?.close()
          await rm(dir, { recursive: true, force: true })
          log.info('recover: mount had no staged changes; removed')
          continue
        }
        log.info('recover: staged changes found', { paths: staged, mountpoint: rec.mountpoint })
      } catch (e) {
        entry.state = 'failed'
        entry.error = toLkError(e).message
        log.error('recover: could not open the staged changes', { err: e })
      }
      this.#entries.set(rec.mountpoint, entry)
    }
  }

  // ------------------------------------------------------------------ mount

  async mount (req: MountRequest): Promise<MountStatus> {
    const mountpoint = resolve(req.mountpoint)
    return await this.#serial(mountpoint, async () => await this.#mount(req, mountpoint))
  }

  async #mount (req: MountRequest, mountpoint: string): Promise<MountStatus> {
    const uri = parseUri(req.uri)
    const ref = uri.ref
    if (ref === undefined) throw new LkError('LK_BAD_URI', `${req.uri} names no ref`)
    const { remote, key } = await this.#o.remoteFor(req.target)
    const id = mountId(key, uri.repo, ref, uri.path, mountpoint)
    if (this.syncs.has(mountpoint)) throw new LkError('LK_MOUNTPOINT_BUSY', `${mountpoint} is a synced directory; stop the sync first (\`lk-mount sync stop ${mountpoint}\`)`)
    const existing = this.#entries.get(mountpoint)
    let resume: Entry | undefined
    if (existing !== undefined) {
      if (existing.state !== 'staged' && existing.state !== 'failed') {
        throw new LkError('LK_MOUNTPOINT_BUSY', `${mountpoint} is already an lk-mount mount of ${existing.rec.uri}`)
      }
      if (existing.rec.id !== id || !req.write) {
        throw new LkError('LK_MOUNTPOINT_BUSY', `staged changes of ${existing.rec.uri} wait at ${mountpoint}; settle them first with \`lk-mount umount ${mountpoint} --commit\` (or --discard), or remount that branch there with --write`)
      }
      resume = existing
    }
    // the kind check before anything touches the disk
    const kind = await remote.refKind(uri.repo, ref)
    if (req.write && kind !== 'branch') throw new LkError('LK_NOT_A_BRANCH', `${ref} is a ${kind}: only branches can be mounted with --write`)
    if (req.write) branchName(ref)
    await this.#checkMountpoint(mountpoint)

    const rec: MountRecord = resume?.rec ?? {
      version: 1,
      id,
      uri: formatUri({ repo: uri.repo, ref, path: uri.path }),
      target: req.target ?? null,
      targetKey: key,
      mountpoint,
      write: req.write,
      onUnmount: req.onUnmount ?? (req.write ? 'commit' : 'keep'),
      createdAt: this.#now(),
    }
    if (resume !== undefined) {
      // a resumed mount takes the new request's policy and message
      if (req.onUnmount !== undefined) rec.onUnmount = req.onUnmount
    }
    if (req.message !== undefined) rec.message = req.message
    if (req.metadata !== undefined) rec.metadata = { ...rec.metadata, ...req.metadata }
    if (req.cacheDir !== undefined) rec.cacheDir = req.cacheDir
    if (req.allowOther !== undefined) rec.allowOther = req.allowOther
    if (req.xattrs !== undefined) rec.xattrs = req.xattrs
    const log = resume?.log ?? this.#log.child({ mount: id, repo: uri.repo, ref })
    const entry: Entry = resume ?? { rec, state: 'mounted', since: this.#now(), session: undefined, fuse: undefined, remote, log }
    await this.#saveRecord(rec)
    try {
      if (entry.session === undefined) await this.#openSession(entry, req.cacheSize)
      const session = entry.session
      if (session === undefined) throw new LkError('LK_INTERNAL', 'session did not open')
      const fs = this.#o.wrapFs === undefined ? session.fs : this.#o.wrapFs(session.fs, { id: rec.id, mountpoint })
      entry.fuse = await this.#mountFuse(fs, mountpoint, {
        allowOther: rec.allowOther === true,
        xattrs: rec.xattrs !== false,
        readOnly: !rec.write,
        immutable: !rec.write,
        fsName: rec.uri,
        logger: log,
        // read-only mounts use no-open (the default): the adapter holds its own read handles
      })
    } catch (e) {
      // nothing mounted: a fresh read-only or change-free mount leaves no record behind
      const staged = entry.session?.stats().stagedPaths ?? 0
      if (staged > 0) {
        entry.state = 'staged'
        entry.since = this.#now()
        this.#entries.set(mountpoint, entry)
      } else {
        await entry.session?.close().catch(() => {})
        entry.session = undefined
        this.#entries.delete(mountpoint)
        await this.#removeRecord(rec.id)
      }
      throw toFuseError(e, mountpoint)
    }
    entry.state = 'mounted'
    entry.since = this.#now()
    entry.error = undefined
    this.#entries.set(mountpoint, entry)
    log.info('mounted', { mountpoint, write: rec.write, commit: entry.session?.pinnedCommit(), resumed: resume !== undefined })
    return this.#status(entry)
  }

  async #openSession (entry: Entry, cacheSize?: number): Promise<void> {
    const rec = entry.rec
    const uri = parseUri(rec.uri)
    const { remote } = await this.#o.remoteFor(rec.target ?? undefined)
    entry.remote = remote
    const cache = await this.#o.cacheFor(rec.cacheDir, cacheSize)
    entry.session = await openMountSession({
      remote,
      repo: uri.repo,
      ref: uri.ref ?? ('main' as never),
      subPath: uri.path,
      write: rec.write,
      cache,
      stateDir: join(this.#o.stateRoot, rec.id, 'journal'),
      log: entry.log,
      clock: this.#clock,
      ...(this.#o.listingBudget === undefined ? {} : { listingBudget: this.#o.listingBudget }),
    })
  }

  /** created when missing; must be an empty directory and not a mount already */
  async #checkMountpoint (mountpoint: string): Promise<void> {
    if (await this.#isMounted(mountpoint)) {
      // a dead FUSE mount (crashed daemon) answers ENOTCONN: clean it; a live one is busy
      let stale = false
      try { await stat(mountpoint) } catch (e) { stale = (e as NodeJS.ErrnoException).code === 'ENOTCONN' }
      if (!stale) throw new LkError('LK_MOUNTPOINT_BUSY', `something is already mounted at ${mountpoint}`)
      this.#log.warn('detaching a stale mount point', { mountpoint })
      await this.#forceUnmount(mountpoint, this.#log)
    }
    let st
    try {
      st = await stat(mountpoint)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw toLkError(e)
      await mkdir(mountpoint, { recursive: true })
      return
    }
    if (!st.isDirectory()) throw new LkError('LK_MOUNTPOINT_INVALID', `${mountpoint} is not a directory`)
    const names = await readdir(mountpoint)
    if (names.length > 0) throw new LkError('LK_MOUNTPOINT_NOT_EMPTY', `${mountpoint} is not empty (${names.length} entries)`)
  }

  async #cleanMountpoint (mountpoint: string, log: Logger): Promise<void> {
    if (await this.#isMounted(mountpoint)) await this.#forceUnmount(mountpoint, log)
  }

  // ------------------------------------------------------------------ unmount, commit

  async unmount (req: UnmountRequest): Promise<UnmountResult> {
    const mountpoint = resolve(req.mountpoint)
    return await this.#serial(mountpoint, async () => await this.#unmount(req, mountpoint))
  }

  async #unmount (req: UnmountRequest, mountpoint: string): Promise<UnmountResult> {
    const entry = this.#entries.get(mountpoint)
    if (entry === undefined) throw new LkError('LK_NOT_MOUNTED', `no lk-mount mount at ${mountpoint}`)
    const rec = entry.rec
    const action: OnUnmount = rec.write ? (req.action ?? rec.onUnmount) : 'keep'
    if (entry.fuse !== undefined) {
      entry.state = 'unmounting'
      await entry.fuse.unmount()
      entry.fuse = undefined
      entry.log.info('unmounted', { mountpoint })
    }
    if (entry.session === undefined && rec.write) {
      // a 'failed' entry from recovery: try once more to open its staged changes
      await this.#openSession(entry)
    }
    const session = entry.session
    let commit: CommitInfo | undefined
    try {
      if (session !== undefined && rec.write) {
        if (action === 'commit') {
          entry.state = 'committing'
          commit = await this.#commitSession(entry, session, req.message, req.metadata)
        } else if (action === 'discard') {
          await session.discard()
        }
      }
    } catch (e) {
      // the changes stay staged; the mount point is already clean
      entry.state = 'staged'
      entry.since = this.#now()
      entry.error = toLkError(e).message
      entry.log.warn('unmount: commit failed, changes kept staged', { err: e })
      throw e
    }
    const left = session?.stats().stagedPaths ?? 0
    if (rec.write && action === 'keep' && left > 0) {
      entry.state = 'staged'
      entry.since = this.#now()
      // a message and metadata given with --keep are for the commit that settles these changes
      // later (`lk-mount run --on-failure keep` records its provenance this way)
      if (req.message !== undefined || req.metadata !== undefined) {
        if (req.message !== undefined) rec.message = req.message
        if (req.metadata !== undefined) rec.metadata = { ...rec.metadata, ...req.metadata }
        await this.#saveRecord(rec)
      }
      return { action, staged: left }
    }
    await session?.close()
    entry.session = undefined
    this.#entries.delete(mountpoint)
    await this.#removeRecord(rec.id)
    return commit === undefined ? { action, staged: 0 } : { action, staged: 0, commit }
  }

  /** commits; nothing staged is not an error at unmount time */
  async #commitSession (entry: Entry, session: MountSession, message?: string, metadata?: Metadata): Promise<CommitInfo | undefined> {
    if (session.stats().stagedPaths === 0 && (await session.diff()).length === 0) return undefined
    try {
      return await session.commit({ message: message ?? entry.rec.message ?? defaultMessage(entry.rec), metadata: this.#commitMetadata(entry.rec, metadata) })
    } catch (e) {
      if (e instanceof LkError && e.code === 'LK_NOTHING_TO_COMMIT') return undefined
      throw e
    }
  }

  #commitMetadata (rec: MountRecord, extra?: Metadata): Metadata {
    return { 'lk-mount.host': hostname(), 'lk-mount.mountpoint': rec.mountpoint, ...rec.metadata, ...extra }
  }

  async commit (mountpoint: string, opts: { message: string, metadata?: Metadata, branch?: string }): Promise<CommitInfo> {
    const mp = resolve(mountpoint)
    if (!this.#entries.has(mp) && this.syncs.has(mp)) return await this.syncs.commit(mp, opts)
    return await this.#serial(mp, async () => {
      const entry = this.#entries.get(mp)
      if (entry === undefined) throw new LkError('LK_NOT_MOUNTED', `no lk-mount mount at ${mp}`)
      if (!entry.rec.write) throw new LkError('LK_READ_ONLY_MOUNT', `${mp} is mounted read-only`)
      if (entry.session === undefined) await this.#openSession(entry)
      const session = entry.session
      if (session === undefined) throw new LkError('LK_INTERNAL', 'session did not open')
      const before = entry.state
      entry.state = 'committing'
      try {
        const branch: BranchName | undefined = opts.branch === undefined ? undefined : branchName(opts.branch)
        const c = await session.commit({ message: opts.message, metadata: this.#commitMetadata(entry.rec, opts.metadata), ...(branch === undefined ? {} : { branch }) })
        if (branch !== undefined) {
          // the mount now follows the new branch: its record must say so for recovery
          const u = parseUri(entry.rec.uri)
          entry.rec.uri = formatUri({ repo: u.repo, ref: branch, path: u.path })
          await this.#saveRecord(entry.rec)
        }
        entry.log.info('committed', { commit: c.id })
        if (before === 'staged' && session.stats().stagedPaths === 0) {
          // a staged (not mounted) entry with nothing left is done
          await session.close()
          this.#entries.delete(mp)
          await this.#removeRecord(entry.rec.id)
        } else {
          entry.state = before
        }
        return c
      } catch (e) {
        entry.state = before
        throw e
      }
    })
  }

  async diff (mountpoint: string): Promise<DiffEntry[]> {
    const mp = resolve(mountpoint)
    const entry = this.#entries.get(mp)
    if (entry === undefined && this.syncs.has(mp)) return await this.syncs.diff(mp)
    if (entry === undefined) throw new LkError('LK_NOT_MOUNTED', `no lk-mount mount at ${mp}`)
    return await entry.session?.diff() ?? []
  }

  async status (mountpoint?: string): Promise<{ mounts: MountStatus[], cache: CacheStatus }> {
    let list = [...this.#entries.values()]
    if (mountpoint !== undefined) {
      const mp = resolve(mountpoint)
      list = list.filter(e => e.rec.mountpoint === mp)
      if (list.length === 0) throw new LkError('LK_NOT_MOUNTED', `no lk-mount mount at ${mp}`)
    }
    return { mounts: list.map(e => this.#status(e)), cache: this.cacheStatus() }
  }

  cacheStatus (): CacheStatus {
    const c = this.#o.sharedCache()
    if (c === undefined) return { dir: '', usedBytes: 0, maxBytes: 0, entries: 0, hits: 0, misses: 0, hitRate: 0 }
    const { hits, misses } = c.counters
    return { dir: c.dir, usedBytes: c.usedBytes, maxBytes: c.maxBytes, entries: c.entries, hits, misses, hitRate: hits + misses === 0 ? 0 : hits / (hits + misses) }
  }

  #status (e: Entry): MountStatus {
    const u = parseUri(e.rec.uri)
    return {
      id: e.rec.id,
      uri: e.rec.uri,
      mountpoint: e.rec.mountpoint,
      repo: u.repo,
      ref: u.ref ?? '',
      pinnedCommit: e.session?.pinnedCommit() ?? '',
      write: e.rec.write,
      onUnmount: e.rec.onUnmount,
      state: e.state,
      stats: e.session?.stats() ?? EMPTY_STATS,
      since: e.since,
    }
  }

  async prefetch (path: string, onProgress: (done: number, total: number, bytes: number) => void): Promise<{ files: number, bytes: number }> {
    const abs = resolve(path)
    let best: Entry | undefined
    for (const e of this.#entries.values()) {
      if (e.state !== 'mounted') continue
      const mp = e.rec.mountpoint
      if ((abs === mp || abs.startsWith(mp.endsWith(sep) ? mp : mp + sep)) && (best === undefined || mp.length > best.rec.mountpoint.length)) best = e
    }
    if (best?.session === undefined) throw new LkError('LK_NOT_MOUNTED', `${abs} is not inside an lk-mount mount`)
    const inner = '/' + abs.slice(best.rec.mountpoint.length).replace(/^\/+/, '')
    return await best.session.prefetch(inner === '/' ? '/' : inner.replace(/\/+$/, ''), onProgress)
  }

  /** unmounts every mounted entry applying its policy (conflicts keep changes staged) */
  async shutdown (opts: { timeoutMs?: number } = {}): Promise<void> {
    const syncs = this.syncs.shutdown()
    const work = [...this.#entries.values()].map(async e => {
      const mp = e.rec.mountpoint
      try {
        if (e.state === 'mounted') await this.unmount({ mountpoint: mp })
      } catch (err) {
        e.log.error('shutdown: unmount failed; staged changes are kept', { err })
      }
      await this.#serial(mp, async () => {
        const left = this.#entries.get(mp)
        if (left?.fuse !== undefined) { await left.fuse.unmount({ lazy: true }).catch(() => {}); left.fuse = undefined }
        await left?.session?.close().catch(() => {})
        if (left !== undefined) left.session = undefined
      })
    })
    const all = Promise.allSettled([...work, syncs])
    if (opts.timeoutMs === undefined) { await all; return }
    let timer: NodeJS.Timeout | undefined
    await Promise.race([all, new Promise(r => { timer = setTimeout(r, opts.timeoutMs) })])
    if (timer !== undefined) clearTimeout(timer)
  }

  /** detaches every FUSE mount at once without settling anything (second signal) */
  async forceDetachAll (): Promise<void> {
    await Promise.allSettled([...this.#entries.values()].map(async e => {
      if (e.fuse !== undefined) await e.fuse.unmount({ lazy: true })
    }))
  }

  // ------------------------------------------------------------------ records

  async #saveRecord (rec: MountRecord): Promise<void> {
    const dir = join(this.#o.stateRoot, rec.id)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const tmp = join(dir, `mount.json.${process.pid}.tmp`)
    await writeFile(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 })
    await rename(tmp, join(dir, 'mount.json'))
  }

  async #removeRecord (id: string): Promise<void> {
    await rm(join(this.#o.stateRoot, id), { recursive: true, force: true })
  }
}

export function mountId (targetKey: string, repo: string, ref: string, path: string, mountpoint: string): string {
  return createHash('sha256').update(JSON.stringify([targetKey, repo, ref, path, mountpoint])).digest('hex').slice(0, 16)
}

function defaultMessage (rec: MountRecord): string {
  return `lk-mount: changes written under ${rec.mountpoint}`
}

/** mount failures that are FUSE's: say so with the catalogue's hint */
function toFuseError (e: unknown, mountpoint: string): LkError {
  if (e instanceof LkError) return e
  const msg = e instanceof Error ? e.message : String(e)
  if (/fuse|fusermount|\/dev\/fuse|libfuse/i.test(msg)) return new LkError('LK_FUSE_UNAVAILABLE', `cannot mount at ${mountpoint}: ${msg}`, { cause: e })
  return toLkError(e)
}
