// The committed index of a commit: a sorted map `path -> Entry`, split into content-addressed
// ranges (sorted runs of about RANGE_TARGET entries) listed by a metarange, as graveler does.
//
// - A range file's name is the sha256 of its bytes, so identical ranges are stored once and a
//   commit that touches few paths rewrites only the ranges those paths fall into; every other
//   range is reused by id.
// - Reading is a seek: binary search the metarange for the first range whose max key is at least
//   the target, then binary search inside it, then read ranges in order. Ranges come through a
//   bounded LRU cache, so walking a million entries never holds more than a few ranges.
// - Writing streams: `applyChanges` walks the base ranges and a sorted stream of changes side
//   by side and writes ranges as they fill; memory is bounded by a couple of ranges whatever the
//   size of the base or of the change stream.
// - Every file read is checked against its name (sha256); a mismatch is LK_STORE_CORRUPT.
//
// Order is UTF-8 byte order (`compareKeys`), which is code point order; JavaScript's `<` on
// strings is UTF-16 order and differs for astral characters, so the comparator corrects it.

import { mkdir, readFile } from 'node:fs/promises'
import * as path from 'node:path'
import { LRUCache } from 'lru-cache'
import { LkError } from '../core/errors.js'
import type { Metadata } from '../remote/types.js'
import { createExclusive, isErrno, sha256Hex } from './fsutil.js'

/** entries per range (the store's `rangeTarget` option overrides it, for tests) */
export const RANGE_TARGET = 4096

export interface Entry {
  path: string
  /** hex sha256 of the content */
  checksum: string
  size: number
  /** seconds since the epoch */
  mtime: number
  contentType: string
  metadata: Metadata
  /** blob key of the content (equals checksum for content written through the store) */
  address: string
  /**
   * what lakeFS reports as the object's checksum: the MD5 hex of the content (the S3 ETag) for
   * uploads, the client's checksum for linked uploads; absent for entries written before it was
   * kept and for bulk imports (the sha256 `checksum` is reported then). Not part of identity.
   */
  etag?: string
}

/** a change to apply: an entry to put, or null to delete the path */
export interface IndexChange { path: string, entry: Entry | null }

export interface RangeRef { id: string, min: string, max: string, count: number }

export interface Metarange { v: 1, ranges: RangeRef[] }

/** UTF-8 byte order of two strings (= code point order). */
export function compareKeys (a: string, b: string): number {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x !== y) {
      // surrogates (astral code points) sort after U+E000..U+FFFF in code point order
      if (x >= 0xd800 && y >= 0xd800) {
        x = x < 0xe000 ? x + 0x2000 : x - 0x800
        y = y < 0xe000 ? y + 0x2000 : y - 0x800
      }
      return x - y
    }
  }
  return a.length - b.length
}

/** the smallest key greater than every key that starts with `prefix` (for skipping a subtree) */
export function prefixSuccessor (prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
}

/** identity for diff and merge: what the content and its metadata are (mtime excluded, as lakeFS) */
export function sameIdentity (a: Entry | null | undefined, b: Entry | null | undefined): boolean {
  if (a == null || b == null) return a == null && b == null
  if (a.checksum !== b.checksum || a.contentType !== b.contentType || a.address !== b.address || a.size !== b.size) return false
  const ka = Object.keys(a.metadata)
  if (ka.length !== Object.keys(b.metadata).length) return false
  return ka.every(k => b.metadata[k] === a.metadata[k])
}

// the eighth element (etag) is optional: ranges written before it existed decode unchanged
type EncodedEntry = [string, string, number, number, string, Metadata | 0, string | 0, string?]

const encodeEntry = (e: Entry): EncodedEntry => {
  const x: EncodedEntry = [e.path, e.checksum, e.size, e.mtime, e.contentType, Object.keys(e.metadata).length === 0 ? 0 : e.metadata, e.address === e.checksum ? 0 : e.address]
  if (e.etag !== undefined) x.push(e.etag)
  return x
}

const decodeEntry = (x: EncodedEntry): Entry => {
  const e: Entry = { path: x[0], checksum: x[1], size: x[2], mtime: x[3], contentType: x[4], metadata: x[5] === 0 ? {} : x[5], address: x[6] === 0 ? x[1] : x[6] }
  if (typeof x[7] === 'string') e.etag = x[7]
  return e
}

export const EMPTY_METARANGE: Metarange = { v: 1, ranges: [] }

/**
 * Reads and writes the ranges and metaranges of one repository's `index/` directory, with
 * shared LRU caches (keyed by file path, so one cache serves every repository).
 */
export class IndexFiles {
  readonly #dir: string
  readonly #fsync: boolean
  readonly #ranges: LRUCache<string, Entry[]>
  readonly #metaranges: LRUCache<string, Metarange>
  readonly #madeDirs = new Set<string>()

  readonly rangeTarget: number

  constructor (dir: string, caches: { ranges: LRUCache<string, Entry[]>, metaranges: LRUCache<string, Metarange> }, opts: { fsync: boolean, rangeTarget?: number }) {
    this.#dir = dir
    this.rangeTarget = Math.max(2, opts.rangeTarget ?? RANGE_TARGET)
    this.#ranges = caches.ranges
    this.#metaranges = caches.metaranges
    this.#fsync = opts.fsync
  }

  #file (kind: 'ranges' | 'metaranges', id: string): string {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new LkError('LK_STORE_CORRUPT', `bad ${kind} id ${JSON.stringify(id)}`)
    return path.join(this.#dir, kind, id.slice(0, 2), id)
  }

  async #readVerified (kind: 'ranges' | 'metaranges', id: string): Promise<unknown> {
    const file = this.#file(kind, id)
    let raw: Buffer
    try {
      raw = await readFile(file)
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new LkError('LK_STORE_CORRUPT', `${kind} file ${id} is missing`, { details: { file } })
      throw e
    }
    if (sha256Hex(raw) !== id) throw new LkError('LK_STORE_CORRUPT', `${kind} file ${id} does not match its checksum`, { details: { file } })
    try {
      return JSON.parse(raw.toString('utf8'))
    } catch (e) {
      throw new LkError('LK_STORE_CORRUPT', `${kind} file ${id} is not valid JSON`, { details: { file }, cause: e })
    }
  }

  async #write (kind: 'ranges' | 'metaranges', data: string): Promise<string> {
    const id = sha256Hex(data)
    const file = this.#file(kind, id)
    const shard = path.dirname(file)
    if (!this.#madeDirs.has(shard)) {
      await mkdir(shard, { recursive: true })
      this.#madeDirs.add(shard)
    }
    // content-addressed: if it exists it holds these bytes already
    await createExclusive(file, data, { fsync: this.#fsync })
    return id
  }

  async readRange (id: string): Promise<Entry[]> {
    const key = this.#file('ranges', id)
    const hit = this.#ranges.get(key)
    if (hit !== undefined) return hit
    const doc = await this.#readVerified('ranges', id) as { v: 1, e: EncodedEntry[] }
    const entries = doc.e.map(decodeEntry)
    this.#ranges.set(key, entries)
    return entries
  }

  async writeRange (entries: Entry[]): Promise<RangeRef> {
    const first = entries[0]
    const last = entries[entries.length - 1]
    if (first === undefined || last === undefined) throw new LkError('LK_INTERNAL', 'empty range')
    const id = await this.#write('ranges', JSON.stringify({ v: 1, e: entries.map(encodeEntry) }))
    return { id, min: first.path, max: last.path, count: entries.length }
  }

  async readMetarange (id: string): Promise<Metarange> {
    const key = this.#file('metaranges', id)
    const hit = this.#metaranges.get(key)
    if (hit !== undefined) return hit
    const mr = await this.#readVerified('metaranges', id) as Metarange
    this.#metaranges.set(key, mr)
    return mr
  }

  async writeMetarange (mr: Metarange): Promise<string> {
    return await this.#write('metaranges', JSON.stringify(mr))
  }

  /** looks one path up: binary search of the metarange, then of the range */
  async get (mr: Metarange, key: string): Promise<Entry | undefined> {
    const ri = firstRangeAtLeast(mr.ranges, key)
    const ref = mr.ranges[ri]
    if (ref === undefined || compareKeys(ref.min, key) > 0) return undefined
    const entries = await this.readRange(ref.id)
    const e = entries[firstEntryAtLeast(entries, key)]
    return e !== undefined && e.path === key ? e : undefined
  }
}

/** index of the first range whose max >= key (ranges.length when none) */
function firstRangeAtLeast (ranges: RangeRef[], key: string): number {
  let lo = 0
  let hi = ranges.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareKeys(ranges[mid]!.max, key) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

function firstEntryAtLeast (entries: Entry[], key: string): number {
  let lo = 0
  let hi = entries.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compareKeys(entries[mid]!.path, key) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** what a synchronous peek answers when the next range has to be read first */
export const PENDING: unique symbol = Symbol('pending')

/**
 * A sorted source of entries that can seek forward or backward. `peekSync` answers without a
 * promise whenever the entry is in memory (almost always): listing a million entries must not
 * cost a promise per entry; `peek` loads what is needed.
 */
export interface Cursor {
  /** positions at the first entry with path >= key */
  seek (key: string): Promise<void>
  peekSync (): Entry | undefined | typeof PENDING
  peek (): Promise<Entry | undefined>
  /** moves past `e`, the entry the last peek returned */
  advance (e: Entry): void
}

/** walks a committed index in order, one range in memory at a time */
export class IndexCursor implements Cursor {
  readonly #files: IndexFiles
  readonly #ranges: RangeRef[]
  #ri = 0
  #entries: Entry[] | undefined
  #ei = 0

  constructor (files: IndexFiles, mr: Metarange) {
    this.#files = files
    this.#ranges = mr.ranges
  }

  async seek (key: string): Promise<void> {
    this.#ri = firstRangeAtLeast(this.#ranges, key)
    this.#entries = undefined
    const ref = this.#ranges[this.#ri]
    if (ref === undefined) return
    if (compareKeys(ref.min, key) >= 0) { this.#ei = 0; return }
    this.#entries = await this.#files.readRange(ref.id)
    this.#ei = firstEntryAtLeast(this.#entries, key)
  }

  /** the range the cursor stands at the start of, if it does (lets diff skip shared ranges) */
  rangeAtStart (): RangeRef | undefined {
    return this.#ei === 0 ? this.#ranges[this.#ri] : undefined
  }

  skipRange (): void {
    this.#ri++
    this.#entries = undefined
    this.#ei = 0
  }

  peekSync (): Entry | undefined | typeof PENDING {
    for (;;) {
      const ref = this.#ranges[this.#ri]
      if (ref === undefined) return undefined
      if (this.#entries === undefined) return PENDING
      const e = this.#entries[this.#ei]
      if (e !== undefined) return e
      this.skipRange()
    }
  }

  async peek (): Promise<Entry | undefined> {
    for (;;) {
      const e = this.peekSync()
      if (e !== PENDING) return e
      this.#entries = await this.#files.readRange(this.#ranges[this.#ri]!.id)
    }
  }

  advance (_e?: Entry): void { this.#ei++ }
}

/** a cursor over an in-memory sorted array of staged values (null = tombstone) */
export class ArrayCursor {
  readonly #items: Array<[string, Entry | null]>
  #i = 0
  constructor (items: Array<[string, Entry | null]>) { this.#items = items }
  seek (key: string): void {
    let lo = 0
    let hi = this.#items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareKeys(this.#items[mid]![0], key) < 0) lo = mid + 1
      else hi = mid
    }
    this.#i = lo
  }

  peek (): [string, Entry | null] | undefined { return this.#items[this.#i] }
  next (): [string, Entry | null] | undefined { return this.#items[this.#i++] }
}

/** A committed cursor shadowed by staged values: staged entries replace, tombstones hide. */
export class OverlayCursor implements Cursor {
  readonly #base: Cursor
  readonly #top: ArrayCursor
  constructor (base: Cursor, top: ArrayCursor) { this.#base = base; this.#top = top }

  async seek (key: string): Promise<void> {
    await this.#base.seek(key)
    this.#top.seek(key)
  }

  peekSync (): Entry | undefined | typeof PENDING {
    for (;;) {
      const b = this.#base.peekSync()
      if (b === PENDING) return PENDING
      const t = this.#top.peek()
      if (t === undefined) return b
      const c = b === undefined ? -1 : compareKeys(t[0], b.path)
      if (c > 0) return b
      // the staged value shadows the committed one: drop the committed duplicate
      if (c === 0) this.#base.advance(b!)
      // leave a staged entry in place until advance() takes it; skip a tombstone
      if (t[1] !== null) return t[1]
      this.#top.next()
    }
  }

  async peek (): Promise<Entry | undefined> {
    for (;;) {
      const e = this.peekSync()
      if (e !== PENDING) return e
      await this.#base.peek()
    }
  }

  advance (e: Entry): void {
    const t = this.#top.peek()
    if (t !== undefined && t[1] === e) this.#top.next()
    else this.#base.advance(e)
  }
}

/**
 * Accumulates sorted entries into ranges, reusing untouched ranges whole. A range is cut at
 * `rangeTarget` entries only once twice that many are buffered, so a range that grew by a few
 * entries is written as one slightly bigger range instead of a full one plus a tiny remainder
 * that would then have to be merged into (and so rewrite) every range after it.
 */
class RangeWriter {
  readonly #files: IndexFiles
  readonly #target: number
  readonly out: RangeRef[] = []
  buf: Entry[] = []
  written = 0
  reused = 0
  constructor (files: IndexFiles) { this.#files = files; this.#target = files.rangeTarget }

  /** returns a promise only when a range had to be written */
  add (e: Entry): Promise<void> | undefined {
    this.buf.push(e)
    if (this.buf.length < 2 * this.#target) return undefined
    const head = this.buf.slice(0, this.#target)
    this.buf = this.buf.slice(this.#target)
    return this.#write(head)
  }

  async #write (entries: Entry[]): Promise<void> {
    this.out.push(await this.#files.writeRange(entries))
    this.written++
  }

  async flush (): Promise<void> {
    if (this.buf.length === 0) return
    const all = this.buf
    this.buf = []
    await this.#write(all)
  }

  /** at a boundary of the base: cut here unless what is buffered is too small to stand alone */
  async boundary (): Promise<void> {
    if (this.buf.length >= this.#target / 2) await this.flush()
  }

  reuse (ref: RangeRef): void {
    this.out.push(ref)
    this.reused++
  }
}

export interface ApplyResult { metarangeId: string, rangesWritten: number, rangesReused: number, count: number }

/**
 * Applies a sorted stream of change batches (strictly increasing paths) to a metarange and writes the
 * result. Ranges with no change up to their max key are reused by id; a small buffered tail is
 * merged into the next range instead of becoming a tiny range of its own.
 */
export async function applyChanges (files: IndexFiles, base: Metarange, batches: AsyncIterable<IndexChange[]> | Iterable<IndexChange[]>): Promise<ApplyResult> {
  // Changes come in batches and every step below awaits only when it must (a new batch, a
  // range read or write): a million-entry commit must not cost several promises per entry.
  const it = (Symbol.asyncIterator in batches ? batches[Symbol.asyncIterator]() : (batches as Iterable<IndexChange[]>)[Symbol.iterator]()) as AsyncIterator<IndexChange[]> | Iterator<IndexChange[]>
  let batch: IndexChange[] = []
  let bi = 0
  let done = false
  let lastPath: string | undefined
  const refill = async (): Promise<IndexChange | undefined> => {
    while (bi >= batch.length && !done) {
      const r = await it.next()
      if (r.done === true) { done = true; break }
      for (const c of r.value) {
        if (lastPath !== undefined && compareKeys(c.path, lastPath) <= 0) {
          throw new LkError('LK_USAGE', `changes are not sorted by path: ${JSON.stringify(c.path)} after ${JSON.stringify(lastPath)}`)
        }
        lastPath = c.path
      }
      batch = r.value
      bi = 0
    }
    return batch[bi]
  }
  const peek = (): IndexChange | undefined | Promise<IndexChange | undefined> => (bi < batch.length ? batch[bi] : done ? undefined : refill())
  const take = (): void => { bi++ }

  const w = new RangeWriter(files)
  let count = 0
  const emit = (e: Entry): Promise<void> | undefined => { count++; return w.add(e) }

  for (const ref of base.ranges) {
    let next = peek()
    if (next instanceof Promise) next = await next
    const untouched = next === undefined || compareKeys(next.path, ref.max) > 0
    if (untouched && w.buf.length === 0) { w.reuse(ref); count += ref.count; continue }
    if (untouched && w.buf.length >= files.rangeTarget / 2) { await w.flush(); w.reuse(ref); count += ref.count; continue }
    // touched, or a small tail is buffered: merge the range (with the changes up to its max key
    // and those in the gap before it) into the buffer; a tail is folded in at most once
    const entries = await files.readRange(ref.id)
    let i = 0
    for (;;) {
      let c = peek()
      if (c instanceof Promise) c = await c
      if (c === undefined || compareKeys(c.path, ref.max) > 0) break
      while (i < entries.length && compareKeys(entries[i]!.path, c.path) < 0) { const p = emit(entries[i++]!); if (p !== undefined) await p }
      if (i < entries.length && entries[i]!.path === c.path) i++
      if (c.entry !== null) { const p = emit(c.entry); if (p !== undefined) await p }
      take()
    }
    while (i < entries.length) { const p = emit(entries[i++]!); if (p !== undefined) await p }
    await w.boundary()
  }
  for (;;) {
    let c = peek()
    if (c instanceof Promise) c = await c
    if (c === undefined) break
    if (c.entry !== null) { const p = emit(c.entry); if (p !== undefined) await p }
    take()
  }
  await w.flush()
  const metarangeId = await files.writeMetarange({ v: 1, ranges: w.out })
  return { metarangeId, rangesWritten: w.written, rangesReused: w.reused, count }
}

export interface IndexDiff { path: string, left: Entry | null, right: Entry | null }

/**
 * Differences between two indexes in path order, from `from` (inclusive) on, limited to
 * `prefix`. Ranges both sides share (same id, both cursors at its start) are skipped unread.
 */
export async function * diffIndexes (files: IndexFiles, left: Metarange, right: Metarange, opts: { prefix?: string, from?: string } = {}): AsyncGenerator<IndexDiff> {
  const prefix = opts.prefix ?? ''
  const start = opts.from !== undefined && compareKeys(opts.from, prefix) > 0 ? opts.from : prefix
  const l = new IndexCursor(files, left)
  const r = new IndexCursor(files, right)
  await l.seek(start)
  await r.seek(start)
  for (;;) {
    const lr = l.rangeAtStart()
    const rr = r.rangeAtStart()
    if (lr !== undefined && rr !== undefined && lr.id === rr.id) {
      if (prefix !== '' && compareKeys(lr.min, prefix) > 0 && !lr.min.startsWith(prefix)) return
      l.skipRange(); r.skipRange(); continue
    }
    let a = l.peekSync()
    if (a === PENDING) a = await l.peek()
    let b = r.peekSync()
    if (b === PENDING) b = await r.peek()
    const aIn = a !== undefined && a.path.startsWith(prefix)
    const bIn = b !== undefined && b.path.startsWith(prefix)
    if (!aIn && !bIn) return
    const c = !aIn ? 1 : !bIn ? -1 : compareKeys(a!.path, b!.path)
    if (c < 0) { l.advance(a!); yield { path: a!.path, left: a!, right: null }; continue }
    if (c > 0) { r.advance(b!); yield { path: b!.path, left: null, right: b! }; continue }
    l.advance(a!); r.advance(b!)
    if (!sameIdentity(a, b)) yield { path: a!.path, left: a!, right: b! }
  }
}
