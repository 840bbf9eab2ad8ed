// FaultyRemote: wraps any `Remote` and injects failures and latency per method name, for tests
// (mountpoint-s3's failure client). Production code never constructs one; tests choose which
// calls fail, how often, and whether the inner call still happens (a "lost response": the
// remote applied the change but the caller saw an error — the case idempotency keys exist for).
//
// Rules are matched in the order they were added; a rule with `times` is consumed call by call
// and then retired. Calls are counted per method whether or not a rule matched.

import { LkError } from '../core/errors.js'
import type { BranchName, CommitId, ObjectPath, RefExpr, RepoName, TagName } from '../core/ids.js'
import type {
  Change, CommitChangesOptions, CommitInfo, CommitOptions, Content, DiffOptions, DiffPage, ListOptions, ListPage,
  LogOptions, MergeBase, MergeOptions, MergeResult, Metadata, ObjectStat, PutOptions, RefInfo, Remote, RepoInfo, ResetTarget, RevertOptions, CherryPickOptions,
} from './types.js'

export interface FaultRule {
  /** the Remote method name, e.g. 'readRange' or 'commitChanges' */
  method: keyof Remote
  /** let this many matching calls pass before the rule applies (default 0) */
  skip?: number
  /** how many calls the rule affects (default: every call until removed) */
  times?: number
  /**
   * 'fail' (default): throw instead of calling; 'slow': call after `latencyMs`; 'hang': never
   * answer until `clear()`; 'lost': make the inner call, then throw anyway (the change happened
   * but the answer was lost)
   */
  mode?: 'fail' | 'slow' | 'hang' | 'lost'
  /** delay before the call or the failure */
  latencyMs?: number
  /** what to throw; default LK_REMOTE_UNAVAILABLE */
  error?: () => Error
}

interface ActiveRule extends FaultRule { seen: number, used: number }

export class FaultyRemote implements Remote {
  readonly inner: Remote
  readonly calls = new Map<string, number>()
  #rules: ActiveRule[] = []
  #hung = new Set<() => void>()

  constructor (inner: Remote) { this.inner = inner }

  get description (): string { return `faulty(${this.inner.description})` }

  /** adds a rule; returns a function that removes it */
  inject (rule: FaultRule): () => void {
    const r: ActiveRule = { ...rule, seen: 0, used: 0 }
    this.#rules.push(r)
    return () => { this.#rules = this.#rules.filter(x => x !== r) }
  }

  /** removes every rule and releases hung calls (they then fail) */
  clear (): void {
    this.#rules = []
    for (const release of this.#hung) release()
    this.#hung.clear()
  }

  callCount (method: keyof Remote): number { return this.calls.get(method) ?? 0 }

  #match (method: string): ActiveRule | undefined {
    for (const r of this.#rules) {
      if (r.method !== method) continue
      r.seen++
      if (r.seen <= (r.skip ?? 0)) continue
      if (r.times !== undefined && r.used >= r.times) continue
      r.used++
      return r
    }
    return undefined
  }

  async #call<T> (method: keyof Remote, fn: () => Promise<T>): Promise<T> {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1)
    const rule = this.#match(method)
    if (rule === undefined) return await fn()
    if (rule.latencyMs !== undefined) await new Promise(resolve => setTimeout(resolve, rule.latencyMs))
    const fail = (): Error => rule.error?.() ?? new LkError('LK_REMOTE_UNAVAILABLE', `injected failure in ${method}`)
    switch (rule.mode ?? 'fail') {
      case 'slow': return await fn()
      case 'hang':
        await new Promise<void>(resolve => { this.#hung.add(resolve) })
        throw fail()
      case 'lost': await fn(); throw fail()
      default: throw fail()
    }
  }

  createRepo (name: RepoName, opts?: { defaultBranch?: BranchName, storageNamespace?: string }): Promise<RepoInfo> { return this.#call('createRepo', async () => await this.inner.createRepo(name, opts)) }
  getRepo (name: RepoName): Promise<RepoInfo> { return this.#call('getRepo', async () => await this.inner.getRepo(name)) }
  listRepos (): Promise<RepoInfo[]> { return this.#call('listRepos', async () => await this.inner.listRepos()) }
  deleteRepo (name: RepoName): Promise<void> { return this.#call('deleteRepo', async () => { await this.inner.deleteRepo(name) }) }
  resolveRef (repo: RepoName, ref: RefExpr | string): Promise<CommitId> { return this.#call('resolveRef', async () => await this.inner.resolveRef(repo, ref)) }
  refKind (repo: RepoName, ref: RefExpr | string): Promise<'branch' | 'tag' | 'commit'> { return this.#call('refKind', async () => await this.inner.refKind(repo, ref)) }
  createBranch (repo: RepoName, name: BranchName, source: RefExpr | string, opts?: { hidden?: boolean }): Promise<RefInfo> { return this.#call('createBranch', async () => await this.inner.createBranch(repo, name, source, opts)) }
  deleteBranch (repo: RepoName, name: BranchName): Promise<void> { return this.#call('deleteBranch', async () => { await this.inner.deleteBranch(repo, name) }) }
  listBranches (repo: RepoName, opts?: { showHidden?: boolean }): Promise<RefInfo[]> { return this.#call('listBranches', async () => await this.inner.listBranches(repo, opts)) }
  hardReset (repo: RepoName, branch: BranchName, ref: RefExpr | string): Promise<RefInfo> { return this.#call('hardReset', async () => await this.inner.hardReset(repo, branch, ref)) }
  createTag (repo: RepoName, name: TagName, target: RefExpr | string): Promise<RefInfo> { return this.#call('createTag', async () => await this.inner.createTag(repo, name, target)) }
  deleteTag (repo: RepoName, name: TagName): Promise<void> { return this.#call('deleteTag', async () => { await this.inner.deleteTag(repo, name) }) }
  listTags (repo: RepoName): Promise<RefInfo[]> { return this.#call('listTags', async () => await this.inner.listTags(repo)) }
  getCommit (repo: RepoName, id: CommitId): Promise<CommitInfo> { return this.#call('getCommit', async () => await this.inner.getCommit(repo, id)) }

  async * log (repo: RepoName, ref: RefExpr | string, opts?: LogOptions): AsyncIterable<CommitInfo> {
    // the fault applies to starting the iteration (the first page request)
    const it = await this.#call('log', async () => this.inner.log(repo, ref, opts)[Symbol.asyncIterator]())
    for (;;) {
      const n = await it.next()
      if (n.done === true) return
      yield n.value
    }
  }

  revert (repo: RepoName, branch: BranchName, ref: RefExpr | string, opts?: RevertOptions): Promise<CommitInfo> { return this.#call('revert', async () => await this.inner.revert(repo, branch, ref, opts)) }
  cherryPick (repo: RepoName, branch: BranchName, ref: RefExpr | string, opts?: CherryPickOptions): Promise<CommitInfo> { return this.#call('cherryPick', async () => await this.inner.cherryPick(repo, branch, ref, opts)) }
  commit (repo: RepoName, branch: BranchName, opts: CommitOptions): Promise<CommitInfo> { return this.#call('commit', async () => await this.inner.commit(repo, branch, opts)) }
  commitChanges (repo: RepoName, branch: BranchName, changes: Change[], opts: CommitChangesOptions): Promise<CommitInfo> { return this.#call('commitChanges', async () => await this.inner.commitChanges(repo, branch, changes, opts)) }
  statObject (repo: RepoName, ref: RefExpr | string, path: ObjectPath): Promise<ObjectStat> { return this.#call('statObject', async () => await this.inner.statObject(repo, ref, path)) }
  listObjects (repo: RepoName, ref: RefExpr | string, opts?: ListOptions): Promise<ListPage> { return this.#call('listObjects', async () => await this.inner.listObjects(repo, ref, opts)) }
  readRange (repo: RepoName, stat: ObjectStat, start: number, end: number): Promise<Buffer> { return this.#call('readRange', async () => await this.inner.readRange(repo, stat, start, end)) }
  putObject (repo: RepoName, branch: BranchName, path: ObjectPath, content: Content, opts?: PutOptions): Promise<ObjectStat> { return this.#call('putObject', async () => await this.inner.putObject(repo, branch, path, content, opts)) }
  deleteObjects (repo: RepoName, branch: BranchName, paths: ObjectPath[]): Promise<void> { return this.#call('deleteObjects', async () => { await this.inner.deleteObjects(repo, branch, paths) }) }
  setObjectMetadata (repo: RepoName, branch: BranchName, path: ObjectPath, metadata: Metadata): Promise<void> { return this.#call('setObjectMetadata', async () => { await this.inner.setObjectMetadata(repo, branch, path, metadata) }) }
  resetBranch (repo: RepoName, branch: BranchName, target: ResetTarget): Promise<void> { return this.#call('resetBranch', async () => { await this.inner.resetBranch(repo, branch, target) }) }
  diff (repo: RepoName, left: RefExpr | string, right: RefExpr | string, opts?: DiffOptions): Promise<DiffPage> { return this.#call('diff', async () => await this.inner.diff(repo, left, right, opts)) }
  diffStaged (repo: RepoName, branch: BranchName, opts?: DiffOptions): Promise<DiffPage> { return this.#call('diffStaged', async () => await this.inner.diffStaged(repo, branch, opts)) }
  merge (repo: RepoName, source: RefExpr | string, dest: BranchName, opts?: MergeOptions): Promise<MergeResult> { return this.#call('merge', async () => await this.inner.merge(repo, source, dest, opts)) }
  findMergeBase (repo: RepoName, source: RefExpr | string, dest: RefExpr | string): Promise<MergeBase> { return this.#call('findMergeBase', async () => await this.inner.findMergeBase(repo, source, dest)) }
  async close (): Promise<void> { this.clear(); await this.inner.close() }
}
