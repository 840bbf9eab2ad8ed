// BaseView: the pinned commit as a lazily listed tree.
//
// A pinned commit never changes, so everything learnt about it is cached for the life of the
// view: single lookups (statObject, then a one-entry listing to tell a directory prefix from a
// missing path) and whole directory listings (listObjects with delimiter '/', page by page).
// Once a directory is fully listed, every lookup of its children is answered from memory
// without I/O (`lookupSync`). Concurrent requests for the same lookup or listing share one
// remote call. A view is replaced, never mutated, when the mount re-pins after a commit.
//
// Paths are relative to the mount root ('' is the root); `prefix` maps them to object paths.

import { LkError } from '../core/errors.js'
import type { CommitId, ObjectPath, RepoName } from '../core/ids.js'
import type { ObjectStat, Remote } from '../remote/types.js'

export type BaseNode = { kind: 'file', stat: ObjectStat } | { kind: 'dir' }

const DIR: BaseNode = { kind: 'dir' }

export class BaseView {
  readonly commit: CommitId
  readonly #remote: Remote
  readonly #repo: RepoName
  readonly #prefix: string
  /** null = known to be absent */
  #known = new Map<string, BaseNode | null>()
  #listed = new Map<string, Map<string, BaseNode>>()
  #lookups = new Map<string, Promise<BaseNode | null>>()
  #listings = new Map<string, Promise<Map<string, BaseNode>>>()

  constructor (remote: Remote, repo: RepoName, commit: CommitId, prefix: string) {
    this.#remote = remote
    this.#repo = repo
    this.commit = commit
    this.#prefix = prefix
  }

  objectPath (rel: string): ObjectPath { return (this.#prefix + rel) as ObjectPath }

  /** answered from memory: undefined when a remote call is needed */
  lookupSync (rel: string): BaseNode | null | undefined {
    if (rel === '') return DIR
    const k = this.#known.get(rel)
    if (k !== undefined) return k
    const slash = rel.lastIndexOf('/')
    const parent = slash === -1 ? '' : rel.slice(0, slash)
    const names = this.#listed.get(parent)
    if (names !== undefined) return names.get(rel.slice(slash + 1)) ?? null
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
        if (!siblings.has(dir.slice(s + 1))) return null
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
    this.#known.set(rel, node)
    return node
  }

  isListed (rel: string): boolean { return this.#listed.has(rel) }

  /** the children of a directory (name -> node), listed once and kept */
  async list (rel: string): Promise<Map<string, BaseNode>> {
    const have = this.#listed.get(rel)
    if (have !== undefined) return have
    let p = this.#listings.get(rel)
    if (p === undefined) {
      p = this.#fetchList(rel).finally(() => { this.#listings.delete(rel) })
      this.#listings.set(rel, p)
    }
    return await p
  }

  async #fetchList (rel: string): Promise<Map<string, BaseNode>> {
    const prefix = rel === '' ? this.#prefix : this.#prefix + rel + '/'
    const names = new Map<string, BaseNode>()
    let after = ''
    for (;;) {
      const page = await this.#remote.listObjects(this.#repo, this.commit, { prefix, delimiter: '/', after, amount: 1000 })
      for (const e of page.entries) {
        if (e.type === 'object') {
          const name = e.stat.path.slice(prefix.length)
          if (name === '' || name.includes('/')) continue
          names.set(name, { kind: 'file', stat: e.stat })
        } else {
          const name = e.path.slice(prefix.length, -1)
          if (name === '' || name.includes('/')) continue
          // an object and a prefix of the same name: the file wins (it is what can be read)
          if (!names.has(name)) names.set(name, DIR)
        }
      }
      if (!page.hasMore) break
      after = page.nextAfter
    }
    this.#listed.set(rel, names)
    return names
  }

  /** every object under a directory (recursive), for renaming a directory with its children */
  async listRecursive (rel: string): Promise<ObjectStat[]> {
    const prefix = rel === '' ? this.#prefix : this.#prefix + rel + '/'
    const out: ObjectStat[] = []
    let after = ''
    for (;;) {
      const page = await this.#remote.listObjects(this.#repo, this.commit, { prefix, after, amount: 1000 })
      for (const e of page.entries) if (e.type === 'object') out.push(e.stat)
      if (!page.hasMore) break
      after = page.nextAfter
    }
    return out
  }

  /** the path relative to the mount root of an object path under the prefix */
  relOf (path: string): string { return path.slice(this.#prefix.length) }
}
