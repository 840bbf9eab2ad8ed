// Prefetch of the next files of a directory that is read file after file.
//
// Why: a cold epoch over many small files (a DataLoader worker reading its shard of a sorted file
// list) waits one remote GET per file, and the daemon sits idle in between. When the files of a
// listed directory are read in listing order, the next ones will be read soon: fetching them
// before they are asked for turns per-file latency into throughput.
//
// Policy, per directory: a read at offset 0 of a committed file records its position in the
// directory's listing. Reads near the furthest position read so far (at most `window` files past
// it, or somewhat behind it: several readers share a sorted list out round-robin, so they arrive
// out of order and some lag) advance that frontier; after two such reads the directory counts as read in order and
// the `window` files past the frontier are queued; when the window runs past the directory's
// last file, it goes on into the next directory of the parent's listing (when that one is
// listed: a loader that walked the tree has listed them all). A read far from the frontier (a
// random access pattern, another epoch starting over) resets the directory and drops what it
// had queued.
//
// Bounds: at most `inFlight` fetches at once for the whole mount, `window` files queued per
// directory, `MAX_DIRS` directories tracked. Cancel-safety: dropped work is only ever queued work;
// a fetch already started finishes (it is bounded by the cache's fetch deadline) and only fills
// the cache; `close()` drops the queue and starts nothing more. A failed prefetch is left to the
// read that needs the file (it fetches again). Only the cache is touched: no handle, no lock.
//
// Knows FsCore's world only through the functions it is given (listing, fetch), so it has no
// import beyond the remote's types.

import type { ObjectStat } from '../remote/types.js'

export interface PrefetchOptions {
  /** the directory's listing in order (name -> stat, or a number for a subdirectory), or undefined when it has not been listed (never lists) */
  listing: (dir: string) => Promise<Listing | undefined>
  /** whether the file at `rel` still reads the committed `stat` (not written in this mount) */
  isCommitted: (rel: string, stat: ObjectStat) => boolean
  /** fetches the file into the cache; must not reject */
  fetch: (stat: ObjectStat) => Promise<void>
  /** files fetched ahead of the furthest one read (default 8; 0 turns prefetch off) */
  window?: number
  /** prefetch fetches in flight at once for the mount (default 8) */
  inFlight?: number
}

/** a directory's children in listing order: a file's stat, or a number for a subdirectory (lib/fs/base.ts) */
export type Listing = ReadonlyMap<string, ObjectStat | number>

interface Files { names: string[], stats: ObjectStat[], index: Map<string, number> }

interface DirState { files: Files, frontier: number, inOrder: number, queuedUpTo: number, continued: boolean }

interface Job { dir: string, rel: string, stat: ObjectStat }

const MAX_DIRS = 64

export class DirPrefetcher {
  readonly #o: PrefetchOptions
  readonly #window: number
  readonly #inFlight: number
  /** listing → its files in order (a listing object is replaced, never changed, on re-pin) */
  readonly #files = new WeakMap<object, Files>()
  /** Map order is recency: the first entry is the least recently read directory */
  readonly #dirs = new Map<string, DirState>()
  #queue: Job[] = []
  #running = 0
  #closed = false
  /** counters, for tests and stats */
  readonly counters = { queued: 0, started: 0, dropped: 0 }

  constructor (o: PrefetchOptions) {
    this.#o = o
    this.#window = Math.max(0, o.window ?? 8)
    this.#inFlight = Math.max(1, o.inFlight ?? 8)
  }

  get running (): number { return this.#running }
  get queued (): number { return this.#queue.length }

  /** a read at offset 0 of the committed file at `rel` (fire and forget) */
  opened (rel: string): void {
    if (this.#closed || this.#window === 0) return
    this.#opened(rel).catch(() => {})
  }

  async #opened (rel: string): Promise<void> {
    const slash = rel.lastIndexOf('/')
    const dir = slash === -1 ? '' : rel.slice(0, slash)
    const listing = await this.#o.listing(dir)
    if (listing === undefined || this.#closed) return
    const files = this.#filesOf(listing)
    const i = files.index.get(rel.slice(slash + 1))
    if (i === undefined) return
    let st = this.#dirs.get(dir)
    if (st !== undefined && st.files !== files) st = undefined // re-pinned: a new listing
    this.#dirs.delete(dir)
    // ahead of the frontier by more than the window: a skip; far behind it: a new pass
    if (st === undefined || i > st.frontier + this.#window || i < st.frontier - Math.max(32, 4 * this.#window)) {
      if (st !== undefined) this.#drop(dir)
      st = { files, frontier: i, inOrder: 1, queuedUpTo: i, continued: false }
    } else {
      st.inOrder++
      st.frontier = Math.max(st.frontier, i)
    }
    this.#dirs.set(dir, st)
    while (this.#dirs.size > MAX_DIRS) {
      const oldest = this.#dirs.keys().next().value as string
      this.#dirs.delete(oldest)
      this.#drop(oldest)
    }
    if (st.inOrder < 2) return
    const last = Math.min(files.names.length - 1, st.frontier + this.#window)
    for (let k = Math.max(st.queuedUpTo, st.frontier) + 1; k <= last; k++) {
      const stat = files.stats[k] as ObjectStat
      const child = dir === '' ? files.names[k] as string : `${dir}/${files.names[k] as string}`
      if (stat.size === 0 || !this.#o.isCommitted(child, stat)) continue
      this.#queue.push({ dir, rel: child, stat })
      this.counters.queued++
    }
    st.queuedUpTo = Math.max(st.queuedUpTo, last)
    // the window reaches past the directory's end: go on into the next directory beside it
    const over = st.frontier + this.#window - (files.names.length - 1)
    if (over > 0 && !st.continued && dir !== '') {
      st.continued = true
      await this.#continueAfter(dir, over)
    }
    this.#pump()
  }

  /** queues the first `count` files of the directory listed after `dir` in its parent */
  async #continueAfter (dir: string, count: number): Promise<void> {
    const slash = dir.lastIndexOf('/')
    const parent = slash === -1 ? '' : dir.slice(0, slash)
    const siblings = await this.#o.listing(parent)
    if (siblings === undefined || this.#closed) return
    let seen = false
    let next: string | undefined
    for (const [name, node] of siblings) {
      if (seen && typeof node !== 'object') { next = name; break }
      if (name === dir.slice(slash + 1)) seen = true
    }
    if (next === undefined) return
    const nextDir = parent === '' ? next : `${parent}/${next}`
    const listing = await this.#o.listing(nextDir)
    if (listing === undefined || this.#closed || this.#dirs.has(nextDir)) return
    const files = this.#filesOf(listing)
    const last = Math.min(files.names.length, count) - 1
    // a reader arriving at its first file finds it in order already (frontier just before it)
    this.#dirs.set(nextDir, { files, frontier: -1, inOrder: 1, queuedUpTo: last, continued: false })
    for (let k = 0; k <= last; k++) {
      const stat = files.stats[k] as ObjectStat
      const child = `${nextDir}/${files.names[k] as string}`
      if (stat.size === 0 || !this.#o.isCommitted(child, stat)) continue
      this.#queue.push({ dir: nextDir, rel: child, stat })
      this.counters.queued++
    }
  }

  #filesOf (listing: Listing): Files {
    let f = this.#files.get(listing)
    if (f === undefined) {
      f = { names: [], stats: [], index: new Map() }
      for (const [name, node] of listing) {
        if (typeof node !== 'object') continue
        f.index.set(name, f.names.length)
        f.names.push(name)
        f.stats.push(node)
      }
      this.#files.set(listing, f)
    }
    return f
  }

  /** drops a directory's queued (not started) prefetches */
  #drop (dir: string): void {
    const before = this.#queue.length
    this.#queue = this.#queue.filter(j => j.dir !== dir)
    this.counters.dropped += before - this.#queue.length
  }

  #pump (): void {
    while (!this.#closed && this.#running < this.#inFlight && this.#queue.length > 0) {
      const job = this.#queue.shift() as Job
      this.#running++
      this.counters.started++
      this.#o.fetch(job.stat).catch(() => {}).finally(() => {
        this.#running--
        this.#pump()
      })
    }
  }

  /** drops everything queued and starts nothing more (fetches in flight finish on their own) */
  close (): void {
    this.#closed = true
    this.counters.dropped += this.#queue.length
    this.#queue = []
    this.#dirs.clear()
  }
}
