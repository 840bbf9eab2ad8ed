// Commits: immutable records named by the sha256 of their canonical encoding, stored per
// repository as `commits/<first two hex>/<id>.json`, and the walks over the parents DAG (log
// order, ancestry, merge base).
//
// The id covers [version, parents, metarange id, message, committer, date, metadata sorted by
// key]; the file also holds `generation` (1 + the highest parent generation), which is derived
// from the parents and so changes nothing about identity. Walks use it to stop early and to
// keep children before parents when dates tie or the clock went backwards.

import { mkdir, readdir, readFile } from 'node:fs/promises'
import * as path from 'node:path'
import { LRUCache } from 'lru-cache'
import { LkError } from '../core/errors.js'
import type { Metadata } from '../remote/types.js'
import { createExclusive, isErrno, sha256Hex } from './fsutil.js'

export interface CommitRecord {
  v: 1
  parents: string[]
  metaRangeId: string
  message: string
  committer: string
  /** milliseconds since the epoch */
  date: number
  /** sorted by key */
  metadata: Array<[string, string]>
  generation: number
}

export interface StoredCommit extends CommitRecord { id: string }

export function commitIdOf (c: Omit<CommitRecord, 'generation'>): string {
  return sha256Hex(JSON.stringify([c.v, c.parents, c.metaRangeId, c.message, c.committer, c.date, c.metadata]))
}

export const sortedMetadata = (m: Metadata): Array<[string, string]> =>
  Object.entries(m).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))

export class CommitFiles {
  readonly #dir: string
  readonly #fsync: boolean
  readonly #cache: LRUCache<string, StoredCommit>

  constructor (dir: string, cache: LRUCache<string, StoredCommit>, opts: { fsync: boolean }) {
    this.#dir = dir
    this.#cache = cache
    this.#fsync = opts.fsync
  }

  #file (id: string): string { return path.join(this.#dir, id.slice(0, 2), `${id}.json`) }

  async write (rec: CommitRecord): Promise<StoredCommit> {
    const id = commitIdOf(rec)
    const file = this.#file(id)
    await mkdir(path.dirname(file), { recursive: true })
    await createExclusive(file, JSON.stringify(rec), { fsync: this.#fsync })
    const c = { ...rec, id }
    this.#cache.set(file, c)
    return c
  }

  /** undefined when there is no such commit */
  async tryRead (id: string): Promise<StoredCommit | undefined> {
    if (!/^[0-9a-f]{64}$/.test(id)) return undefined
    const file = this.#file(id)
    const hit = this.#cache.get(file)
    if (hit !== undefined) return hit
    let raw: string
    try {
      raw = await readFile(file, 'utf8')
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined
      throw e
    }
    let rec: CommitRecord
    try { rec = JSON.parse(raw) as CommitRecord } catch (e) {
      throw new LkError('LK_STORE_CORRUPT', `commit ${id} is not valid JSON`, { cause: e, details: { file } })
    }
    if (commitIdOf(rec) !== id) throw new LkError('LK_STORE_CORRUPT', `commit ${id} does not match its id`, { details: { file } })
    const c = { ...rec, id }
    this.#cache.set(file, c)
    return c
  }

  async read (id: string): Promise<StoredCommit> {
    const c = await this.tryRead(id)
    if (c === undefined) throw new LkError('LK_REF_NOT_FOUND', `commit ${id} not found`, { details: { ref: id } })
    return c
  }

  /** full ids starting with a hex prefix (at least 2 chars) */
  async findByPrefix (prefix: string): Promise<string[]> {
    let names: string[]
    try {
      names = await readdir(path.join(this.#dir, prefix.slice(0, 2)))
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return []
      throw e
    }
    return names.filter(n => n.endsWith('.json') && n.startsWith(prefix)).map(n => n.slice(0, -5))
  }
}

/** newest first: by date, then generation (children before parents on ties), then id */
const newer = (a: StoredCommit, b: StoredCommit): boolean =>
  a.date !== b.date ? a.date > b.date : a.generation !== b.generation ? a.generation > b.generation : a.id > b.id

/** a small binary max-heap of commits in log order */
class CommitHeap {
  readonly #a: StoredCommit[] = []
  get size (): number { return this.#a.length }
  push (c: StoredCommit): void {
    const a = this.#a
    a.push(c)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!newer(a[i]!, a[p]!)) break
      ;[a[i], a[p]] = [a[p]!, a[i]!]
      i = p
    }
  }

  pop (): StoredCommit | undefined {
    const a = this.#a
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && newer(a[l]!, a[m]!)) m = l
        if (r < a.length && newer(a[r]!, a[m]!)) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m]!, a[i]!]
        i = m
      }
    }
    return top
  }
}

export interface WalkOptions {
  /** follow only the first parent of merge commits (lakeFS's first_parent) */
  firstParent?: boolean
  /** leave out commits older than this (ms since the epoch) and do not walk past them (lakeFS's since) */
  since?: number
}

/** every commit reachable from `head`, newest first (lakeFS's log order) */
export async function * walkLog (files: CommitFiles, head: string, opts: WalkOptions = {}): AsyncGenerator<StoredCommit> {
  const seen = new Set<string>([head])
  const heap = new CommitHeap()
  const since = opts.since
  const first = await files.read(head)
  if (since === undefined || first.date >= since) heap.push(first)
  for (let c = heap.pop(); c !== undefined; c = heap.pop()) {
    yield c
    for (const p of opts.firstParent === true ? c.parents.slice(0, 1) : c.parents) {
      if (seen.has(p)) continue
      seen.add(p)
      const pc = await files.read(p)
      if (since !== undefined && pc.date < since) continue
      heap.push(pc)
    }
  }
}

/** true when `ancestor` is `descendant` or one of its ancestors */
export async function isAncestor (files: CommitFiles, ancestor: string, descendant: string): Promise<boolean> {
  if (ancestor === descendant) return true
  const a = await files.read(ancestor)
  const seen = new Set<string>([descendant])
  const stack = [descendant]
  for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
    const c = await files.read(id)
    if (c.generation <= a.generation) continue
    for (const p of c.parents) {
      if (p === ancestor) return true
      if (!seen.has(p)) { seen.add(p); stack.push(p) }
    }
  }
  return false
}

/**
 * The merge base: the newest commit (log order) among the ancestors of `b` that is also an
 * ancestor of `a`. Such a commit is never an ancestor of another common ancestor, so it is a
 * lowest common ancestor; undefined when the histories are unrelated.
 */
export async function mergeBase (files: CommitFiles, a: string, b: string): Promise<string | undefined> {
  const ofA = new Set<string>()
  for await (const c of walkLog(files, a)) ofA.add(c.id)
  for await (const c of walkLog(files, b)) if (ofA.has(c.id)) return c.id
  return undefined
}
