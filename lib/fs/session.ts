// MountSession and its FsCore: one mounted ref as a filesystem, without FUSE.
//
// The view of a path is three layers, top first:
//   1. open written files (`#nodes`: live size and mtime of files being written),
//   2. the staging journal (lib/staging: final state per path, active over sealed),
//   3. the pinned commit (BaseView: lazily listed; kept within an entry budget, whole directories
//      evicted least recently used first and listed again when needed: the commit is immutable).
//      Layers 1 and 2 are never evicted: only what can be asked again is.
// Directories are implicit (a prefix with children) plus explicit staged directories (mkdir, or
// a directory kept after its last child was unlinked). A staged 'del' hides a base path; rmdir
// and rename record a 'del' for every base path they remove, so a hidden directory never shows
// base children again.
//
// Hot path: `getattrSync` answers from memory for every path the session has seen (and every
// child of a listed directory) and never awaits; reads of unchanged files go to the shared
// ContentCache (a pooled descriptor per chunk, no per-read open).
//
// Durability: every change is recorded in the journal before the operation returns, except file
// contents between writes: those are made durable (data file datasync, then a journal record
// with the new size) by flush (close), fsync and release. A file opened for writing is copied
// from the cache into a staging data file on open (copy-on-write; O_TRUNC skips the copy).
// Once a file's contents are durable (close, fsync), a write mount on a remote with staging
// locations uploads them in the background (lib/commit/preupload.ts); every write or truncate
// makes such an upload stale first, so the commit links only uploads of the current bytes.
//
// Concurrency contract: all state lives on the event loop. Operations that check and then change
// the namespace (create, unlink, mkdir, rmdir, rename, truncate of an unopened file) run one at a
// time through `#ns` (a promise chain), so a check is never invalidated by another namespace
// change across an await. Reads and writes to open handles do not take it. Writes to a node copy
// the caller's buffer before the first await (FUSE detaches it after the callback).

import { constants as C } from 'node:fs'
import { open as openFile, stat as statFile, truncate as truncateFile, type FileHandle } from 'node:fs/promises'
import { FsError, LkError } from '../core/errors.js'
import type { BranchName, CommitId, RefExpr, RepoName } from '../core/ids.js'
import { silentLogger, type Logger } from '../core/log.js'
import { systemClock, type Clock } from '../core/clock.js'
import type { ContentCache, ObjectSource } from '../cache/index.js'
import { DirPrefetcher } from './prefetch.js'
import { commitStaged } from '../commit/index.js'
import { PreUploader } from '../commit/preupload.js'
import type { CommitInfo, DiffEntry, Metadata, ObjectStat, Remote } from '../remote/types.js'
import { Journal, fsyncDir, type StagedEntry } from '../staging/index.js'
import { BaseView, type BaseViewOptions } from './base.js'
import type { Attr, FsCore, MountCommitOptions, MountIdentity, MountSession, MountStats, StatFs } from './types.js'

/** the control file: resolves by name at the root, never listed */
export const CONTROL_FILE = '.lakefs-mount.json'
/** xattrs on the root that tell which commit is mounted */
export const ROOT_XATTRS = ['user.lakefs.commit', 'user.lakefs.ref', 'user.lakefs.repo'] as const

const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const XATTR_CREATE = 1
const XATTR_REPLACE = 2
const MAX_PATH_BYTES = 1024

export interface OpenMountOptions {
  remote: Remote
  repo: RepoName
  ref: RefExpr
  /** sub-path of the repository that is the mount's root ('' for all) */
  subPath?: string
  write: boolean
  cache: ContentCache
  /** the mount's own state directory (journal + staged data); required for write mounts */
  stateDir?: string
  log?: Logger
  clock?: Clock
  /** entries of the pinned commit's listings kept in memory (lib/fs/base.ts DEFAULT_MAX_ENTRIES) */
  listingBudget?: number
  /**
   * upload closed files in the background while the mount is live, so the commit only links
   * them (default true; only where the remote offers staging locations, see Remote.preUpload)
   */
  preUpload?: boolean
  /** files of a directory read in order fetched ahead of the reader (default 8; 0: off; prefetch.ts) */
  prefetchFiles?: number
}

type FileSrc = { t: 'base', stat: ObjectStat } | Extract<StagedEntry, { t: 'file' | 'ref' }>
type Resolved = { kind: 'file', src: FileSrc } | { kind: 'dir' } | null

interface Node {
  /** current path relative to the root; undefined once unlinked (open handles keep working) */
  rel: string | undefined
  data: string
  fh: FileHandle
  size: number
  mtime: number
  meta: Metadata
  dirty: boolean
  refs: number
  /** the data file was created by this session and its directory entry not yet fsynced */
  fresh: boolean
  cow: Promise<void> | undefined
  /** checksum of the committed object this node was copied from (copy-on-write) */
  origin?: string
}

type Handle =
  | { kind: 'node', node: Node, flags: number }
  /** an unchanged file read from the cache; `rel` finds a copy-on-write of it made later */
  | { kind: 'base', stat: ObjectStat, rel: string }
  | { kind: 'control', data: Buffer }

const errno = (name: ConstructorParameters<typeof FsError>[0], msg: string): FsError => new FsError(name, msg)
const isWriteFlags = (flags: number): boolean => (flags & 3) !== C.O_RDONLY || (flags & C.O_TRUNC) !== 0

function relOf (path: string): string {
  if (path === '/' || path === '') return ''
  return path.startsWith('/') ? path.slice(1) : path
}

function parentOf (rel: string): string {
  const i = rel.lastIndexOf('/')
  return i === -1 ? '' : rel.slice(0, i)
}

export async function openMountSession (o: OpenMountOptions): Promise<MountSession> {
  const log = o.log ?? silentLogger
  const kind = await o.remote.refKind(o.repo, o.ref)
  if (o.write && kind !== 'branch') throw new LkError('LK_NOT_A_BRANCH', `${o.ref} is a ${kind}: only branches can be mounted for writing`)
  let sub = (o.subPath ?? '').replace(/^\/+/, '')
  if (sub !== '' && !sub.endsWith('/')) sub += '/'
  let journal: Journal | undefined
  let pinned: CommitId
  if (o.write) {
    if (o.stateDir === undefined) throw new LkError('LK_USAGE', 'a write mount needs a state directory')
    journal = await Journal.open({ dir: o.stateDir, log })
    const recorded = journal.base
    if (recorded !== null && (journal.size > 0 || journal.sealed !== undefined)) {
      // staged changes were made against this commit: keep the view they were made in
      pinned = recorded
      log.info('mount: recovered staged changes', { paths: journal.size, base: recorded, sealed: journal.sealed !== undefined })
    } else {
      pinned = await o.remote.resolveRef(o.repo, o.ref)
      await journal.setBase(pinned)
    }
    // a crash can leave a data file longer than its recorded size (unflushed writes): trim it
    for (const [, e] of journal.entries()) {
      if (e.t !== 'file') continue
      const st = await statFile(journal.dataPath(e.data)).catch(() => undefined)
      if (st === undefined) throw new LkError('LK_STORE_CORRUPT', `staged data file ${e.data} is missing in ${o.stateDir}`)
      if (st.size !== e.size) await truncateFile(journal.dataPath(e.data), e.size)
    }
    await journal.gcData(new Set())
  } else {
    pinned = await o.remote.resolveRef(o.repo, o.ref)
  }
  const identity: MountIdentity = { repo: o.repo, ref: o.ref, branch: kind === 'branch' ? (o.ref as string as BranchName) : undefined, subPath: sub }
  return new Session(o, identity, pinned, sub, journal, log, o.clock ?? systemClock)
}

class Session implements MountSession, FsCore {
  readonly readOnly: boolean
  #identity: MountIdentity
  #remote: Remote
  #cache: ContentCache
  #journal: Journal | undefined
  #log: Logger
  #clock: Clock
  #prefix: string
  #base: BaseView
  #baseOpts: BaseViewOptions
  #nodes = new Map<string, Node>()
  #handles = new Map<number, Handle>()
  #nextFh = 1
  #ns: Promise<void> = Promise.resolve()
  #commits: Promise<void> = Promise.resolve()
  /** staged paths by parent directory (add-only; entries are checked against the journal on use) */
  #children = new Map<string, Set<string>>()
  #uid = process.getuid?.() ?? 0
  #gid = process.getgid?.() ?? 0
  #openedMs: number
  #stats = { reads: 0, bytesRead: 0 }
  /** this mount's share of the shared cache's counters */
  #cacheCounters = { hits: 0, misses: 0, bytesFetched: 0 }
  #prefetch: DirPrefetcher
  #closed = false
  /** background uploads of closed files (write mounts of a branch on a remote that can) */
  #pre: PreUploader | undefined

  constructor (o: OpenMountOptions, identity: MountIdentity, pinned: CommitId, prefix: string, journal: Journal | undefined, log: Logger, clock: Clock) {
    this.readOnly = !o.write
    this.#identity = identity
    this.#remote = o.remote
    this.#cache = o.cache
    this.#journal = journal
    this.#log = log
    this.#clock = clock
    this.#prefix = prefix
    // keys that map to no file are hidden (lib/fs/base.ts); say so once per mount, with an example
    let hiddenSaid = false
    const onHidden = (key: string): void => {
      if (hiddenSaid) return
      hiddenSaid = true
      this.#log.warn('keys that map to no file name are hidden in this mount (e.g. "a//b", "x/.."; "dir/" markers only make the directory)', { key })
    }
    this.#baseOpts = { onHidden, ...(o.listingBudget === undefined ? {} : { maxEntries: o.listingBudget }) }
    this.#base = new BaseView(o.remote, o.repo, pinned, prefix, this.#baseOpts)
    this.#prefetch = new DirPrefetcher({
      // only what is listed already: prefetch never lists (nor keeps a listing in the budget)
      listing: async dir => this.#base.isListed(dir) ? await this.#base.list(dir) : undefined,
      isCommitted: rel => !this.#nodes.has(rel) && this.#journal?.get(rel) === undefined,
      fetch: async stat => { await this.#cache.prefetch(this.#src(stat)) },
      ...(o.prefetchFiles === undefined ? {} : { window: o.prefetchFiles }),
    })
    this.#openedMs = clock.now()
    if (journal !== undefined) for (const [p] of journal.entries()) this.#index(p)
    if (journal !== undefined && identity.branch !== undefined && o.preUpload !== false && o.remote.preUpload !== undefined) {
      this.#pre = new PreUploader({ remote: o.remote, repo: o.repo, branch: () => this.#identity.branch ?? (identity.branch as BranchName), log })
    }
  }

  /** the pre-uploads, for tests */
  get preUploader (): PreUploader | undefined { return this.#pre }

  get fs (): FsCore { return this }

  #src (stat: ObjectStat): ObjectSource {
    return { remote: this.#remote, repo: this.#identity.repo, stat, counters: this.#cacheCounters }
  }
  get identity (): MountIdentity { return this.#identity }
  pinnedCommit (): CommitId { return this.#base.commit }

  // ---------------------------------------------------------------- resolution

  #index (rel: string): void {
    let child = rel
    while (child !== '') {
      const parent = parentOf(child)
      const name = parent === '' ? child : child.slice(parent.length + 1)
      let set = this.#children.get(parent)
      if (set === undefined) { set = new Set(); this.#children.set(parent, set) }
      if (set.has(name)) return
      set.add(name)
      child = parent
    }
  }

  /** a staged (non-deleted) path exists strictly under `rel` */
  #hasStagedDescendant (rel: string, depth = 0): boolean {
    const set = this.#children.get(rel)
    if (set === undefined || depth > 256) return false
    for (const name of set) {
      const p = rel === '' ? name : `${rel}/${name}`
      const e = this.#journal?.get(p)
      if (e !== undefined) { if (e.t !== 'del') return true; continue }
      if (this.#hasStagedDescendant(p, depth + 1)) return true
    }
    return false
  }

  #resolveSync (rel: string): Resolved | undefined {
    if (rel === '') return { kind: 'dir' }
    const e = this.#journal?.get(rel)
    if (e !== undefined) {
      if (e.t === 'file' || e.t === 'ref') return { kind: 'file', src: e }
      if (e.t === 'dir') return { kind: 'dir' }
      return null
    }
    if (this.#hasStagedDescendant(rel)) return { kind: 'dir' }
    const b = this.#base.lookupSync(rel)
    if (b === undefined) return undefined
    if (b === null) return null
    return b.kind === 'dir' ? { kind: 'dir' } : { kind: 'file', src: { t: 'base', stat: b.stat } }
  }

  async #resolve (rel: string): Promise<Resolved> {
    const s = this.#resolveSync(rel)
    if (s !== undefined) return s
    // the parent must exist for the child to (a deleted directory hides base children)
    const b = await this.#base.lookup(rel)
    if (b === null) return null
    return b.kind === 'dir' ? { kind: 'dir' } : { kind: 'file', src: { t: 'base', stat: b.stat } }
  }

  async #baseHasFile (rel: string): Promise<boolean> {
    return (await this.#base.lookup(rel))?.kind === 'file'
  }

  #attrFile (size: number, mtime: number): Attr {
    return { mode: S_IFREG | (this.readOnly ? 0o444 : 0o644), size, mtime, atime: mtime, ctime: mtime, nlink: 1, uid: this.#uid, gid: this.#gid }
  }

  #attrDir (): Attr {
    const t = this.#openedMs
    return { mode: S_IFDIR | (this.readOnly ? 0o555 : 0o755), size: 4096, mtime: t, atime: t, ctime: t, nlink: 2, uid: this.#uid, gid: this.#gid }
  }

  #attrOf (rel: string, r: Exclude<Resolved, null>): Attr {
    if (r.kind === 'dir') return this.#attrDir()
    const node = this.#nodes.get(rel)
    if (node !== undefined) return this.#attrFile(node.size, node.mtime)
    const src = r.src
    if (src.t === 'base') return this.#attrFile(src.stat.size, src.stat.mtime * 1000)
    if (src.t === 'file') return this.#attrFile(src.size, src.mtime)
    return this.#attrFile(src.stat.size, src.mtime)
  }

  #controlData (): Buffer {
    const id = this.#identity
    return Buffer.from(JSON.stringify({ repo: id.repo, ref: id.ref, branch: id.branch ?? null, commit: this.#base.commit, subPath: id.subPath, readOnly: this.readOnly }, null, 2) + '\n')
  }

  #checkName (rel: string): void {
    if (Buffer.byteLength(this.#prefix + rel) > MAX_PATH_BYTES) throw errno('ENAMETOOLONG', `path longer than ${MAX_PATH_BYTES} bytes: /${rel}`)
    if (rel === CONTROL_FILE) throw errno('EACCES', `/${CONTROL_FILE} is the mount's control file`)
  }

  #writable (op: string, rel: string): Journal {
    if (this.readOnly || this.#journal === undefined) throw errno('EROFS', `${op} /${rel}: the mount is read-only`)
    if (this.#closed) throw errno('EIO', `${op} /${rel}: the mount is closed`)
    return this.#journal
  }

  /** runs a namespace change alone (see the concurrency contract above) */
  async #exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#ns.then(fn)
    this.#ns = run.then(() => {}, () => {})
    return await run
  }

  async #record (ops: Array<[string, StagedEntry | null]>, opts: { lazy?: boolean } = {}): Promise<void> {
    const j = this.#journal
    if (j === undefined) throw errno('EROFS', 'read-only mount')
    for (const [p, e] of ops) if (e !== null && e.t !== 'del') this.#index(p)
    await j.record(ops, opts)
  }

  /** keeps the parent directory visible after its last child leaves */
  #keepParent (rel: string): Array<[string, StagedEntry | null]> {
    const parent = parentOf(rel)
    if (parent === '') return []
    const e = this.#journal?.get(parent)
    if (e !== undefined && e.t === 'dir') return []
    return [[parent, { t: 'dir', mtime: this.#clock.now() }]]
  }

  async #requireDir (rel: string, what: string): Promise<void> {
    const r = await this.#resolve(rel)
    if (r === null) throw errno('ENOENT', `${what}: /${rel} does not exist`)
    if (r.kind !== 'dir') throw errno('ENOTDIR', `${what}: /${rel} is not a directory`)
  }

  // ---------------------------------------------------------------- metadata

  /** also throws ENOENT synchronously for a path known to be absent (the FUSE adapter catches it) */
  getattrSync (path: string): Attr | undefined {
    const rel = relOf(path)
    if (rel === CONTROL_FILE) return { ...this.#attrFile(this.#controlData().length, this.#openedMs), mode: S_IFREG | 0o444 }
    const node = this.#nodes.get(rel)
    if (node !== undefined) return this.#attrFile(node.size, node.mtime)
    const r = this.#resolveSync(rel)
    if (r === undefined) return undefined
    // a path known to be absent is answered from memory too (negative lookups are frequent)
    if (r === null) throw errno('ENOENT', `/${rel} does not exist`)
    return this.#attrOf(rel, r)
  }

  async getattr (path: string): Promise<Attr> {
    const sync = this.getattrSync(path)
    if (sync !== undefined) return sync
    const rel = relOf(path)
    const r = await this.#resolve(rel)
    if (r === null) throw errno('ENOENT', `/${rel} does not exist`)
    return this.#attrOf(rel, r)
  }

  async readdir (path: string): Promise<string[]> {
    const rel = relOf(path)
    const r = await this.#resolve(rel)
    if (r === null) throw errno('ENOENT', `/${rel} does not exist`)
    if (r.kind !== 'dir') throw errno('ENOTDIR', `/${rel} is not a directory`)
    const j = this.#journal
    const names: string[] = []
    const baseNames = this.#base.isListed(rel) || this.#journal?.get(rel)?.t !== 'dir' || (await this.#base.lookup(rel)) !== null
      ? await this.#base.list(rel)
      : new Map()
    const join = (n: string): string => rel === '' ? n : `${rel}/${n}`
    for (const n of baseNames.keys()) {
      if (j === undefined) { names.push(n); continue }
      const e = j.get(join(n))
      if (e === undefined || e.t !== 'del' || this.#hasStagedDescendant(join(n))) names.push(n)
    }
    const staged = this.#children.get(rel)
    if (staged !== undefined) {
      for (const n of staged) {
        if (baseNames.has(n)) continue
        const p = join(n)
        const e = j?.get(p)
        if ((e !== undefined && e.t !== 'del') || (e === undefined && this.#hasStagedDescendant(p))) names.push(n)
      }
    }
    return names
  }

  async statfs (_path: string): Promise<StatFs> {
    const blocks = Math.max(1, Math.floor(this.#cache.maxBytes / 4096))
    const free = Math.max(0, blocks - Math.floor(this.#cache.usedBytes / 4096))
    return { bsize: 4096, frsize: 4096, blocks, bfree: free, bavail: free, files: 1 << 30, ffree: 1 << 29, favail: 1 << 29, namemax: 255 }
  }

  // ---------------------------------------------------------------- open / read / write

  #newFh (h: Handle): number {
    const fh = this.#nextFh++
    this.#handles.set(fh, h)
    return fh
  }

  #handle (fh: number, path: string): Handle {
    const h = this.#handles.get(fh)
    if (h === undefined) throw errno('EBADF', `no open file ${fh} for ${path}`)
    return h
  }

  async open (path: string, flags: number): Promise<number> {
    const rel = relOf(path)
    if (rel === CONTROL_FILE) {
      if (isWriteFlags(flags)) throw errno(this.readOnly ? 'EROFS' : 'EACCES', `/${CONTROL_FILE} is read-only`)
      return this.#newFh({ kind: 'control', data: this.#controlData() })
    }
    if (!isWriteFlags(flags)) {
      const node = this.#nodes.get(rel)
      if (node !== undefined) { node.refs++; return this.#newFh({ kind: 'node', node, flags }) }
      const r = await this.#resolve(rel)
      if (r === null) throw errno('ENOENT', `/${rel} does not exist`)
      if (r.kind === 'dir') throw errno('EISDIR', `/${rel} is a directory`)
      if (r.src.t === 'base' || r.src.t === 'ref') return this.#newFh({ kind: 'base', stat: r.src.stat, rel })
    }
    this.#writable('open', rel)
    return await this.#exclusive(async () => {
      const node = await this.#openNode(rel, (flags & C.O_TRUNC) !== 0 && isWriteFlags(flags))
      return this.#newFh({ kind: 'node', node, flags })
    })
  }

  /** a node for an existing file: shared when open, else from its data file, else copy-on-write */
  async #openNode (rel: string, trunc: boolean): Promise<Node> {
    const j = this.#journal as Journal
    let node = this.#nodes.get(rel)
    if (node === undefined) {
      const r = await this.#resolve(rel)
      if (r === null) throw errno('ENOENT', `/${rel} does not exist`)
      if (r.kind === 'dir') throw errno('EISDIR', `/${rel} is a directory`)
      const src = r.src
      if (src.t === 'file') {
        const fh = await openFile(j.dataPath(src.data), 'r+')
        node = { rel, data: src.data, fh, size: src.size, mtime: src.mtime, meta: { ...src.meta }, dirty: false, refs: 0, fresh: false, cow: undefined, ...(src.origin === undefined ? {} : { origin: src.origin }) }
      } else {
        const stat = src.stat
        const meta = src.t === 'ref' ? src.meta : stat.metadata
        const data = await j.allocData()
        const fh = await openFile(j.dataPath(data), 'r+')
        try {
          if (!trunc) await this.#cache.copyTo(this.#src(stat), fh)
          await fh.datasync()
        } catch (e) { await fh.close(); throw e }
        node = { rel, data, fh, size: trunc ? 0 : stat.size, mtime: trunc ? this.#clock.now() : (src.t === 'ref' ? src.mtime : stat.mtime * 1000), meta: { ...meta }, dirty: false, refs: 0, fresh: false, cow: undefined, origin: stat.checksum }
        trunc = false
        await this.#record([[rel, this.#entryOf(node)]])
      }
      this.#nodes.set(rel, node)
    }
    node.refs++
    if (trunc && node.size !== 0) await this.#truncateNode(node, 0)
    return node
  }

  #entryOf (node: Node): StagedEntry {
    return { t: 'file', data: node.data, size: node.size, mtime: node.mtime, meta: node.meta, ...(node.origin === undefined ? {} : { origin: node.origin }) }
  }

  async create (path: string, _mode: number, flags: number): Promise<number> {
    const rel = relOf(path)
    this.#writable('create', rel)
    this.#checkName(rel)
    return await this.#exclusive(async () => {
      await this.#requireDir(parentOf(rel), `create /${rel}`)
      const existing = this.#nodes.has(rel) ? { kind: 'file' as const } : await this.#resolve(rel)
      if (existing !== null) {
        if ((flags & C.O_EXCL) !== 0) throw errno('EEXIST', `/${rel} exists`)
        if (existing.kind === 'dir') throw errno('EISDIR', `/${rel} is a directory`)
        const node = await this.#openNode(rel, (flags & C.O_TRUNC) !== 0)
        return this.#newFh({ kind: 'node', node, flags })
      }
      const j = this.#journal as Journal
      const data = await j.allocData()
      const fh = await openFile(j.dataPath(data), 'r+')
      const node: Node = { rel, data, fh, size: 0, mtime: this.#clock.now(), meta: {}, dirty: true, refs: 1, fresh: false, cow: undefined }
      this.#nodes.set(rel, node)
      // the new (empty) file is durable once closed or fsynced, like on a local filesystem: its
      // record waits for the next journal flush (flush/release records it again with its
      // contents, so closing a new file costs one journal sync, not two)
      this.#record([[rel, this.#entryOf(node)]], { lazy: true }).catch((e: unknown) => { node.dirty = true; this.#log.error('journal: could not record a new file', { path: rel, err: e }) })
      return this.#newFh({ kind: 'node', node, flags })
    })
  }

  async read (path: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    const h = this.#handle(fh, path)
    let n: number
    if (h.kind === 'node') {
      const want = Math.max(0, Math.min(len, h.node.size - pos))
      if (want === 0) return 0
      n = (await h.node.fh.read(buf, 0, want, pos)).bytesRead
      // bytes past the data file's end but within the size (sparse after truncate up) read as zeros
      if (n < want) { buf.fill(0, n, want); n = want }
    } else if (h.kind === 'base') {
      // the file was opened unchanged and has since been written in this mount: read the copy
      const up = this.#journal === undefined ? undefined : await this.#upgrade(fh, h)
      if (up !== undefined) return await this.read(path, fh, buf, len, pos)
      // a file read from its start: the next files of its directory may be read next
      if (pos === 0) this.#prefetch.opened(h.rel)
      n = await this.#cache.read(this.#src(h.stat), buf, len, pos)
    } else {
      n = Math.max(0, Math.min(len, h.data.length - pos))
      if (n > 0) h.data.copy(buf, 0, pos, pos + n)
    }
    this.#stats.reads++
    this.#stats.bytesRead += n
    return n
  }

  /** turns a read handle of a committed file into a handle of its copy-on-write, once one exists */
  async #upgrade (fh: number, h: Extract<Handle, { kind: 'base' }>): Promise<Handle | undefined> {
    let node = this.#nodes.get(h.rel)
    if (node === undefined) {
      const e = this.#journal?.get(h.rel)
      if (e === undefined || e.t !== 'file' || e.origin !== h.stat.checksum) return undefined
      node = await this.#exclusive(async () => await this.#openNode(h.rel, false))
    } else {
      if (node.origin !== h.stat.checksum) return undefined
      node.refs++
    }
    const up: Handle = { kind: 'node', node, flags: C.O_RDONLY }
    if (this.#handles.get(fh) === h) this.#handles.set(fh, up); else await this.#releaseNode(node)
    return up
  }

  async write (path: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    // copy before any await: the FUSE binding detaches `buf` after the callback
    const data = Buffer.from(buf.subarray(0, len))
    const h = this.#handle(fh, path)
    if (h.kind !== 'node' || (h.flags & 3) === C.O_RDONLY) throw errno('EBADF', `${path} is not open for writing`)
    const node = h.node
    // a zero-length write changes nothing (it must not extend the file)
    if (len === 0) return 0
    await this.#ensureOwnData(node)
    const at = (h.flags & C.O_APPEND) !== 0 ? node.size : pos
    // reserve the size before the await so concurrent appends do not overlap
    node.size = Math.max(node.size, at + len)
    node.mtime = this.#clock.now()
    node.dirty = true
    // before and after: an upload that started reading while this write was in flight may have
    // read the old bytes, and must not be taken for the new ones
    const name = node.data
    this.#pre?.changed(name)
    try { await node.fh.write(data, 0, len, at) } finally { this.#pre?.changed(name) }
    return len
  }

  /** a node whose data file belongs to a sealed change set copies it first (the commit reads it) */
  async #ensureOwnData (node: Node): Promise<void> {
    while (node.cow !== undefined) await node.cow
    const j = this.#journal as Journal
    if (!j.isSealedData(node.data)) return
    node.cow = (async () => {
      const data = await j.allocData()
      const fh = await openFile(j.dataPath(data), 'r+')
      const buf = Buffer.allocUnsafe(1 << 20)
      for (let pos = 0; pos < node.size;) {
        const { bytesRead } = await node.fh.read(buf, 0, Math.min(buf.length, node.size - pos), pos)
        if (bytesRead === 0) break
        await fh.write(buf, 0, bytesRead, pos)
        pos += bytesRead
      }
      await fh.truncate(node.size)
      const old = node.fh
      node.fh = fh
      node.data = data
      node.dirty = true
      await old.close()
    })()
    try { await node.cow } finally { node.cow = undefined }
  }

  async #truncateNode (node: Node, size: number): Promise<void> {
    await this.#ensureOwnData(node)
    const name = node.data
    this.#pre?.changed(name)
    try { await node.fh.truncate(size) } finally { this.#pre?.changed(name) }
    node.size = size
    node.mtime = this.#clock.now()
    node.dirty = true
  }

  /** makes a node's contents durable and records its size: close and fsync semantics */
  async #syncNode (node: Node): Promise<void> {
    while (node.cow !== undefined) await node.cow
    if (!node.dirty) return
    node.dirty = false
    const entry = this.#entryOf(node)
    try {
      await node.fh.datasync()
      if (node.fresh) { node.fresh = false; await fsyncDir((this.#journal as Journal).dataPath('.')) }
      const rel = node.rel
      if (rel !== undefined && this.#nodes.get(rel) === node) {
        await this.#record([[rel, entry]])
        // durable now: start its upload, so the commit only has to link it
        if (entry.t === 'file') this.#pre?.schedule(entry.data, (this.#journal as Journal).dataPath(entry.data), this.#base.objectPath(rel), entry.size)
      }
    } catch (e) {
      node.dirty = true
      throw e
    }
  }

  async truncate (path: string, size: number): Promise<void> {
    const rel = relOf(path)
    this.#writable('truncate', rel)
    if (size < 0) throw errno('EINVAL', 'negative size')
    await this.#exclusive(async () => {
      const node = await this.#openNode(rel, size === 0)
      try {
        if (node.size !== size) await this.#truncateNode(node, size)
        await this.#syncNode(node)
      } finally { await this.#releaseNode(node) }
    })
  }

  async ftruncate (path: string, fh: number, size: number): Promise<void> {
    const h = this.#handle(fh, path)
    if (h.kind !== 'node' || (h.flags & 3) === C.O_RDONLY) throw errno(this.readOnly ? 'EROFS' : 'EBADF', `${path} is not open for writing`)
    if (size < 0) throw errno('EINVAL', 'negative size')
    await this.#truncateNode(h.node, size)
  }

  async flush (path: string, fh: number): Promise<void> {
    const h = this.#handle(fh, path)
    if (h.kind === 'node') await this.#syncNode(h.node)
  }

  async fsync (path: string, fh: number, _datasync: boolean): Promise<void> {
    const h = this.#handle(fh, path)
    if (h.kind === 'node') await this.#syncNode(h.node)
  }

  async release (path: string, fh: number): Promise<void> {
    const h = this.#handle(fh, path)
    this.#handles.delete(fh)
    if (h.kind === 'node') {
      try { await this.#syncNode(h.node) } finally { await this.#releaseNode(h.node) }
    }
  }

  async #releaseNode (node: Node): Promise<void> {
    node.refs--
    if (node.refs > 0) return
    if (node.rel !== undefined && this.#nodes.get(node.rel) === node) this.#nodes.delete(node.rel)
    await node.fh.close()
  }

  // ---------------------------------------------------------------- namespace changes

  async unlink (path: string): Promise<void> {
    const rel = relOf(path)
    this.#writable('unlink', rel)
    this.#checkName(rel)
    await this.#exclusive(async () => {
      const r = this.#nodes.has(rel) ? { kind: 'file' as const } : await this.#resolve(rel)
      if (r === null) throw errno('ENOENT', `/${rel} does not exist`)
      if (r.kind === 'dir') throw errno('EISDIR', `/${rel} is a directory`)
      const inBase = await this.#baseHasFile(rel)
      await this.#record([[rel, inBase ? { t: 'del' } : null], ...this.#keepParent(rel)])
      this.#detach(rel)
    })
  }

  /** open handles of a removed path keep their data but no longer write to any path */
  #detach (rel: string): void {
    const node = this.#nodes.get(rel)
    if (node === undefined) return
    node.rel = undefined
    this.#nodes.delete(rel)
  }

  async mkdir (path: string, _mode: number): Promise<void> {
    const rel = relOf(path)
    this.#writable('mkdir', rel)
    this.#checkName(rel)
    if (rel === '') throw errno('EEXIST', 'the root exists')
    await this.#exclusive(async () => {
      await this.#requireDir(parentOf(rel), `mkdir /${rel}`)
      if (this.#nodes.has(rel) || (await this.#resolve(rel)) !== null) throw errno('EEXIST', `/${rel} exists`)
      await this.#record([[rel, { t: 'dir', mtime: this.#clock.now() }]])
    })
  }

  async rmdir (path: string): Promise<void> {
    const rel = relOf(path)
    this.#writable('rmdir', rel)
    if (rel === '') throw errno('EBUSY', 'cannot remove the root of the mount')
    this.#checkName(rel)
    await this.#exclusive(async () => {
      const r = await this.#resolve(rel)
      if (r === null) throw errno('ENOENT', `/${rel} does not exist`)
      if (r.kind !== 'dir') throw errno('ENOTDIR', `/${rel} is not a directory`)
      if ((await this.readdir('/' + rel)).length > 0) throw errno('ENOTEMPTY', `/${rel} is not empty`)
      const inBase = (await this.#base.lookup(rel))?.kind === 'dir'
      await this.#record([[rel, inBase ? { t: 'del' } : null], ...this.#keepParent(rel)])
    })
  }

  async rename (src: string, dest: string): Promise<void> {
    const from = relOf(src)
    const to = relOf(dest)
    this.#writable('rename', from)
    this.#checkName(from)
    this.#checkName(to)
    if (from === '' || to === '') throw errno('EBUSY', 'cannot rename the root of the mount')
    await this.#exclusive(async () => {
      const r = this.#nodes.has(from) ? (await this.#resolve(from)) ?? { kind: 'file' as const, src: undefined } : await this.#resolve(from)
      if (r === null) throw errno('ENOENT', `/${from} does not exist`)
      if (from === to) return
      if (to.startsWith(from + '/')) throw errno('EINVAL', `cannot move /${from} into itself`)
      await this.#requireDir(parentOf(to), `rename to /${to}`)
      const target = this.#nodes.has(to) ? { kind: 'file' as const } : await this.#resolve(to)
      const now = this.#clock.now()
      if (r.kind === 'file') {
        if (target?.kind === 'dir') throw errno('EISDIR', `/${to} is a directory`)
        const node = this.#nodes.get(from)
        const entry: StagedEntry = node !== undefined
          ? this.#entryOf(node)
          : this.#movedEntry(r.src as FileSrc)
        await this.#record([[to, entry], [from, (await this.#baseHasFile(from)) ? { t: 'del' } : null], ...this.#keepParent(from)])
        this.#detach(to)
        if (node !== undefined) { this.#nodes.delete(from); node.rel = to; this.#nodes.set(to, node) }
        return
      }
      // a directory with everything under it
      if (target?.kind === 'file') throw errno('ENOTDIR', `/${to} is not a directory`)
      if (target?.kind === 'dir' && (await this.readdir('/' + to)).length > 0) throw errno('ENOTEMPTY', `/${to} is not empty`)
      const ops = new Map<string, StagedEntry | null>()
      const j = this.#journal as Journal
      const under = from + '/'
      const baseFiles = (await this.#base.lookup(from))?.kind === 'dir' ? await this.#base.listRecursive(from) : []
      const moved = new Map<string, StagedEntry>()
      for (const stat of baseFiles) {
        const rel = this.#base.relOf(stat.path)
        const e = j.get(rel)
        if (e === undefined) moved.set(rel, this.#movedEntry({ t: 'base', stat }))
        ops.set(rel, { t: 'del' })
        // base directories in between are hidden too, or they would show up empty under a new `from`
        for (let q = parentOf(rel); q !== from && q.startsWith(under); q = parentOf(q)) {
          if (ops.has(q)) break
          ops.set(q, { t: 'del' })
        }
      }
      for (const [rel, e] of [...j.entries()]) {
        if (!rel.startsWith(under)) continue
        if (e.t === 'del') { moved.delete(rel); continue }
        const node = this.#nodes.get(rel)
        moved.set(rel, node !== undefined ? this.#entryOf(node) : e)
        if (!ops.has(rel)) ops.set(rel, null)
      }
      for (const [rel, e] of moved) ops.set(to + rel.slice(from.length), e)
      ops.set(from, (await this.#base.lookup(from))?.kind === 'dir' ? { t: 'del' } : null)
      ops.set(to, { t: 'dir', mtime: now })
      for (const [p, e] of this.#keepParent(from)) if (!ops.has(p)) ops.set(p, e)
      await this.#record([...ops])
      for (const [rel, node] of [...this.#nodes]) {
        if (!rel.startsWith(under)) continue
        this.#nodes.delete(rel)
        node.rel = to + rel.slice(from.length)
        this.#nodes.set(node.rel, node)
      }
    })
  }

  /** the staged entry of a file moved elsewhere: its content stays where it is */
  #movedEntry (src: FileSrc): Extract<StagedEntry, { t: 'file' | 'ref' }> {
    if (src.t === 'base') return { t: 'ref', stat: src.stat, mtime: src.stat.mtime * 1000, meta: { ...src.stat.metadata } }
    return src
  }

  async utimens (path: string, _atimeMs: number, mtimeMs: number): Promise<void> {
    const rel = relOf(path)
    this.#writable('utimens', rel)
    await this.#exclusive(async () => {
      const node = this.#nodes.get(rel)
      if (node !== undefined) { node.mtime = mtimeMs; node.dirty = true; await this.#syncNode(node); return }
      const r = await this.#resolve(rel)
      if (r === null) throw errno('ENOENT', `/${rel} does not exist`)
      // directories have no stored times (they are prefixes); accepting keeps cp -a/tar working
      if (r.kind === 'dir') return
      const e = this.#movedEntry(r.src)
      await this.#record([[rel, { ...e, mtime: mtimeMs }]])
    })
  }

  async chmod (path: string, mode: number): Promise<void> {
    const rel = relOf(path)
    this.#writable('chmod', rel)
    const a = await this.getattr(path)
    // only the permissions lk-mount reports can be "set": anything else cannot be stored
    if ((mode & 0o7777) !== (a.mode & 0o7777)) throw errno('ENOTSUP', `chmod /${rel}: lk-mount does not store permissions (files are ${(a.mode & 0o777).toString(8)})`)
  }

  async chown (path: string, uid: number, gid: number): Promise<void> {
    const rel = relOf(path)
    this.#writable('chown', rel)
    const a = await this.getattr(path)
    const keep = (v: number, cur: number): boolean => v === -1 || v === 0xffffffff || v === cur
    if (!keep(uid, a.uid) || !keep(gid, a.gid)) throw errno('ENOTSUP', `chown /${rel}: lk-mount does not store owners`)
  }

  async symlink (_target: string, path: string): Promise<void> {
    this.#writable('symlink', relOf(path))
    throw errno('ENOTSUP', `symlink ${path}: lk-mount cannot store symbolic links`)
  }

  async link (_existing: string, path: string): Promise<void> {
    this.#writable('link', relOf(path))
    throw errno('ENOTSUP', `link ${path}: lk-mount cannot store hard links`)
  }

  async mknod (path: string, _mode: number, _dev: number): Promise<void> {
    this.#writable('mknod', relOf(path))
    throw errno('ENOTSUP', `mknod ${path}: lk-mount cannot store device or special files`)
  }

  // ---------------------------------------------------------------- xattrs

  async getxattr (path: string, name: string): Promise<Buffer> {
    // the kernel asks security.capability on writes and ACLs on listings: answer without I/O
    if (!name.startsWith('user.')) throw errno('ENODATA', `${name} not set`)
    const rel = relOf(path)
    if (rel === '') {
      if (name === 'user.lakefs.commit') return Buffer.from(this.#base.commit)
      if (name === 'user.lakefs.ref') return Buffer.from(this.#identity.ref)
      if (name === 'user.lakefs.repo') return Buffer.from(this.#identity.repo)
      throw errno('ENODATA', `${name} not set`)
    }
    const meta = await this.#metaOf(rel)
    const v = meta?.[name.slice(5)]
    if (v === undefined) throw errno('ENODATA', `${name} not set on /${rel}`)
    return Buffer.from(v)
  }

  async #metaOf (rel: string): Promise<Metadata | undefined> {
    if (rel === CONTROL_FILE) return {}
    const node = this.#nodes.get(rel)
    if (node !== undefined) return node.meta
    const r = await this.#resolve(rel)
    if (r === null) throw errno('ENOENT', `/${rel} does not exist`)
    if (r.kind === 'dir') return undefined
    return r.src.t === 'base' ? r.src.stat.metadata : r.src.meta
  }

  async listxattr (path: string): Promise<string[]> {
    const rel = relOf(path)
    if (rel === '') return [...ROOT_XATTRS]
    const meta = await this.#metaOf(rel)
    return Object.keys(meta ?? {}).map(k => `user.${k}`)
  }

  async setxattr (path: string, name: string, value: Buffer, flags: number): Promise<void> {
    const rel = relOf(path)
    this.#writable('setxattr', rel)
    if (!name.startsWith('user.') || name.length === 5) throw errno('ENOTSUP', `only user.* extended attributes can be stored (got ${name})`)
    if (name.startsWith('user.lakefs.')) throw errno('EPERM', `${name} is reserved for lk-mount`)
    const text = value.toString('utf8')
    if (!Buffer.from(text, 'utf8').equals(value)) throw errno('EINVAL', `${name}: object metadata values must be UTF-8 text`)
    await this.#changeMeta(rel, (meta) => {
      const key = name.slice(5)
      if ((flags & XATTR_CREATE) !== 0 && key in meta) throw errno('EEXIST', `${name} exists on /${rel}`)
      if ((flags & XATTR_REPLACE) !== 0 && !(key in meta)) throw errno('ENODATA', `${name} not set on /${rel}`)
      return { ...meta, [key]: text }
    })
  }

  async removexattr (path: string, name: string): Promise<void> {
    const rel = relOf(path)
    this.#writable('removexattr', rel)
    if (!name.startsWith('user.')) throw errno('ENODATA', `${name} not set`)
    await this.#changeMeta(rel, (meta) => {
      const key = name.slice(5)
      if (!(key in meta)) throw errno('ENODATA', `${name} not set on /${rel}`)
      const { [key]: _gone, ...rest } = meta
      return rest
    })
  }

  async #changeMeta (rel: string, change: (m: Metadata) => Metadata): Promise<void> {
    if (rel === '' || rel === CONTROL_FILE) throw errno('EPERM', `cannot set attributes on /${rel}`)
    await this.#exclusive(async () => {
      const node = this.#nodes.get(rel)
      if (node !== undefined) {
        node.meta = change(node.meta)
        const j = this.#journal as Journal
        const e = j.get(rel)
        await this.#record([[rel, e !== undefined && e.t === 'file' ? { ...e, meta: node.meta } : this.#entryOf(node)]])
        return
      }
      const r = await this.#resolve(rel)
      if (r === null) throw errno('ENOENT', `/${rel} does not exist`)
      if (r.kind === 'dir') throw errno('ENOTSUP', `/${rel} is a directory: directories have no metadata in lakeFS`)
      const e = this.#movedEntry(r.src)
      if (e.t !== 'file' && e.t !== 'ref') throw errno('EIO', 'unreachable')
      await this.#record([[rel, { ...e, meta: change(e.meta) }]])
    })
  }

  // ---------------------------------------------------------------- session

  async diff (): Promise<DiffEntry[]> {
    const j = this.#journal
    if (j === undefined) return []
    const out: DiffEntry[] = []
    for (const [rel, e] of [...j.entries()]) {
      if (e.t === 'dir') continue
      const inBase = await this.#baseHasFile(rel)
      const path = this.#base.objectPath(rel)
      if (e.t === 'del') { if (inBase) out.push({ path, type: 'removed' }); continue }
      const node = this.#nodes.get(rel)
      const size = node?.size ?? (e.t === 'file' ? e.size : e.stat.size)
      out.push({ path, type: inBase ? 'changed' : 'added', size })
    }
    return out.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  }

  async commit (opts: MountCommitOptions): Promise<CommitInfo> {
    const j = this.#journal
    const branch = this.#identity.branch
    if (j === undefined || branch === undefined) throw new LkError('LK_READ_ONLY_MOUNT', 'cannot commit from a read-only mount')
    // one commit at a time: a second one waits, then commits what was staged meanwhile
    const run = this.#commits.then(async () => await this.#commitNow(j, branch, opts))
    this.#commits = run.then(() => {}, () => {})
    return await run
  }

  async #commitNow (j: Journal, branch: BranchName, opts: MountCommitOptions): Promise<CommitInfo> {
    // everything written so far is part of the commit, even in files still open
    for (const node of new Set([...this.#handles.values()].flatMap(h => h.kind === 'node' && h.node.rel !== undefined ? [h.node] : []))) await this.#syncNode(node)
    // Sealing does not change the view, so namespace changes may run during the remote calls;
    // only the re-pin below must not interleave with them (they decide tombstones by the base).
    const res = await commitStaged({
      remote: this.#remote,
      repo: this.#identity.repo,
      branch,
      journal: j,
      base: this.#base.commit,
      message: opts.message,
      ...(opts.metadata === undefined ? {} : { metadata: opts.metadata }),
      ...(opts.branch === undefined ? {} : { targetBranch: opts.branch }),
      log: this.#log,
      objectPath: (rel) => this.#base.objectPath(rel),
      baseHasFile: async (rel) => await this.#baseHasFileAt(j.sealed?.base ?? this.#base.commit, rel),
      streamOf: (stat) => this.#cache.stream(this.#src(stat)),
      ...(this.#pre === undefined ? {} : { preUploaded: async (data: string, size: number) => await this.#pre?.take(data, size) }),
    })
    await this.#exclusive(async () => {
      // explicit empty directories are not stored by commits: keep them staged locally
      const keepDirs: Array<[string, StagedEntry]> = []
      for (const [p, e] of res.sealed.entries) if (e.t === 'dir' && j.get(p) === e) keepDirs.push([p, e])
      if (keepDirs.length > 0) await this.#record(keepDirs)
      // re-pin first, then forget the sealed set: the new commit holds what the set held
      this.#base = new BaseView(this.#remote, this.#identity.repo, res.commit.id, this.#prefix, this.#baseOpts)
      if (res.branch !== branch) {
        // the mount follows the branch it committed to (its base is now that branch's head)
        this.#identity = { ...this.#identity, ref: res.branch as string as RefExpr, branch: res.branch }
      }
      await j.dropSealed()
      await j.setBase(res.commit.id)
    })
    this.#pre?.forget([...res.sealed.entries.values()].flatMap(e => e.t === 'file' ? [e.data] : []))
    await j.gcData(this.#liveData())
    return res.commit
  }

  /** data files of open handles (also of unlinked files still open) */
  #liveData (): Set<string> {
    return new Set([...this.#handles.values()].flatMap(h => h.kind === 'node' ? [h.node.data] : []))
  }

  async #baseHasFileAt (commit: CommitId, rel: string): Promise<boolean> {
    if (commit === this.#base.commit) return await this.#baseHasFile(rel)
    try {
      await this.#remote.statObject(this.#identity.repo, commit, this.#base.objectPath(rel))
      return true
    } catch (e) {
      if (e instanceof LkError && e.code === 'LK_OBJECT_NOT_FOUND') return false
      throw e
    }
  }

  async discard (): Promise<void> {
    const j = this.#journal
    if (j === undefined) return
    await this.#exclusive(async () => {
      await j.discard()
      this.#pre?.forgetAll()
      for (const rel of [...this.#nodes.keys()]) this.#detach(rel)
      this.#children.clear()
      await j.gcData(this.#liveData())
    })
  }

  async prefetch (path: string, onProgress?: (done: number, total: number, bytes: number) => void): Promise<{ files: number, bytes: number }> {
    const rel = relOf(path)
    const r = await this.#resolve(rel)
    if (r === null) throw errno('ENOENT', `/${rel} does not exist`)
    const stats: ObjectStat[] = []
    if (r.kind === 'file') {
      if (r.src.t === 'base' || r.src.t === 'ref') stats.push(r.src.stat)
    } else {
      for (const s of await this.#base.listRecursive(rel)) {
        const e = this.#journal?.get(this.#base.relOf(s.path))
        if (e === undefined) stats.push(s)
      }
    }
    let done = 0
    let bytes = 0
    const queue = [...stats]
    const worker = async (): Promise<void> => {
      const buf = Buffer.allocUnsafe(this.#cache.chunkSize)
      for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
        for (let pos = 0; pos < s.size;) pos += await this.#cache.read(this.#src(s), buf, buf.length, pos)
        done++
        bytes += s.size
        onProgress?.(done, stats.length, bytes)
      }
    }
    await Promise.all(Array.from({ length: Math.min(4, stats.length) }, worker))
    return { files: done, bytes }
  }

  stats (): MountStats {
    let stagedBytes = 0
    let stagedPaths = 0
    for (const [rel, e] of this.#journal?.entries() ?? []) {
      if (e.t === 'dir') continue
      stagedPaths++
      if (e.t === 'file') stagedBytes += this.#nodes.get(rel)?.size ?? e.size
    }
    const c = this.#cacheCounters
    return { reads: this.#stats.reads, bytesRead: this.#stats.bytesRead, cacheHits: c.hits, cacheMisses: c.misses, bytesFetched: c.bytesFetched, stagedPaths, stagedBytes }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#prefetch.close()
    const nodes = new Set([...this.#handles.values()].flatMap(h => h.kind === 'node' ? [h.node] : []))
    for (const node of nodes) {
      try { await this.#syncNode(node) } catch (e) { this.#log.error('close: could not save an open file', { path: node.rel, err: e }) }
      await node.fh.close().catch(() => {})
    }
    this.#handles.clear()
    this.#nodes.clear()
    this.#closed = true
    await this.#pre?.close()
    await this.#journal?.close()
  }
}
