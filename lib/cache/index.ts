// The content cache: an on-disk, content-addressed cache of object bytes shared by every mount of
// the daemon (so two branches that share a file share its cached bytes).
//
// What it owns: the files under `dir` (chunks and a `tmp/` folder), their LRU index and a small
// pool of open descriptors. Keys are the object's content checksum plus a chunk index: objects
// up to `chunkSize` are one chunk fetched whole in one request; larger ones are fetched in
// `chunkSize` ranges, with read-ahead of the next chunks when reads are sequential.
//
// What it must never do: expose a half-written chunk (chunks are written to tmp/ and renamed into
// place), evict a chunk while a read holds it (pins), fetch the same missing chunk twice at once
// (one in-flight promise per chunk), or wait on a remote forever (every fetch has a deadline and
// fails as EIO/ETIMEDOUT-class LkError).
//
// Readers are answered from the fetched bytes, not from the file: a fetched chunk is kept in
// memory (`#pending`) while it is written to disk in the background, and reads of it meanwhile
// copy from memory. The bytes held so are bounded (`maxPendingBytes`): past the bound a fetch
// waits for its own write before answering (the old, disk-paced behaviour), so a disk slower than
// the network cannot grow memory. A write that fails (ENOSPC after the evict-and-retry, EIO) only
// means the chunk is not kept: its readers were served, the failure is logged.
//
// Concurrency: all state is owned by the event loop; between awaits a chunk can be evicted unless
// it is pinned, so a read pins its chunk before the first await that uses the file and unpins
// in `finally`. An evicted pinned chunk is unlinked when its last pin goes.
//
// Restarts: `open` rebuilds the index from the directory, oldest mtime first, so the LRU order
// survives; a hit refreshes the chunk's mtime at most once a minute (cheap, and good enough for
// ordering after a restart).

import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readdir, rename, rm, stat, unlink, utimes, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { LRUCache } from 'lru-cache'
import { LkError, errnoOf } from '../core/errors.js'
import type { RepoName } from '../core/ids.js'
import { silentLogger, type Logger } from '../core/log.js'
import type { ObjectStat, Remote } from '../remote/types.js'

export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024

export interface ContentCacheOptions {
  dir: string
  maxBytes: number
  chunkSize?: number
  /** how many chunks to fetch ahead of a sequential reader (default 2) */
  readAhead?: number
  /** deadline of one fetch from the remote (default 30 s) */
  fetchTimeoutMs?: number
  /** open descriptors kept for hot chunks (default 256) */
  maxOpenFiles?: number
  /** fetched bytes held in memory while their cache files are written (default 64 MiB) */
  maxPendingBytes?: number
  /** chunks one read-ahead request asks for at most (default 4) */
  spanChunks?: number
  /** read-ahead bytes in flight at once, all readers together (default 128 MiB) */
  maxAheadBytes?: number
  log?: Logger
}

export interface CacheCounters {
  hits: number
  misses: number
  bytesFetched: number
  fetches: number
  evictions: number
  /** chunks fetched before any read asked for them (prefetch of the next files) */
  prefetches: number
  /** fetched chunks that could not be written to the cache (served, not kept) */
  writeFailures: number
}

/** an open descriptor; closed when evicted from the pool and no read uses it */
interface FdEntry { p: Promise<FileHandle>, users: number, evicted: boolean }

/** a chunk just fetched: its bytes, for the readers that waited on the fetch */
interface Fetched { data: Buffer }

/** a fetched chunk whose cache file is being written; reads copy from `data` meanwhile */
interface Pending { data: Buffer, written: Promise<void> }

interface ChunkEntry { file: string, size: number, pins: number, dead: boolean, touchedMs: number }

/** where the object's bytes come from: the remote and repository that can read its checksum */
export interface ObjectSource {
  remote: Remote
  repo: RepoName
  stat: ObjectStat
  /** the reader's own counters (a mount's stats), bumped alongside the cache-wide ones */
  counters?: Pick<CacheCounters, 'hits' | 'misses' | 'bytesFetched'>
}

function closeFd (fd: FdEntry): void {
  fd.p.then(async h => { await h.close() }).catch(() => {})
}

const SAFE_KEY = /^[A-Za-z0-9_-]{1,128}$/

export class ContentCache {
  readonly dir: string
  readonly maxBytes: number
  readonly chunkSize: number
  readonly counters: CacheCounters = { hits: 0, misses: 0, bytesFetched: 0, fetches: 0, evictions: 0, prefetches: 0, writeFailures: 0 }
  #readAhead: number
  #maxPendingBytes: number
  #pending = new Map<string, Pending>()
  #pendingBytes = 0
  #spanChunks: number
  #maxAheadBytes: number
  #aheadBytes = 0
  #fetchTimeoutMs: number
  #log: Logger
  #lru: LRUCache<string, ChunkEntry>
  #inflight = new Map<string, Promise<Fetched>>()
  #fds: LRUCache<string, FdEntry>
  /** last chunk index read per object, to detect sequential readers */
  #lastChunk = new LRUCache<string, number>({ max: 4096 })

  private constructor (opts: ContentCacheOptions) {
    this.dir = opts.dir
    this.maxBytes = opts.maxBytes
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE
    this.#readAhead = opts.readAhead ?? 2
    this.#fetchTimeoutMs = opts.fetchTimeoutMs ?? 30_000
    this.#maxPendingBytes = opts.maxPendingBytes ?? 64 * 1024 * 1024
    this.#spanChunks = Math.max(1, opts.spanChunks ?? 4)
    this.#maxAheadBytes = opts.maxAheadBytes ?? 128 * 1024 * 1024
    this.#log = opts.log ?? silentLogger
    this.#fds = new LRUCache<string, FdEntry>({
      max: opts.maxOpenFiles ?? 256,
      dispose: (fd) => {
        fd.evicted = true
        if (fd.users === 0) closeFd(fd)
      },
    })
    this.#lru = new LRUCache<string, ChunkEntry>({
      maxSize: Math.max(1, opts.maxBytes),
      sizeCalculation: (e) => Math.max(1, e.size),
      dispose: (e, key, reason) => {
        if (reason === 'set') return
        this.counters.evictions++
        e.dead = true
        this.#fds.delete(key)
        if (e.pins === 0) this.#unlinkQuietly(e.file)
      },
    })
  }

  /** opens (and creates) the cache directory and rebuilds the index from the files there */
  static async open (opts: ContentCacheOptions): Promise<ContentCache> {
    const c = new ContentCache(opts)
    await mkdir(join(c.dir, 'tmp'), { recursive: true })
    await rm(join(c.dir, 'tmp'), { recursive: true, force: true })
    await mkdir(join(c.dir, 'tmp'), { recursive: true })
    // one directory per first byte of the key, made once (not per chunk written)
    await Promise.all(Array.from({ length: 256 }, async (_, i) => { await mkdir(join(c.dir, i.toString(16).padStart(2, '0')), { recursive: true }) }))
    await c.#rebuild()
    return c
  }

  async #rebuild (): Promise<void> {
    const found: Array<{ key: string, file: string, size: number, mtimeMs: number }> = []
    for (const sub of await readdir(this.dir)) {
      if (sub === 'tmp' || sub.length !== 2) continue
      let names: string[]
      try { names = await readdir(join(this.dir, sub)) } catch { continue }
      for (const name of names) {
        const file = join(this.dir, sub, name)
        try {
          const st = await stat(file)
          if (st.isFile()) found.push({ key: name, file, size: st.size, mtimeMs: st.mtimeMs })
        } catch {}
      }
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs)
    for (const f of found) this.#lru.set(f.key, { file: f.file, size: f.size, pins: 0, dead: false, touchedMs: f.mtimeMs })
    this.#log.debug('cache index rebuilt', { entries: found.length, bytes: this.#lru.calculatedSize })
  }

  get usedBytes (): number { return this.#lru.calculatedSize }
  get entries (): number { return this.#lru.size }

  #keyOf (checksum: string, index: number): string {
    const base = SAFE_KEY.test(checksum) ? checksum : createHash('sha256').update(checksum).digest('hex')
    return `${base}.${index}`
  }

  #fileOf (key: string): string { return join(this.dir, key.slice(0, 2), key) }

  #unlinkQuietly (file: string): void {
    unlink(file).catch((e: unknown) => { if (errnoOf(e) !== 'ENOENT') this.#log.warn('cache: could not delete evicted chunk', { file, err: e }) })
  }

  #chunkLen (stat: ObjectStat, index: number): number {
    return Math.max(0, Math.min(this.chunkSize, stat.size - index * this.chunkSize))
  }

  /** true when every chunk of the object is cached or being written to the cache (no I/O) */
  has (stat: ObjectStat): boolean {
    const n = Math.max(1, Math.ceil(stat.size / this.chunkSize))
    for (let i = 0; i < n; i++) {
      const key = this.#keyOf(stat.checksum, i)
      if (!this.#lru.has(key) && !this.#pending.has(key)) return false
    }
    return true
  }

  /** bytes fetched and held in memory until their cache files are written */
  get pendingBytes (): number { return this.#pendingBytes }

  /**
   * Fetches the object's first chunk (a small file whole) unless it is cached, pending or being
   * fetched: for a reader about to open it. Resolves when the bytes are in memory; never rejects
   * (a failed prefetch is retried by the read that needs it).
   */
  async prefetch (src: ObjectSource): Promise<void> {
    const key = this.#keyOf(src.stat.checksum, 0)
    if (this.#lru.has(key) || this.#pending.has(key) || this.#inflight.has(key)) return
    this.counters.prefetches++
    try {
      await this.#ensure(src, 0, key)
    } catch (e) {
      this.#log.debug('cache: prefetch failed', { path: src.stat.path, err: e })
    }
  }

  /** waits until every fetched chunk is written (or has failed to be) */
  async flush (): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending.values()].map(async p => { await p.written }))
  }

  /**
   * Reads up to `len` bytes at `pos` of the object into `buf` (from offset 0), fetching missing
   * chunks. Returns the number of bytes read (short only at the end of the object).
   */
  async read (src: ObjectSource, buf: Buffer, len: number, pos: number): Promise<number> {
    const { stat } = src
    if (pos >= stat.size || len <= 0) return 0
    const end = Math.min(stat.size, pos + len)
    // read-ahead first: its fetches overlap this read's own (a first read at 0 no longer waits
    // for chunk 0 before asking for chunks 1..n)
    this.#maybeReadAhead(src, Math.floor((end - 1) / this.chunkSize), pos === 0)
    let done = 0
    while (pos + done < end) {
      const at = pos + done
      const index = Math.floor(at / this.chunkSize)
      const inChunk = at - index * this.chunkSize
      const want = Math.min(end - at, this.chunkSize - inChunk)
      const n = await this.#readChunk(src, index, buf, done, want, inChunk)
      if (n <= 0) throw new LkError('LK_STORE_CORRUPT', `cached chunk ${index} of ${stat.path} is shorter than expected`, { errno: 'EIO' })
      done += n
    }
    return done
  }

  async #readChunk (src: ObjectSource, index: number, buf: Buffer, bufOff: number, len: number, chunkPos: number): Promise<number> {
    const key = this.#keyOf(src.stat.checksum, index)
    const entry = this.#lru.get(key)
    if (entry === undefined || entry.dead) {
      const pending = this.#pending.get(key)
      if (pending !== undefined) {
        // fetched, its file still being written: a hit from memory
        this.counters.hits++
        if (src.counters !== undefined) src.counters.hits++
        const n = Math.max(0, Math.min(len, pending.data.length - chunkPos))
        pending.data.copy(buf, bufOff, chunkPos, chunkPos + n)
        return n
      }
      this.counters.misses++
      if (src.counters !== undefined) src.counters.misses++
      // the readers that waited for the fetch copy from its buffer: no reopen of the new file
      const { data } = await this.#ensure(src, index, key)
      const n = Math.max(0, Math.min(len, data.length - chunkPos))
      data.copy(buf, bufOff, chunkPos, chunkPos + n)
      return n
    }
    this.counters.hits++
    if (src.counters !== undefined) src.counters.hits++
    entry.pins++
    const fd = this.#fd(key, entry)
    fd.users++
    try {
      this.#touch(entry)
      const fh = await fd.p
      const { bytesRead } = await fh.read(buf, bufOff, len, chunkPos)
      return bytesRead
    } finally {
      fd.users--
      if (fd.users === 0 && fd.evicted) closeFd(fd)
      entry.pins--
      if (entry.pins === 0 && entry.dead) this.#unlinkQuietly(entry.file)
    }
  }

  #touch (e: ChunkEntry): void {
    const now = Date.now()
    if (now - e.touchedMs < 60_000) return
    e.touchedMs = now
    const t = new Date(now)
    utimes(e.file, t, t).catch(() => {})
  }

  #fd (key: string, entry: ChunkEntry): FdEntry {
    let fd = this.#fds.get(key)
    if (fd === undefined) {
      const p = open(entry.file, 'r')
      const created: FdEntry = { p, users: 0, evicted: false }
      p.catch(() => { if (this.#fds.peek(key) === created) this.#fds.delete(key) })
      this.#fds.set(key, created)
      fd = created
    }
    return fd
  }

  #maybeReadAhead (src: ObjectSource, lastIndex: number, fromStart: boolean): void {
    const chunks = Math.ceil(src.stat.size / this.chunkSize)
    if (chunks <= 1 || this.#readAhead <= 0) return
    const prev = this.#lastChunk.get(src.stat.checksum)
    this.#lastChunk.set(src.stat.checksum, lastIndex)
    // sequential: this read ended in the chunk after (or the same as) the previous one; a first
    // read at offset 0 is taken as the start of a sequential read (cp, dd, a loader reading a
    // whole shard), so the fetches of the next chunks overlap the first one's consumption
    // instead of waiting for a second read (bench/: cold 256 MiB reads were fetch-latency bound)
    const sequential = prev === undefined ? fromStart : (lastIndex === prev || lastIndex === prev + 1)
    if (!sequential) return
    // The missing chunks of the window go out as spans: one range request for up to
    // `#spanChunks` consecutive chunks, because a request's fixed cost at the object store is
    // large next to 8 MiB (bench/README.md). A span shorter than that waits for the window to
    // slide further, unless it ends the object or too little is ahead for the reader to go on.
    const last = Math.min(chunks - 1, lastIndex + this.#readAhead)
    // without a streaming read a span's first chunk would wait for its last: one chunk per request
    const span = src.remote.readRangeParts === undefined ? 1 : this.#spanChunks
    let ahead = 0
    let run: number[] = []
    const launch = (): void => {
      if (run.length > 0) this.#fetchSpan(src, run[0] as number, run.length)
      run = []
    }
    for (let i = lastIndex + 1; i <= last; i++) {
      const key = this.#keyOf(src.stat.checksum, i)
      if (this.#lru.has(key) || this.#inflight.has(key) || this.#pending.has(key)) {
        ahead++
        launch()
        continue
      }
      if (this.#aheadBytes >= this.#maxAheadBytes) return
      run.push(i)
      if (run.length === span) { ahead += run.length; launch() }
    }
    if (run.length > 0 && (last === chunks - 1 || ahead < span)) launch()
  }

  /**
   * Read-ahead of chunks [first, first + n). One chunk: an ordinary fetch. Several: one streamed
   * range request (Remote.readRangeParts), each chunk in flight (joined by readers like any
   * fetch) until its own bytes have arrived. Failures are the readers' to see (a chunk the span
   * did not deliver fails, and its next reader fetches it alone); read-ahead only logs them.
   */
  #fetchSpan (src: ObjectSource, first: number, n: number): void {
    const lens = Array.from({ length: n }, (_, k) => this.#chunkLen(src.stat, first + k))
    const total = lens.reduce((a, b) => a + b, 0)
    const readParts = src.remote.readRangeParts?.bind(src.remote)
    this.#aheadBytes += total
    const done = (): void => { this.#aheadBytes -= total }
    if (n === 1 || readParts === undefined) {
      for (let k = 0; k < n; k++) {
        const key = this.#keyOf(src.stat.checksum, first + k)
        this.#ensure(src, first + k, key).catch((e: unknown) => { this.#log.debug('cache: read-ahead failed', { path: src.stat.path, chunk: first + k, err: e }) })
      }
      Promise.allSettled(Array.from({ length: n }, async (_, k) => await this.#inflight.get(this.#keyOf(src.stat.checksum, first + k)))).finally(done).catch(() => {})
      return
    }
    const start = first * this.chunkSize
    const parts = lens.map(() => {
      let resolve!: (b: Buffer) => void
      let reject!: (e: unknown) => void
      const promise = new Promise<Buffer>((res, rej) => { resolve = res; reject = rej })
      promise.catch(() => {})
      return { promise, resolve, reject }
    })
    const whole = this.#withDeadline(src, start, start + total, n, async () => {
      await readParts(src.repo, src.stat, start, start + total, this.chunkSize, (k, part) => { parts[k]?.resolve(part) })
      return Buffer.alloc(0)
    })
    whole.then(() => {
      const short = new LkError('LK_REMOTE_UNAVAILABLE', `remote returned less than ${total} bytes of ${src.stat.path} from ${start}`, { errno: 'EIO' })
      for (const p of parts) p.reject(short) // no-op for the parts delivered
    }, (e: unknown) => { for (const p of parts) p.reject(e) }).finally(done)
    for (let k = 0; k < n; k++) {
      const index = first + k
      const key = this.#keyOf(src.stat.checksum, index)
      const want = lens[k] as number
      const p = (async (): Promise<Fetched> => {
        const part = await (parts[k] as { promise: Promise<Buffer> }).promise
        if (part.length !== want) {
          throw new LkError('LK_REMOTE_UNAVAILABLE', `remote returned ${part.length} bytes of chunk ${index} of ${src.stat.path}, expected ${want}`, { errno: 'EIO' })
        }
        return await this.#keep(src, key, part)
      })().finally(() => { this.#inflight.delete(key) })
      p.catch((e: unknown) => { this.#log.debug('cache: read-ahead failed', { path: src.stat.path, chunk: index, err: e }) })
      this.#inflight.set(key, p)
    }
  }

  /** makes sure the chunk is on disk; one fetch per chunk however many callers wait */
  async #ensure (src: ObjectSource, index: number, key: string): Promise<Fetched> {
    let p = this.#inflight.get(key)
    if (p === undefined) {
      p = this.#fetch(src, index, key).finally(() => { this.#inflight.delete(key) })
      this.#inflight.set(key, p)
    }
    return await p
  }

  async #fetch (src: ObjectSource, index: number, key: string): Promise<Fetched> {
    const start = index * this.chunkSize
    const want = this.#chunkLen(src.stat, index)
    const data = want === 0 ? Buffer.alloc(0) : await this.#withDeadline(src, start, start + want)
    if (data.length !== want) {
      throw new LkError('LK_REMOTE_UNAVAILABLE', `remote returned ${data.length} bytes of ${src.stat.path} [${start}, ${start + want}), expected ${want}`, { errno: 'EIO' })
    }
    return await this.#keep(src, key, data)
  }

  /** counts a fetched chunk and keeps it (in the background, within the memory bound) */
  async #keep (src: ObjectSource, key: string, data: Buffer): Promise<Fetched> {
    this.counters.fetches++
    this.counters.bytesFetched += data.length
    if (src.counters !== undefined) src.counters.bytesFetched += data.length
    // larger than the whole cache: serve the waiting readers from memory, keep nothing
    if (data.length > this.maxBytes) return { data }
    const written = this.#persist(key, data)
    // past the memory bound, answer only once written: the disk paces the fetches
    if (this.#pendingBytes > this.#maxPendingBytes) await written
    return { data }
  }

  /** writes the chunk's file in the background; reads copy from memory until it is in the index */
  async #persist (key: string, data: Buffer): Promise<void> {
    const file = this.#fileOf(key)
    const p: Pending = { data, written: Promise.resolve() }
    this.#pending.set(key, p)
    this.#pendingBytes += data.length
    p.written = (async () => {
      try {
        await this.#writeAtomic(file, data)
        this.#lru.set(key, { file, size: data.length, pins: 0, dead: false, touchedMs: Date.now() })
      } catch (e) {
        this.counters.writeFailures++
        this.#log.warn('cache: a fetched chunk could not be kept (its readers were served)', { file, err: e })
      } finally {
        if (this.#pending.get(key) === p) this.#pending.delete(key)
        this.#pendingBytes -= data.length
      }
    })()
    await p.written
  }

  /** one remote read under the fetch deadline (a span of `chunks` chunks gets one deadline per chunk) */
  async #withDeadline (src: ObjectSource, start: number, end: number, chunks = 1, call?: () => Promise<Buffer>): Promise<Buffer> {
    let timer: NodeJS.Timeout | undefined
    const ms = this.#fetchTimeoutMs * chunks
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new LkError('LK_REMOTE_TIMEOUT', `reading ${src.stat.path} [${start}, ${end}) took longer than ${ms} ms`, { errno: 'EIO' }))
      }, ms)
    })
    try {
      return await Promise.race([call === undefined ? src.remote.readRange(src.repo, src.stat, start, end) : call(), deadline])
    } catch (e) {
      if (e instanceof LkError) {
        // a pinned object that the remote cannot find is an I/O failure for a reader, not ENOENT
        throw e.errno === 'EIO' ? e : new LkError(e.code, e.message, { errno: 'EIO', cause: e, ...(e.details === undefined ? {} : { details: e.details }) })
      }
      throw new LkError('LK_REMOTE_UNAVAILABLE', `reading ${src.stat.path} from ${src.remote.description} failed: ${(e as Error).message}`, { errno: 'EIO', cause: e })
    } finally {
      clearTimeout(timer)
    }
  }

  /** writes via tmp/ + rename; on ENOSPC evicts enough room and retries once */
  async #writeAtomic (file: string, data: Buffer): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const tmp = join(this.dir, 'tmp', randomBytes(8).toString('hex'))
      try {
        const fh = await open(tmp, 'wx')
        try { await fh.writeFile(data) } finally { await fh.close() }
        try {
          await rename(tmp, file)
        } catch (e) {
          // the fan-out directories are made at open for hex keys; others on first use
          if (errnoOf(e) !== 'ENOENT') throw e
          await mkdir(join(file, '..'), { recursive: true })
          await rename(tmp, file)
        }
        return
      } catch (e) {
        await rm(tmp, { force: true }).catch(() => {})
        if (errnoOf(e) !== 'ENOSPC') throw e
        if (attempt > 0 || !this.#evict(Math.max(data.length, this.chunkSize) * 2)) {
          throw new LkError('LK_NO_SPACE', `no space left for the cache in ${this.dir} (wanted ${data.length} bytes)`, { cause: e })
        }
        this.#log.warn('cache: disk full, evicted chunks and retrying', { file })
      }
    }
  }

  /** evicts least-recently-used unpinned chunks worth `bytes`; false when nothing could go */
  #evict (bytes: number): boolean {
    let freed = 0
    const keys = [...this.#lru.rkeys()]
    for (const k of keys) {
      if (freed >= bytes) break
      const e = this.#lru.peek(k)
      if (e === undefined || e.pins > 0) continue
      freed += e.size
      this.#lru.delete(k)
    }
    return freed > 0
  }

  /** copies the whole object into `dest` (used for copy-on-write of a file opened for writing) */
  async copyTo (src: ObjectSource, dest: FileHandle): Promise<void> {
    const buf = Buffer.allocUnsafe(Math.min(this.chunkSize, Math.max(1, src.stat.size)))
    for (let pos = 0; pos < src.stat.size;) {
      const n = await this.read(src, buf, buf.length, pos)
      await dest.write(buf, 0, n, pos)
      pos += n
    }
  }

  /** the object's bytes as an async iterable of buffers (for committing a renamed, unchanged file) */
  async * stream (src: ObjectSource): AsyncGenerator<Buffer> {
    for (let pos = 0; pos < src.stat.size;) {
      const buf = Buffer.allocUnsafe(Math.min(this.chunkSize, src.stat.size - pos))
      const n = await this.read(src, buf, buf.length, pos)
      yield buf.subarray(0, n)
      pos += n
    }
  }

  /** finishes the writes in progress and closes cached descriptors; the files stay for the next open */
  async close (): Promise<void> {
    await this.flush()
    const all = [...this.#fds.values()]
    this.#fds.clear()
    await Promise.allSettled(all.map(async fd => { await fd.p }))
  }
}
