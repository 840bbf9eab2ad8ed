// BaseView: the pinned commit as a lazily listed tree.
//
// A pinned commit never changes, so what is learnt about it stays true for the life of the view:
// single lookups (statObject, then a one-entry listing to tell a directory prefix from a missing
// path) and whole directory listings (listObjects with delimiter '/', page by page). Once a
// directory is fully listed, every lookup of its children is answered from memory without I/O
// (`lookupSync`). Concurrent requests for the same lookup or listing share one remote call. A view
// is replaced, never mutated, when the mount re-pins after a commit.
//
// Memory is bounded by a budget, not by the size of the commit: listings are kept whole, at most
// `maxEntries` entries in all (the newest listing and the one used last are always kept, however
// big), and evicted a whole directory at a time in least-recently-used order (second chance: a
// listing used since it was last passed over gets another turn). Single lookups are kept in a FIFO of `maxKnown`. What
// is evicted is simply asked again (the commit is pinned, so the answer is the same): a readdir
// re-lists the directory, a lookup of one child stats it (one call, not a listing of its
// siblings, so random access over a tree bigger than the budget does not re-list per file). Each
// listed file keeps its ObjectStat as the remote gave it (with a presigned URL where the remote
// presigns), so a directory that was just listed reads without another call per file.
//
// Paths are relative to the mount root ('' is the root); `prefix` maps them to object paths.
//
// Keys that name no file (lakeFS accepts any key: `dir/` markers, `a//b`, `a/./b`, `../x`) are
// hidden: a listing entry whose name is '', '.', '..' or has a '/' is left out, and reported once
// to `onHidden`. A `dir/` marker still makes `dir` a directory. So a mount never shows, and never
// lets a program create, a path outside the tree it maps.

import { LkError } from '../core/errors.js'
import type { CommitId, ObjectPath, RepoName } from '../core/ids.js'
import type { ObjectStat, Remote } from '../remote/types.js'

export type BaseNode = { kind: 'file', stat: ObjectStat } | { kind: 'dir' }

const DIR: BaseNode = { kind: 'dir' }
/** a subdirectory in a listing (files are their ObjectStat: no wrapper object per entry) */
const SUBDIR = 0

/** the children of a listed directory by name */
export type Listing = ReadonlyMap<string, ObjectStat | typeof SUBDIR>

interface Listed { names: Map<string, ObjectStat | typeof SUBDIR>, used: boolean }

export interface BaseViewOptions {
  /** entries of listed directories kept in memory (default DEFAULT_MAX_ENTRIES) */
  maxEntries?: number
  /** single lookups kept (default a tenth of maxEntries, at least 1000) */
  maxKnown?: number
  /** told of each key a listing hid because it maps to no file name */
  onHidden?: (key: string) => void
}

/** a name a directory entry can have: not '', '.' or '..', no '/' */
export const isEntryName = (name: string): boolean => name !== '' && name !== '.' && name !== '..' && !name.includes('/')

/**
 * 10,000 entries: ~7 MiB of heap with presigned URLs (~0.74 KB an entry, bench/probe-list-memory.ts),
 * ten 1,000-file directories; a bigger single directory is kept whole while it is the one in use.
 * Chosen by the daemon's RSS after `find` over 1,000,000 objects (bench/README.md): 10,000 ->
 * 315-328 MiB, 20,000 -> 374, 50,000 -> 466, where ~190 MiB of it do not depend on the budget.
 */
export const DEFAULT_MAX_ENTRIES = 10_000

export class BaseView {
  readonly commit: CommitId
  readonly #remote: Remote
  readonly #repo: RepoName
  readonly #prefix: string
  /** null = known to be absent */
  #known = new Map<string, BaseNode | null>()
  /** Map order is the eviction order: the first entry goes first (unless used since) */
  #listed = new Map<string, Listed>()
  /** entries in #listed (a directory counts its children plus one) */
  #listedEntries = 0
  #evictedDirs = 0
  /** the listing a lookup or list used last */
  #lastUsed: Listed | undefined
  readonly #maxEntries: number
  readonly #maxKnown: number
  readonly #onHidden: (key: string) => void
  #lookups = new Map<string, Promise<BaseNode | null>>()
  #listings = new Map<string, Promise<Listing>>()

  constructor (remote: Remote, repo: RepoName, commit: CommitId, prefix: string, opts: BaseViewOptions = {}) {
    this.#remote = remote
    this.#repo = repo
    this.commit = commit
    this.#prefix = prefix
    this.#maxEntries = Math.max(1, opts.maxEntries ?? DEFAULT_MAX_ENTRIES)
    this.#maxKnown = Math.max(1, opts.maxKnown ?? Math.max(1000, Math.floor(this.#maxEntries / 10)))
    this.#onHidden = opts.onHidden ?? (() => {})
  }

  /** what is held in memory now (for tests and probes) */
  memory (): { dirs: number, entries: number, known: number, evictedDirs: number } {
    return { dirs: this.#listed.size, entries: this.#listedEntries, known: this.#known.size, evictedDirs: this.#evictedDirs }
  }

  objectPath (rel: string): ObjectPath { return (this.#prefix + rel) as ObjectPath }

  /** answered from memory: undefined when a remote call is needed */
  lookupSync (rel: string): BaseNode | null | undefined {
    if (rel === '') return DIR
    const k = this.#known.get(rel)
    if (k !== undefined) return k
    const slash = rel.lastIndexOf('/')
    const parent = slash === -1 ? '' : rel.slice(0, slash)
    const listed = this.#listed.get(parent)
    if (listed !== undefined) {
      listed.used = true
      this.#lastUsed = listed
      const e = listed.names.get(rel.slice(slash + 1))
      return e === undefined ? null : e === SUBDIR ? DIR : { kind: 'file', stat: e }
    }
    // under a directory the commit does not have, nothing exists either: a new file in a new
    // directory costs no remote lookup (writing 1,000 new files asked stat + list for each)
    for (let dir = parent; dir !== '';) {
      const known = this.#known.get(dir)
      if (known === null) return null
      if (known !== undefined) break
      const s = dir.lastIndexOf('/')
      const up = s === -1 ? '' : dir.slice(0, s)
      const siblings = this.#listed.get(up)
      if (siblings !== undefined) {
        if (!siblings.names.has(dir.slice(s + 1))) return null
        break
      }
      dir = up
    }
    return undefined
  }

  async lookup (rel: string): Promise<BaseNode | null> {
    const sync = this.lookupSync(rel)
    if (sync !== undefined) return sync
    let p = this.#lookups.get(rel)
    if (p === undefined) {
      p = this.#fetchLookup(rel).finally(() => { this.#lookups.delete(rel) })
      this.#lookups.set(rel, p)
    }
    return await p
  }

  async #fetchLookup (rel: string): Promise<BaseNode | null> {
    const path = this.objectPath(rel)
    let node: BaseNode | null = null
    try {
      node = { kind: 'file', stat: await this.#remote.statObject(this.#repo, this.commit, path) }
    } catch (e) {
      if (!(e instanceof LkError && e.code === 'LK_OBJECT_NOT_FOUND')) throw e
      const page = await this.#remote.listObjects(this.#repo, this.commit, { prefix: path + '/', amount: 1 })
      if (page.entries.length > 0) node = DIR
    }
    this.#remember(rel, node)
    return node
  }

  #remember (rel: string, node: BaseNode | null): void {
    this.#known.delete(rel)
    this.#known.set(rel, node)
    while (this.#known.size > this.#maxKnown) {
      const first = this.#known.keys().next()
      if (first.done === true) break
      this.#known.delete(first.value)
    }
  }

  isListed (rel: string): boolean { return this.#listed.has(rel) }

  /** the children of a directory (name -> stat, or 0 for a subdirectory), listed once and kept while the budget allows */
  async list (rel: string): Promise<Listing> {
    const have = this.#listed.get(rel)
    if (have !== undefined) { have.used = true; this.#lastUsed = have; return have.names }
    let p = this.#listings.get(rel)
    if (p === undefined) {
      p = this.#fetchList(rel).finally(() => { this.#listings.delete(rel) })
      this.#listings.set(rel, p)
    }
    return await p
  }

  async #fetchList (rel: string): Promise<Listing> {
    const prefix = rel === '' ? this.#prefix : this.#prefix + rel + '/'
    const names = new Map<string, ObjectStat | typeof SUBDIR>()
    let after = ''
    for (;;) {
      const page = await this.#remote.listObjects(this.#repo, this.commit, { prefix, delimiter: '/', after, amount: 1000 })
      for (const e of page.entries) {
        if (e.type === 'object') {
          const name = e.stat.path.slice(prefix.length)
          // '' is the directory's own marker (`dir/`): it makes the directory, it is no entry
          if (!isEntryName(name)) { if (name !== '') this.#onHidden(e.stat.path); continue }
          names.set(name, e.stat)
        } else {
          const name = e.path.slice(prefix.length, -1)
          if (!isEntryName(name)) { this.#onHidden(e.path); continue }
          // an object and a prefix of the same name: the file wins (it is what can be read)
          if (!names.has(name)) names.set(name, SUBDIR)
        }
      }
      if (!page.hasMore) break
      after = page.nextAfter
    }
    this.#keep(rel, names)
    return names
  }

  /**
   * Adds a listing, then evicts whole listings until the budget holds. Never evicted: the new
   * listing and the one used last (a directory bigger than the whole budget, being read with
   * `ls -l`, must not be dropped because its parent was listed in between).
   */
  #keep (rel: string, names: Map<string, ObjectStat | typeof SUBDIR>): void {
    const old = this.#listed.get(rel)
    if (old !== undefined) { this.#listed.delete(rel); this.#listedEntries -= old.names.size + 1 }
    const listed: Listed = { names, used: false }
    this.#listed.set(rel, listed)
    this.#listedEntries += names.size + 1
    // a turn evicts a listing or takes its used flag away: two passes at most
    for (let turns = 2 * this.#listed.size; this.#listedEntries > this.#maxEntries && turns > 0; turns--) {
      const first = this.#listed.entries().next()
      if (first.done === true) break
      const [k, l] = first.value
      this.#listed.delete(k)
      if (l === listed || l === this.#lastUsed || l.used) {
        l.used = false
        this.#listed.set(k, l)
        continue
      }
      this.#listedEntries -= l.names.size + 1
      this.#evictedDirs++
    }
  }

  /** every object under a directory (recursive), for renaming a directory with its children */
  async listRecursive (rel: string): Promise<ObjectStat[]> {
    const prefix = rel === '' ? this.#prefix : this.#prefix + rel + '/'
    const out: ObjectStat[] = []
    let after = ''
    for (;;) {
      const page = await this.#remote.listObjects(this.#repo, this.commit, { prefix, after, amount: 1000 })
      for (const e of page.entries) {
        if (e.type !== 'object') continue
        // only what the tree shows moves with a renamed directory; hidden keys stay where they are
        if (e.stat.path.slice(prefix.length).split('/').every(isEntryName)) out.push(e.stat)
        else this.#onHidden(e.stat.path)
      }
      if (!page.hasMore) break
      after = page.nextAfter
    }
    return out
  }

  /** the path relative to the mount root of an object path under the prefix */
  relOf (path: string): string { return path.slice(this.#prefix.length) }
}
