// LocalRemote: the embedded store (lib/store) behind the `Remote` interface, in-process.
//
// It validates every name and path at this edge (through lib/core/ids.ts) before the store
// sees it, and adds nothing else: all semantics and the multi-process concurrency contract are
// the store's (lib/store/store.ts). Extra beyond `Remote`: `commitSortedEntries` (bulk commit
// from a sorted stream with bounded memory) and `verify` (integrity walk), and `store` for the
// lakeFS-compatible server.

import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import { branchName, existingRefName, objectKey, refExpr, repoName, tagName, type BranchName, type CommitId, type ObjectPath, type RefExpr, type RepoName, type TagName } from '../core/ids.js'
import type { BlobStore } from '../store/blobs.js'
import { Store, type BulkEntry, type CommitStats } from '../store/store.js'
import type {
  Change, CherryPickOptions, CommitChangesOptions, CommitInfo, CommitOptions, Content, DiffOptions, DiffPage, ListOptions, ListPage,
  LogOptions, MergeBase, MergeOptions, MergeResult, Metadata, ObjectStat, PutOptions, RefInfo, Remote, RepoInfo, ResetTarget, RevertOptions,
} from './types.js'

export interface LocalRemoteOptions {
  /** the store directory (metadata always lives here; blobs under <dir>/blobs by default) */
  dir: string
  blobs?: BlobStore
  log?: Logger
  clock?: Clock
  /** fsync before files become visible (default true) */
  fsync?: boolean
  /** entries per index range (default 4096; tests use tiny ranges) */
  rangeTarget?: number
  /** how long a staging commit waits for another on the same branch before LK_LOCKED (default 60 s) */
  commitWaitMs?: number
}

export class LocalRemote implements Remote {
  readonly description: string
  readonly store: Store

  private constructor (store: Store) {
    this.store = store
    this.description = `embedded store at ${store.dir} (${store.blobs.description})`
  }

  static async open (opts: LocalRemoteOptions): Promise<LocalRemote> {
    return new LocalRemote(await Store.open(opts))
  }

  async createRepo (name: RepoName, opts: { defaultBranch?: BranchName, storageNamespace?: string } = {}): Promise<RepoInfo> {
    repoName(name)
    if (opts.defaultBranch !== undefined) branchName(opts.defaultBranch)
    return await this.store.createRepo(name, opts)
  }

  async getRepo (name: RepoName): Promise<RepoInfo> { return await this.store.getRepo(repoName(name)) }
  async listRepos (): Promise<RepoInfo[]> { return await this.store.listRepos() }
  async deleteRepo (name: RepoName): Promise<void> { return await this.store.deleteRepo(repoName(name)) }

  async resolveRef (repo: RepoName, ref: RefExpr | string): Promise<CommitId> { return await this.store.resolveRef(repoName(repo), refExpr(ref)) }
  async refKind (repo: RepoName, ref: RefExpr | string): Promise<'branch' | 'tag' | 'commit'> { return await this.store.refKind(repoName(repo), refExpr(ref)) }
  async createBranch (repo: RepoName, name: BranchName, source: RefExpr | string, opts?: { hidden?: boolean }): Promise<RefInfo> { return await this.store.createBranch(repoName(repo), branchName(name), refExpr(source), opts) }
  async deleteBranch (repo: RepoName, name: BranchName): Promise<void> { return await this.store.deleteBranch(repoName(repo), existingRefName(name, 'branch')) }
  async listBranches (repo: RepoName, opts?: { showHidden?: boolean }): Promise<RefInfo[]> { return await this.store.listBranches(repoName(repo), opts) }
  async hardReset (repo: RepoName, branch: BranchName, ref: RefExpr | string): Promise<RefInfo> { return await this.store.hardReset(repoName(repo), refExpr(branch), refExpr(ref)) }
  async createTag (repo: RepoName, name: TagName, target: RefExpr | string): Promise<RefInfo> { return await this.store.createTag(repoName(repo), tagName(name), refExpr(target)) }
  async deleteTag (repo: RepoName, name: TagName): Promise<void> { return await this.store.deleteTag(repoName(repo), existingRefName(name, 'tag')) }
  async listTags (repo: RepoName): Promise<RefInfo[]> { return await this.store.listTags(repoName(repo)) }

  async getCommit (repo: RepoName, id: CommitId): Promise<CommitInfo> { return await this.store.getCommit(repoName(repo), id) }
  log (repo: RepoName, ref: RefExpr | string, opts?: LogOptions): AsyncIterable<CommitInfo> { return this.store.log(repo, ref, opts) }
  async revert (repo: RepoName, branch: BranchName, ref: RefExpr | string, opts?: RevertOptions): Promise<CommitInfo> { return await this.store.revert(repoName(repo), refExpr(branch), refExpr(ref), opts) }
  async cherryPick (repo: RepoName, branch: BranchName, ref: RefExpr | string, opts?: CherryPickOptions): Promise<CommitInfo> { return await this.store.cherryPick(repoName(repo), refExpr(branch), refExpr(ref), opts) }
  async commit (repo: RepoName, branch: BranchName, opts: CommitOptions): Promise<CommitInfo> { return await this.store.commit(repoName(repo), refExpr(branch), opts) }
  async commitChanges (repo: RepoName, branch: BranchName, changes: Change[], opts: CommitChangesOptions): Promise<CommitInfo> {
    return await this.store.commitChanges(repoName(repo), refExpr(branch), changes, opts)
  }

  /** bulk commit of a sorted entry stream with bounded memory (see Store.commitSortedEntries) */
  async commitSortedEntries (repo: RepoName, branch: BranchName, entries: AsyncIterable<BulkEntry> | Iterable<BulkEntry>, opts: CommitOptions): Promise<CommitInfo & { stats: CommitStats }> {
    return await this.store.commitSortedEntries(repoName(repo), refExpr(branch), entries, opts)
  }

  async statObject (repo: RepoName, ref: RefExpr | string, path: ObjectPath): Promise<ObjectStat> { return await this.store.statObject(repoName(repo), refExpr(ref), objectKey(path)) }
  async listObjects (repo: RepoName, ref: RefExpr | string, opts?: ListOptions): Promise<ListPage> { return await this.store.listObjects(repoName(repo), refExpr(ref), opts) }
  async readRange (repo: RepoName, stat: ObjectStat, start: number, end: number): Promise<Buffer> { return await this.store.readRange(repo, stat, start, end) }
  async putObject (repo: RepoName, branch: BranchName, path: ObjectPath, content: Content, opts?: PutOptions): Promise<ObjectStat> {
    return await this.store.putObject(repoName(repo), refExpr(branch), objectKey(path), content, opts)
  }

  putExisting = async (repo: RepoName, branch: BranchName, path: ObjectPath, blob: { address: string, sha256: string, size: number, physicalAddress?: string }, opts?: PutOptions): Promise<ObjectStat> => {
    return await this.store.putExisting(repoName(repo), refExpr(branch), objectKey(path), blob, opts)
  }

  async deleteObjects (repo: RepoName, branch: BranchName, paths: ObjectPath[]): Promise<void> { return await this.store.deleteObjects(repoName(repo), refExpr(branch), paths) }
  async setObjectMetadata (repo: RepoName, branch: BranchName, path: ObjectPath, metadata: Metadata): Promise<void> {
    return await this.store.setObjectMetadata(repoName(repo), refExpr(branch), objectKey(path), metadata)
  }

  async resetBranch (repo: RepoName, branch: BranchName, target: ResetTarget): Promise<void> { return await this.store.resetBranch(repoName(repo), refExpr(branch), target) }
  async diff (repo: RepoName, left: RefExpr | string, right: RefExpr | string, opts?: DiffOptions): Promise<DiffPage> { return await this.store.diff(repoName(repo), refExpr(left), refExpr(right), opts) }
  async diffStaged (repo: RepoName, branch: BranchName, opts?: DiffOptions): Promise<DiffPage> { return await this.store.diffStaged(repoName(repo), refExpr(branch), opts) }
  async merge (repo: RepoName, source: RefExpr | string, dest: BranchName, opts?: MergeOptions): Promise<MergeResult> { return await this.store.merge(repoName(repo), refExpr(source), refExpr(dest), opts) }
  async findMergeBase (repo: RepoName, source: RefExpr | string, dest: RefExpr | string): Promise<MergeBase> { return await this.store.findMergeBase(repoName(repo), refExpr(source), refExpr(dest)) }

  /** integrity walk of a repository (see Store.verify) */
  async verify (repo: RepoName): Promise<{ commits: number, ranges: number, entries: number, refs: number }> { return await this.store.verify(repoName(repo)) }

  async close (): Promise<void> { return await this.store.close() }
}
