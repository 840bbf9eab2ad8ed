// Staging areas: the uncommitted puts and tombstones of a branch, graveler style.
//
// A branch names one current staging token and a list of sealed tokens (newest first) that a
// commit in flight is turning into a commit. Each token is an append-only log file
// `<staging>/<token>.log` of JSON records:
//   {"p": path, "e": Entry}      put            {"p": path, "e": null}  tombstone (delete)
//   {"p": path, "r": 1}          unstage one path (reset of an object)
//   {"x": prefix, "r": 1}        unstage every path under a prefix (reset of a prefix)
// Every record is written as "\n" + JSON + "\n" in one write(2) on an O_APPEND descriptor, so
// records from several processes never interleave, and a record torn by a crash becomes a
// garbage line of its own that readers skip (the leading newline ends it).
//
// A write(2) cut short (disk full, signal) is finished by writing the cut record and those
// after it again whole: the cut piece becomes a garbage line like a crash's, and applying a
// record twice is harmless.
//
// Readers keep each log's parsed state in memory and read only the bytes appended since,
// stopping at the last newline (a record being written is picked up next time). The view of a
// branch merges its tokens oldest first; the result is cached by the logs' sizes.
//
// Concurrency within one process: the parsed state of a token is shared by every call of this
// StagingArea, so its refreshes (stat, read from the parsed offset, parse, advance the offset)
// run one at a time per token. Two refreshes interleaving once lost records silently (both
// parsed the same bytes and each advanced the offset, skipping what followed) or failed with a
// negative read size (a stale file size minus an offset another refresh had advanced). A caller
// that arrives while a refresh is queued but not started shares it: it will stat the file after
// the caller arrived, so it sees every record appended before.

import { open, rm, stat, mkdir } from 'node:fs/promises'
import * as path from 'node:path'
import { compareKeys, type Entry } from './index.js'
import { isErrno } from './fsutil.js'

type StagedValue = Entry | null | 'reset'

interface TokenState {
  /** bytes of the log parsed so far (always just after a newline) */
  offset: number
  map: Map<string, StagedValue>
  /** prefixes unstaged in this token (they hide older tokens' values under them) */
  resets: string[]
  /** the refresh running or last run (refreshes of one token never overlap) */
  current?: Promise<void>
  /** a refresh queued behind `current`, not started yet (callers arriving now share it) */
  queued?: Promise<void>
}

export interface StagedView {
  /** path -> entry (put) or null (tombstone) */
  map: Map<string, Entry | null>
  /** the same, sorted by path */
  sorted (): Array<[string, Entry | null]>
}

type Record =
  | { p: string, e: Entry | null }
  | { p: string, r: 1 }
  | { x: string, r: 1 }

/** a log line as a record, or undefined for a garbage line (a strict prefix of JSON never parses) */
function parseRecord (line: string): Record | undefined {
  let r: unknown
  try { r = JSON.parse(line) } catch { return undefined }
  if (typeof r !== 'object' || r === null) return undefined
  const o = r as { p?: unknown, x?: unknown, r?: unknown, e?: unknown }
  if (typeof o.x === 'string' && o.r === 1) return o as Record
  if (typeof o.p !== 'string') return undefined
  if (o.r === 1 || o.e === null || (typeof o.e === 'object' && o.e !== null)) return o as Record
  return undefined
}

export class StagingArea {
  readonly #dir: string
  readonly #fsync: boolean
  readonly #tokens = new Map<string, TokenState>()
  readonly #views = new Map<string, StagedView>()
  #madeDir = false

  constructor (dir: string, opts: { fsync: boolean }) {
    this.#dir = dir
    this.#fsync = opts.fsync
  }

  #file (token: string): string { return path.join(this.#dir, `${token}.log`) }

  async append (token: string, records: Record[]): Promise<void> {
    if (records.length === 0) return
    if (!this.#madeDir) { await mkdir(this.#dir, { recursive: true }); this.#madeDir = true }
    const encoded = records.map(r => Buffer.from('\n' + JSON.stringify(r) + '\n'))
    // record i starts at starts[i] of the whole write
    const starts: number[] = []
    let total = 0
    for (const b of encoded) { starts.push(total); total += b.length }
    let data = Buffer.concat(encoded, total)
    let base = 0 // offset in the whole write of data[0]
    const fh = await open(this.#file(token), 'a') // O_APPEND: each write(2) lands whole at the end
    try {
      for (;;) {
        const { bytesWritten } = await fh.write(data, 0, data.length)
        if (bytesWritten >= data.length) break
        if (bytesWritten <= 0) throw new Error(`staging log ${token}: write(2) wrote nothing`)
        // cut short: resume at the record the cut fell in (or the next one), written whole again
        const done = base + bytesWritten
        let from = base
        for (const st of starts) if (st <= done) from = st
        data = data.subarray(from - base)
        base = from
      }
      if (this.#fsync) await fh.datasync()
    } finally {
      await fh.close()
    }
  }

  /** the token's parsed state, brought up to every record complete before this call */
  async #load (token: string): Promise<TokenState> {
    let st = this.#tokens.get(token)
    if (st === undefined) {
      st = { offset: 0, map: new Map(), resets: [] }
      this.#tokens.set(token, st)
    }
    await this.#refresh(token, st)
    return st
  }

  #refresh (token: string, st: TokenState): Promise<void> {
    if (st.queued !== undefined) return st.queued
    const prev = st.current ?? Promise.resolve()
    const next: Promise<void> = prev.catch(() => {}).then(async () => {
      st.queued = undefined
      st.current = next
      await this.#readNew(token, st)
    })
    st.queued = next
    return next
  }

  /** Parses the records appended since `st.offset`; only ever one call per token at a time. */
  async #readNew (token: string, st: TokenState): Promise<void> {
    const from = st.offset
    let size: number
    try {
      size = (await stat(this.#file(token))).size
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return
      throw e
    }
    if (size <= from) return
    let fh
    try {
      fh = await open(this.#file(token), 'r')
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return // dropped since the stat, as if the stat had failed
      throw e
    }
    let buf: Buffer
    try {
      buf = Buffer.allocUnsafe(size - from)
      const { bytesRead } = await fh.read(buf, 0, buf.length, from)
      buf = buf.subarray(0, bytesRead)
    } finally {
      await fh.close()
    }
    // a record still being written (its leading newline is in, its end is not) waits for next time
    const lastNl = buf.lastIndexOf(10)
    if (lastNl < 0) return
    if (st.offset !== from) throw new Error(`staging log ${token}: overlapping refreshes`) // #refresh rules this out
    const text = buf.subarray(0, lastNl).toString('utf8')
    st.offset = from + lastNl + 1
    for (const line of text.split('\n')) {
      if (line === '') continue
      const r = parseRecord(line)
      if (r === undefined) continue // torn by a crash or a cut-short write
      if ('x' in r) {
        for (const k of [...st.map.keys()]) if (k.startsWith(r.x)) st.map.delete(k)
        st.resets.push(r.x)
      } else if ('r' in r) {
        st.map.set(r.p, 'reset')
      } else {
        st.map.set(r.p, r.e)
      }
    }
  }

  /** The merged staged changes of a branch; `tokens` oldest first (the current token last). */
  async view (tokens: string[]): Promise<StagedView> {
    const states: TokenState[] = []
    for (const t of tokens) states.push(await this.#load(t))
    const key = tokens.map((t, i) => `${t}:${states[i]!.offset}`).join(',')
    const hit = this.#views.get(key)
    if (hit !== undefined) return hit
    const map = new Map<string, Entry | null>()
    for (const st of states) {
      for (const x of st.resets) for (const k of [...map.keys()]) if (k.startsWith(x)) map.delete(k)
      for (const [k, v] of st.map) {
        if (v === 'reset') map.delete(k)
        else map.set(k, v)
      }
    }
    let sorted: Array<[string, Entry | null]> | undefined
    const view: StagedView = {
      map,
      sorted: () => (sorted ??= [...map.entries()].sort((a, b) => compareKeys(a[0], b[0]))),
    }
    if (this.#views.size > 64) this.#views.clear()
    this.#views.set(key, view)
    return view
  }

  async drop (token: string): Promise<void> {
    this.#tokens.delete(token)
    await rm(this.#file(token), { force: true })
  }
}
