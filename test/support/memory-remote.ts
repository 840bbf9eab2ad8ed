// MemoryRemote: a small, correct, in-process `Remote` for fast unit tests of the mount core.
//
// It keeps lakeFS's semantics that the mount, cache and commit code rely on: commits are
// immutable path -> object maps addressed by a hash, branches are refs that move by
// compare-and-swap, branches have a staging area that shadows the head, `commitChanges` checks
// conflicts against the caller's base commit path by path, listings are sorted with
// prefix/delimiter/after/amount paging (capped at 1000). Everything lives in memory; content is
// copied in on put, so callers may reuse their buffers and files afterwards.
//
// `calls` counts every method call by name so tests can assert on request counts (e.g. that
// resolving a ref is O(1) and that a listing is cached).

import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { LkError } from '../../lib/core/errors.js'
import type { BranchName, Checksum, CommitId, ObjectPath, RefExpr, RepoName, TagName } from '../../lib/core/ids.js'
import type {
  Change, CommitChangesOptions, CommitInfo, CommitOptions, Content, DiffOptions, DiffPage, DiffEntry, ListOptions,
  ListPage, MergeOptions, MergeResult, MergeBase, Metadata, ObjectStat, PutOptions, RefInfo, Remote, RepoInfo, ResetTarget, ListEntry,
} from '../../lib/remote/types.js'

interface Obj { stat: ObjectStat, data: Buffer }
type Tree = Map<string, Obj>
interface Commit { info: CommitInfo, tree: Tree }
interface Branch { head: CommitId, staging: Map<string, Obj | null> }
interface Repo { info: RepoInfo, commits: Map<string, Commit>, branches: Map<string, Branch>, tags: Map<string, CommitId> }

const sortedCache = new WeakMap<Tree, string[]>()
/** trees are never mutated once built (commits copy), so their sorted keys can be cached */
function sortedKeys (tree: Tree): string[] {
  let keys = sortedCache.get(tree)
  if (keys === undefined) { keys = [...tree.keys()].sort(); sortedCache.set(tree, keys) }
  return keys
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

async function contentBytes (c: Content): Promise<Buffer> {
  if (c.kind === 'buffer') return Buffer.from(c.data)
  if (c.kind === 'file') return await readFile(c.file)
  const parts: Buffer[] = []
  for await (const chunk of c.stream) parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string))
  return Buffer.concat(parts)
}

export class MemoryRemote implements Remote {
  readonly description = 'memory'
  readonly calls = new Map<string, number>()
  #repos = new Map<string, Repo>()
  #seq = 0

  #count (name: string): void { this.calls.set(name, (this.calls.get(name) ?? 0) + 1) }
  callCount (name: string): number { return this.calls.get(name) ?? 0 }

  #repo (name: RepoName): Repo {
    const r = this.#repos.get(name)
    if (r === undefined) throw new LkError('LK_REPO_NOT_FOUND', `repository ${name} not found`)
    return r
  }

  #branch (r: Repo, name: string): Branch {
    const b = r.branches.get(name)
    if (b === undefined) throw new LkError('LK_REF_NOT_FOUND', `branch ${name} not found`)
    return b
  }

  #newCommit (r: Repo, parents: CommitId[], tree: Tree, message: string, metadata: Metadata, committer: string): Commit {
    const body = JSON.stringify({ parents, message, metadata, seq: ++this.#seq, tree: [...tree].map(([p, o]) => [p, o.stat.checksum, o.stat.metadata]) })
    const id = sha256(body) as CommitId
    const info: CommitInfo = { id, parents, message, committer, creationDate: Math.floor(Date.now() / 1000), metadata: { ...metadata }, metaRangeId: sha256('mr' + body) }
    const c = { info, tree }
    r.commits.set(id, c)
    return c
  }

  async createRepo (name: RepoName, opts: { defaultBranch?: BranchName, storageNamespace?: string } = {}): Promise<RepoInfo> {
    this.#count('createRepo')
    if (this.#repos.has(name)) throw new LkError('LK_REPO_EXISTS', `repository ${name} exists`)
    const defaultBranch = opts.defaultBranch ?? ('main' as BranchName)
    const r: Repo = { info: { name, defaultBranch, storageNamespace: opts.storageNamespace ?? `mem://${name}`, creationDate: Math.floor(Date.now() / 1000) }, commits: new Map(), branches: new Map(), tags: new Map() }
    const first = this.#newCommit(r, [], new Map(), 'Repository created', {}, 'lk-mount')
    r.branches.set(defaultBranch, { head: first.info.id, staging: new Map() })
    this.#repos.set(name, r)
    return { ...r.info }
  }

  async getRepo (name: RepoName): Promise<RepoInfo> { this.#count('getRepo'); return { ...this.#repo(name).info } }
  async listRepos (): Promise<RepoInfo[]> { this.#count('listRepos'); return [...this.#repos.values()].map(r => ({ ...r.info })).sort((a, b) => a.name < b.name ? -1 : 1) }
  async deleteRepo (name: RepoName): Promise<void> { this.#count('deleteRepo'); this.#repo(name); this.#repos.delete(name) }

  #resolve (r: Repo, ref: string): CommitId {
    const m = /^(.*?)((?:~\d*|\^)*)$/.exec(ref)
    const base = m?.[1] ?? ref
    let id: CommitId | undefined = r.branches.get(base)?.head ?? r.tags.get(base)
    if (id === undefined && /^[0-9a-f]{6,64}$/.test(base)) {
      const hits = [...r.commits.keys()].filter(k => k.startsWith(base))
      if (hits.length === 1) id = hits[0] as CommitId
    }
    if (id === undefined) throw new LkError('LK_REF_NOT_FOUND', `ref ${ref} not found`)
    for (const step of (m?.[2] ?? '').match(/~\d*|\^/g) ?? []) {
      const n = step === '^' || step === '~' ? 1 : Number(step.slice(1))
      for (let i = 0; i < n; i++) {
        const p: CommitId | undefined = r.commits.get(id)?.info.parents[0]
        if (p === undefined) throw new LkError('LK_REF_NOT_FOUND', `ref ${ref} not found`)
        id = p
      }
    }
    return id
  }

  /** the tree a ref reads: a branch's staging over its head, or a commit's tree */
  #treeOf (r: Repo, ref: string): Tree {
    const b = r.branches.get(ref)
    const c = r.commits.get(this.#resolve(r, ref))
    if (c === undefined) throw new LkError('LK_REF_NOT_FOUND', `ref ${ref} not found`)
    if (b === undefined || b.staging.size === 0) return c.tree
    const t = new Map(c.tree)
    for (const [p, o] of b.staging) { if (o === null) t.delete(p); else t.set(p, o) }
    return t
  }

  async resolveRef (repo: RepoName, ref: RefExpr | string): Promise<CommitId> { this.#count('resolveRef'); return this.#resolve(this.#repo(repo), ref) }
  async refKind (repo: RepoName, ref: RefExpr | string): Promise<'branch' | 'tag' | 'commit'> {
    this.#count('refKind')
    const r = this.#repo(repo)
    if (r.branches.has(ref)) return 'branch'
    if (r.tags.has(ref)) return 'tag'
    this.#resolve(r, ref)
    return 'commit'
  }

  async createBranch (repo: RepoName, name: BranchName, source: RefExpr | string): Promise<RefInfo> {
    this.#count('createBranch')
    const r = this.#repo(repo)
    if (r.branches.has(name)) throw new LkError('LK_BRANCH_EXISTS', `branch ${name} exists`)
    const head = this.#resolve(r, source)
    r.branches.set(name, { head, staging: new Map() })
    return { name, commitId: head }
  }

  async deleteBranch (repo: RepoName, name: BranchName): Promise<void> {
    this.#count('deleteBranch')
    const r = this.#repo(repo)
    if (name === r.info.defaultBranch) throw new LkError('LK_DEFAULT_BRANCH', 'cannot delete the default branch')
    this.#branch(r, name)
    r.branches.delete(name)
  }

  async listBranches (repo: RepoName): Promise<RefInfo[]> { this.#count('listBranches'); return [...this.#repo(repo).branches].map(([name, b]) => ({ name, commitId: b.head })).sort((a, b) => a.name < b.name ? -1 : 1) }
  async createTag (repo: RepoName, name: TagName, target: RefExpr | string): Promise<RefInfo> {
    this.#count('createTag')
    const r = this.#repo(repo)
    if (r.tags.has(name)) throw new LkError('LK_TAG_EXISTS', `tag ${name} exists`)
    const id = this.#resolve(r, target)
    r.tags.set(name, id)
    return { name, commitId: id }
  }

  async deleteTag (repo: RepoName, name: TagName): Promise<void> { this.#count('deleteTag'); this.#repo(repo).tags.delete(name) }
  async listTags (repo: RepoName): Promise<RefInfo[]> { this.#count('listTags'); return [...this.#repo(repo).tags].map(([name, commitId]) => ({ name, commitId })) }

  async getCommit (repo: RepoName, id: CommitId): Promise<CommitInfo> {
    this.#count('getCommit')
    const c = this.#repo(repo).commits.get(id)
    if (c === undefined) throw new LkError('LK_REF_NOT_FOUND', `commit ${id} not found`)
    return structuredClone(c.info)
  }

  async * log (repo: RepoName, ref: RefExpr | string, opts: { amount?: number } = {}): AsyncIterable<CommitInfo> {
    this.#count('log')
    const r = this.#repo(repo)
    let id: CommitId | undefined = this.#resolve(r, ref)
    let n = 0
    while (id !== undefined && n < (opts.amount ?? Infinity)) {
      const c = r.commits.get(id)
      if (c === undefined) break
      yield structuredClone(c.info)
      n++
      id = c.info.parents[0]
    }
  }

  async commit (repo: RepoName, branch: BranchName, opts: CommitOptions): Promise<CommitInfo> {
    this.#count('commit')
    const r = this.#repo(repo)
    const b = this.#branch(r, branch)
    if (b.staging.size === 0 && opts.allowEmpty !== true) throw new LkError('LK_NOTHING_TO_COMMIT', 'nothing to commit')
    const c = this.#newCommit(r, [b.head], this.#treeOf(r, branch), opts.message, opts.metadata ?? {}, opts.committer ?? 'lk-mount')
    b.head = c.info.id
    b.staging = new Map()
    return structuredClone(c.info)
  }

  async commitChanges (repo: RepoName, branch: BranchName, changes: Change[], opts: CommitChangesOptions): Promise<CommitInfo> {
    this.#count('commitChanges')
    const r = this.#repo(repo)
    const b = this.#branch(r, branch)
    const baseC = r.commits.get(opts.base)
    if (baseC === undefined) throw new LkError('LK_REF_NOT_FOUND', `base commit ${opts.base} not found`)
    // read all content before deciding: the branch may move while we await
    const objs: Array<[string, Obj | null]> = []
    for (const ch of changes) {
      if (ch.op === 'delete') { objs.push([ch.path, null]); continue }
      const data = await contentBytes(ch.content)
      const checksum = sha256(data) as Checksum
      objs.push([ch.path, { data, stat: { path: ch.path, checksum, size: data.length, mtime: ch.mtime ?? Math.floor(Date.now() / 1000), contentType: ch.contentType ?? 'application/octet-stream', metadata: { ...(ch.metadata ?? {}) }, physicalAddress: `mem://${checksum}` } }])
    }
    const head = r.commits.get(b.head)
    if (head === undefined) throw new LkError('LK_INTERNAL', 'branch head missing')
    if (b.head !== opts.base) {
      const conflicts: string[] = []
      for (const [p] of objs) {
        const a = baseC.tree.get(p)
        const h = head.tree.get(p)
        if (a?.stat.checksum !== h?.stat.checksum || JSON.stringify(a?.stat.metadata) !== JSON.stringify(h?.stat.metadata)) conflicts.push(p)
      }
      if (conflicts.length > 0) throw new LkError('LK_CONFLICT', `branch ${branch} changed ${conflicts.length} of the same paths since ${opts.base}`, { details: { conflicts } })
    }
    const tree = new Map(head.tree)
    for (const [p, o] of objs) { if (o === null) tree.delete(p); else tree.set(p, o) }
    const c = this.#newCommit(r, [b.head], tree, opts.message, opts.metadata ?? {}, opts.committer ?? 'lk-mount')
    b.head = c.info.id
    return structuredClone(c.info)
  }

  async statObject (repo: RepoName, ref: RefExpr | string, path: ObjectPath): Promise<ObjectStat> {
    this.#count('statObject')
    const o = this.#treeOf(this.#repo(repo), ref).get(path)
    if (o === undefined) throw new LkError('LK_OBJECT_NOT_FOUND', `object ${path} not found`)
    return structuredClone(o.stat)
  }

  async listObjects (repo: RepoName, ref: RefExpr | string, opts: ListOptions = {}): Promise<ListPage> {
    this.#count('listObjects')
    const tree = this.#treeOf(this.#repo(repo), ref)
    const prefix = opts.prefix ?? ''
    const amount = Math.min(opts.amount ?? 1000, 1000)
    const after = opts.after ?? ''
    const sorted = sortedKeys(tree)
    // start at the first key >= max(prefix, after) (binary search): listing a prefix is a seek
    const from = after > prefix ? after : prefix
    let lo = 0
    let hi = sorted.length
    while (lo < hi) { const mid = (lo + hi) >>> 1; if ((sorted[mid] as string) < from) lo = mid + 1; else hi = mid }
    const entries: ListEntry[] = []
    let last = ''
    for (let i = lo; i < sorted.length; i++) {
      const k = sorted[i] as string
      if (!k.startsWith(prefix)) break
      let entry: ListEntry
      let key = k
      if (opts.delimiter !== undefined && opts.delimiter !== '') {
        const i = k.indexOf(opts.delimiter, prefix.length)
        if (i !== -1) {
          key = k.slice(0, i + opts.delimiter.length)
          if (key === last) continue
          if (!(key > after)) continue
          entry = { type: 'prefix', path: key as ObjectPath }
        } else {
          if (!(k > after)) continue
          entry = { type: 'object', stat: structuredClone((tree.get(k) as Obj).stat) }
        }
      } else {
        if (!(k > after)) continue
        entry = { type: 'object', stat: structuredClone((tree.get(k) as Obj).stat) }
      }
      if (entries.length === amount) return { entries, hasMore: true, nextAfter: last }
      entries.push(entry)
      last = key
    }
    return { entries, hasMore: false, nextAfter: last }
  }

  async readRange (repo: RepoName, stat: ObjectStat, start: number, end: number): Promise<Buffer> {
    this.#count('readRange')
    const r = this.#repo(repo)
    // content-addressed: find any object with this checksum (as a blob store would)
    for (const c of r.commits.values()) {
      const o = c.tree.get(stat.path)
      if (o !== undefined && o.stat.checksum === stat.checksum) return Buffer.from(o.data.subarray(start, end))
    }
    for (const b of r.branches.values()) {
      const o = b.staging.get(stat.path)
      if (o != null && o.stat.checksum === stat.checksum) return Buffer.from(o.data.subarray(start, end))
    }
    for (const c of r.commits.values()) {
      for (const o of c.tree.values()) if (o.stat.checksum === stat.checksum) return Buffer.from(o.data.subarray(start, end))
    }
    throw new LkError('LK_OBJECT_NOT_FOUND', `blob ${stat.checksum} not found`)
  }

  async putObject (repo: RepoName, branch: BranchName, path: ObjectPath, content: Content, opts: PutOptions = {}): Promise<ObjectStat> {
    this.#count('putObject')
    const b = this.#branch(this.#repo(repo), branch)
    const data = await contentBytes(content)
    const checksum = sha256(data) as Checksum
    const stat: ObjectStat = { path, checksum, size: data.length, mtime: opts.mtime ?? Math.floor(Date.now() / 1000), contentType: opts.contentType ?? 'application/octet-stream', metadata: { ...(opts.metadata ?? {}) }, physicalAddress: `mem://${checksum}` }
    b.staging.set(path, { stat, data })
    return structuredClone(stat)
  }

  async deleteObjects (repo: RepoName, branch: BranchName, paths: ObjectPath[]): Promise<void> {
    this.#count('deleteObjects')
    const r = this.#repo(repo)
    const b = this.#branch(r, branch)
    const tree = this.#treeOf(r, branch)
    for (const p of paths) if (tree.has(p)) b.staging.set(p, null)
  }

  async setObjectMetadata (repo: RepoName, branch: BranchName, path: ObjectPath, metadata: Metadata): Promise<void> {
    this.#count('setObjectMetadata')
    const r = this.#repo(repo)
    const b = this.#branch(r, branch)
    const o = this.#treeOf(r, branch).get(path)
    if (o === undefined) throw new LkError('LK_OBJECT_NOT_FOUND', `object ${path} not found`)
    b.staging.set(path, { data: o.data, stat: { ...o.stat, metadata: { ...metadata } } })
  }

  async resetBranch (repo: RepoName, branch: BranchName, target: ResetTarget): Promise<void> {
    this.#count('resetBranch')
    const b = this.#branch(this.#repo(repo), branch)
    if (target.type === 'all') { b.staging.clear(); return }
    for (const k of [...b.staging.keys()]) {
      if (target.type === 'object' ? k === target.path : k.startsWith(target.path ?? '')) b.staging.delete(k)
    }
  }

  #diffTrees (a: Tree, z: Tree, opts: DiffOptions): DiffPage {
    const paths = [...new Set([...a.keys(), ...z.keys()])].filter(p => p.startsWith(opts.prefix ?? '') && p > (opts.after ?? '')).sort()
    const entries: DiffEntry[] = []
    for (const p of paths) {
      const l = a.get(p)
      const rr = z.get(p)
      if (l?.stat.checksum === rr?.stat.checksum && JSON.stringify(l?.stat.metadata) === JSON.stringify(rr?.stat.metadata)) continue
      const type = l === undefined ? 'added' : rr === undefined ? 'removed' : 'changed'
      entries.push(rr === undefined ? { path: p as ObjectPath, type } : { path: p as ObjectPath, type, size: rr.stat.size })
    }
    const amount = Math.min(opts.amount ?? 1000, 1000)
    const page = entries.slice(0, amount)
    return { entries: page, hasMore: entries.length > amount, nextAfter: page.at(-1)?.path ?? '' }
  }

  async diff (repo: RepoName, left: RefExpr | string, right: RefExpr | string, opts: DiffOptions = {}): Promise<DiffPage> {
    this.#count('diff')
    const r = this.#repo(repo)
    return this.#diffTrees(this.#treeOf(r, left), this.#treeOf(r, right), opts)
  }

  async diffStaged (repo: RepoName, branch: BranchName, opts: DiffOptions = {}): Promise<DiffPage> {
    this.#count('diffStaged')
    const r = this.#repo(repo)
    const b = this.#branch(r, branch)
    return this.#diffTrees((r.commits.get(b.head) as Commit).tree, this.#treeOf(r, branch), opts)
  }

  async merge (_repo: RepoName, _source: RefExpr | string, _dest: BranchName, _opts?: MergeOptions): Promise<MergeResult> {
    throw new LkError('LK_UNSUPPORTED', 'MemoryRemote does not merge; use LocalRemote for merge tests')
  }

  // history rewriting is the embedded store's and lakeFS's business: tests of it use LocalRemote
  async revert (): Promise<CommitInfo> { throw new LkError('LK_UNSUPPORTED', 'MemoryRemote does not revert; use LocalRemote') }
  async cherryPick (): Promise<CommitInfo> { throw new LkError('LK_UNSUPPORTED', 'MemoryRemote does not cherry-pick; use LocalRemote') }
  async hardReset (): Promise<RefInfo> { throw new LkError('LK_UNSUPPORTED', 'MemoryRemote does not hard-reset; use LocalRemote') }
  async findMergeBase (): Promise<MergeBase> { throw new LkError('LK_UNSUPPORTED', 'MemoryRemote does not find merge bases; use LocalRemote') }

  async close (): Promise<void> {}
}
