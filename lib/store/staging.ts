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
// Readers keep each log's parsed state in memory and read only the bytes appended since,
// stopping at the last newline (a record being written is picked up next time). The view of a
// branch merges its tokens oldest first; the result is cached by the logs' sizes.

import { open, rm, stat, mkdir } from 'node:fs/promises'
import * as path from 'node:path'
import { compareKeys, type Entry } from './index.js'
import { isErrno } from './fsutil.js'

type StagedValue = Entry | null | 'reset'

interface TokenState {
  offset: number
  map: Map<string, StagedValue>
  /** prefixes unstaged in this token (they hide older tokens' values under them) */
  resets: string[]
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
    const data = records.map(r => '\n' + JSON.stringify(r) + '\n').join('')
    const fh = await open(this.#file(token), 'a')
    try {
      await fh.write(data)
      if (this.#fsync) await fh.datasync()
    } finally {
      await fh.close()
    }
  }

  async #load (token: string): Promise<TokenState> {
    let st = this.#tokens.get(token)
    if (st === undefined) {
      st = { offset: 0, map: new Map(), resets: [] }
      this.#tokens.set(token, st)
    }
    let size: number
    try {
      size = (await stat(this.#file(token))).size
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return st
      throw e
    }
    if (size <= st.offset) return st
    const fh = await open(this.#file(token), 'r')
    let buf: Buffer
    try {
      buf = Buffer.allocUnsafe(size - st.offset)
      const { bytesRead } = await fh.read(buf, 0, buf.length, st.offset)
      buf = buf.subarray(0, bytesRead)
    } finally {
      await fh.close()
    }
    const lastNl = buf.lastIndexOf(10)
    if (lastNl < 0) return st
    const text = buf.subarray(0, lastNl).toString('utf8')
    st.offset += lastNl + 1
    for (const line of text.split('\n')) {
      if (line === '') continue
      let r: Record
      try { r = JSON.parse(line) as Record } catch { continue } // torn by a crash
      if ('x' in r) {
        for (const k of [...st.map.keys()]) if (k.startsWith(r.x)) st.map.delete(k)
        st.resets.push(r.x)
      } else if ('r' in r) {
        st.map.set(r.p, 'reset')
      } else {
        st.map.set(r.p, r.e)
      }
    }
    return st
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
