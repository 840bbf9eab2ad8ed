// The `Remote` interface: the one contract the mount, sync, commit and CLI code talk to.
//
// Faces: `LocalRemote` (lib/remote/local.ts, the embedded store in-process), the lakeFS REST client
// (lib/remote/lakefs.ts), and `FaultyRemote` (lib/remote/faulty.ts, failures and latency injected
// per call, for tests). Callers never know which one they hold.
//
// Semantics every implementation keeps (lakeFS's):
// - A ref is a branch, tag, commit id or ref expression (`main~2`, `v1^`). Reads by a branch see
//   its staging area over its head commit; reads by a commit id see exactly that commit.
// - `resolveRef` pins: callers that need stable reads resolve once and then read by commit id.
// - Paths are `ObjectPath`s (validated); listings come back sorted by path (byte order).
// - Errors are `LkError`s from the catalogue (LK_REPO_NOT_FOUND, LK_REF_NOT_FOUND,
//   LK_OBJECT_NOT_FOUND, LK_CONFLICT, LK_REF_MOVED, LK_REMOTE_UNAVAILABLE, ...).

import type { Readable } from 'node:stream'
import type { BranchName, Checksum, CommitId, ObjectPath, RefExpr, RepoName, TagName } from '../core/ids.js'

export type Metadata = Record<string, string>

export interface RepoInfo {
  name: RepoName
  defaultBranch: BranchName
  storageNamespace: string
  /** seconds since the epoch */
  creationDate: number
}

export interface RefInfo {
  name: string
  commitId: CommitId
}

export interface CommitInfo {
  id: CommitId
  parents: CommitId[]
  message: string
  committer: string
  /** seconds since the epoch */
  creationDate: number
  metadata: Metadata
  /** the root of the commit's sorted index (embedded store) or lakeFS's meta_range_id */
  metaRangeId: string
}

export interface ObjectStat {
  path: ObjectPath
  /** content checksum: the cache key. Hex sha256 in the embedded store, lakeFS's checksum there. */
  checksum: Checksum
  size: number
  /** modification time, seconds since the epoch */
  mtime: number
  contentType: string
  metadata: Metadata
  /** where the bytes live (blob key, s3://..., presign target); opaque to callers */
  physicalAddress: string
  /**
   * the embedded store only: what lakeFS would report as the checksum (MD5 hex of an upload, the
   * client's checksum of a linked one), which lk-mount serve answers; `checksum` stays the key
   */
  etag?: string
}

export type ListEntry =
  | { type: 'object', stat: ObjectStat }
  | { type: 'prefix', path: ObjectPath }

export interface ListOptions {
  /** only paths starting with this prefix ('' for all) */
  prefix?: string
  /** roll up paths at the first delimiter after the prefix into 'prefix' entries (usually '/') */
  delimiter?: string
  /** return only entries whose path sorts strictly after this */
  after?: string
  /** page size; implementations cap it at 1000 */
  amount?: number
}

export interface ListPage {
  entries: ListEntry[]
  hasMore: boolean
  /** pass as `after` to get the next page */
  nextAfter: string
}

export type DiffType = 'added' | 'removed' | 'changed' | 'conflict'

export interface DiffEntry {
  path: ObjectPath
  type: DiffType
  /** size of the right side's object, when it has one */
  size?: number
}

export interface DiffOptions {
  prefix?: string
  after?: string
  amount?: number
}

export interface DiffPage {
  entries: DiffEntry[]
  hasMore: boolean
  nextAfter: string
}

export type MergeStrategy = 'fail' | 'source-wins' | 'dest-wins'

export interface MergeOptions {
  strategy?: MergeStrategy
  message?: string
  metadata?: Metadata
  committer?: string
  /** merge even when the source brings no change (an empty merge commit), as lakeFS's allow_empty */
  allowEmpty?: boolean
  /** one parent (the destination) instead of [destination, source], as lakeFS's squash_merge */
  squash?: boolean
}

/** Merges always write a merge commit (lakeFS never fast-forwards). */
export interface MergeResult {
  /** the merge commit the destination branch points at afterwards */
  commitId: CommitId
}

export interface LogOptions {
  /** at most this many commits */
  amount?: number
  /** follow only the first parent of merge commits */
  firstParent?: boolean
  /** leave out commits older than this (seconds since the epoch) */
  since?: number
  /** only commits that changed one of these objects (exact keys) or ... */
  objects?: string[]
  /** ... a key under one of these prefixes, against their parent (merge commits never match) */
  prefixes?: string[]
  /** end the log after this ref's commit */
  stopAt?: string
}

export interface RevertOptions {
  /** 1-based parent to revert against; required for a merge commit */
  parentNumber?: number
  /** default "Revert <ref>" */
  message?: string
  metadata?: Metadata
  committer?: string
  allowEmpty?: boolean
}

export interface CherryPickOptions {
  /** 1-based parent whose changes are replayed; required for a merge commit */
  parentNumber?: number
  /** default: the picked commit's message */
  message?: string
  /** default: the picked commit's metadata (cherry-pick-origin and cherry-pick-committer are added) */
  metadata?: Metadata
  committer?: string
}

export interface MergeBase {
  base: CommitId
  source: CommitId
  dest: CommitId
}

export interface PutOptions {
  contentType?: string
  metadata?: Metadata
  /** putExisting: the checksum the uploader reported (lakeFS keeps the client's for links) */
  etag?: string
  /** seconds since the epoch; defaults to now */
  mtime?: number
}

/** A source of bytes to upload: a local file (preferred: no copy in memory) or a buffer. */
export type Content =
  | { kind: 'file', file: string, size: number, sha256: string }
  | { kind: 'buffer', data: Buffer }
  | { kind: 'stream', stream: Readable }

export type Change =
  | {
    op: 'put', path: ObjectPath, content: Content, contentType?: string, metadata?: Metadata, mtime?: number
    /**
     * The same bytes as `content`, already uploaded by `Remote.preUpload` (while the mount was
     * live). A remote that knows the address links it instead of uploading; any other remote, or
     * one whose link fails, uploads `content` as usual.
     */
    preUploaded?: PreUploaded
  }
  | { op: 'delete', path: ObjectPath }

/** content uploaded to a staging location of a branch's storage, not yet linked to any path */
export interface PreUploaded {
  /** the physical address the remote handed out (what a link names) */
  address: string
  /** the object store's checksum of the upload (ETag) */
  checksum: string
  size: number
  /** hex sha256 of the uploaded bytes */
  sha256: string
}

export interface CommitChangesOptions {
  /** the commit the changes were made against (the mount's pinned commit) */
  base: CommitId
  message: string
  metadata?: Metadata
  committer?: string
  /**
   * When the branch head is no longer `base`: if the commits since `base` touched none of the
   * changed paths the changes are committed on top of the head; otherwise LK_CONFLICT is thrown
   * with `details.conflicts: string[]` (paths) and nothing changes.
   */
}

export interface CommitOptions {
  message: string
  metadata?: Metadata
  committer?: string
  allowEmpty?: boolean
}

export interface ResetTarget {
  type: 'all' | 'object' | 'prefix'
  path?: ObjectPath
}

export interface Remote {
  /** a short description for logs and `status` (never includes secrets) */
  readonly description: string

  // repositories
  createRepo (name: RepoName, opts?: { defaultBranch?: BranchName, storageNamespace?: string }): Promise<RepoInfo>
  getRepo (name: RepoName): Promise<RepoInfo>
  listRepos (): Promise<RepoInfo[]>
  deleteRepo (name: RepoName): Promise<void>

  // refs
  /** resolves a branch, tag, commit id (full or unique prefix) or ref expression to a commit id */
  resolveRef (repo: RepoName, ref: RefExpr | string): Promise<CommitId>
  /** what kind of ref a name is; ref expressions and commit ids are 'commit' */
  refKind (repo: RepoName, ref: RefExpr | string): Promise<'branch' | 'tag' | 'commit'>
  /** `hidden` branches are left out of listings unless asked for (lakeFS's hidden branches) */
  createBranch (repo: RepoName, name: BranchName, source: RefExpr | string, opts?: { hidden?: boolean }): Promise<RefInfo>
  deleteBranch (repo: RepoName, name: BranchName): Promise<void>
  listBranches (repo: RepoName, opts?: { showHidden?: boolean }): Promise<RefInfo[]>
  /** moves the branch to the ref's commit; its uncommitted changes stay staged (lakeFS's hardResetBranch) */
  hardReset (repo: RepoName, branch: BranchName, ref: RefExpr | string): Promise<RefInfo>
  createTag (repo: RepoName, name: TagName, target: RefExpr | string): Promise<RefInfo>
  deleteTag (repo: RepoName, name: TagName): Promise<void>
  listTags (repo: RepoName): Promise<RefInfo[]>

  // commits
  getCommit (repo: RepoName, id: CommitId): Promise<CommitInfo>
  /** first-parent-and-merge history, newest first, as lakeFS's log (filters: LogOptions) */
  log (repo: RepoName, ref: RefExpr | string, opts?: LogOptions): AsyncIterable<CommitInfo>
  /** a new commit on the branch undoing what `ref` changed (lakeFS's revertBranch) */
  revert (repo: RepoName, branch: BranchName, ref: RefExpr | string, opts?: RevertOptions): Promise<CommitInfo>
  /** a new commit on the branch replaying what `ref` changed (lakeFS's cherryPick) */
  cherryPick (repo: RepoName, branch: BranchName, ref: RefExpr | string, opts?: CherryPickOptions): Promise<CommitInfo>
  /** commits the branch's staging area */
  commit (repo: RepoName, branch: BranchName, opts: CommitOptions): Promise<CommitInfo>
  /**
   * Atomically applies `changes` on top of the branch and commits them as one commit, checking
   * for conflicts against `opts.base` (see CommitChangesOptions). Does not touch the branch's
   * staging area. This is how mounts and sync commit.
   */
  commitChanges (repo: RepoName, branch: BranchName, changes: Change[], opts: CommitChangesOptions): Promise<CommitInfo>

  // objects
  statObject (repo: RepoName, ref: RefExpr | string, path: ObjectPath): Promise<ObjectStat>
  listObjects (repo: RepoName, ref: RefExpr | string, opts?: ListOptions): Promise<ListPage>
  /**
   * Reads bytes [start, end) of an object; `stat` comes from statObject or a listing of the same
   * ref, so implementations can read by physical address without another lookup. Returns fewer
   * bytes only at the end of the object.
   */
  readRange (repo: RepoName, stat: ObjectStat, start: number, end: number): Promise<Buffer>
  /**
   * Optional streaming form of readRange for big sequential reads: [start, end) in one request,
   * handed to `onPart` as consecutive parts of `partSize` bytes (the last may be shorter), each as
   * soon as its bytes have arrived, in order. Resolves once every part was handed over; rejects
   * (and hands over nothing more) on any failure, after which the caller fetches what it lacks.
   */
  readRangeParts? (repo: RepoName, stat: ObjectStat, start: number, end: number, partSize: number, onPart: (index: number, part: Buffer) => void): Promise<void>
  /** stages a put on a branch */
  putObject (repo: RepoName, branch: BranchName, path: ObjectPath, content: Content, opts?: PutOptions): Promise<ObjectStat>
  /**
   * Optional: uploads content to a fresh staging location of the branch's storage without
   * staging anything on the branch (nothing becomes visible until a commitChanges links it).
   * Undefined when the remote has no such locations; uploads never linked are garbage for the
   * storage's own cleanup.
   */
  preUpload?: (repo: RepoName, branch: BranchName, path: ObjectPath, data: Buffer) => Promise<PreUploaded | undefined>
  /**
   * Optional (the embedded store): stages an object whose bytes already lie in the store's blob
   * store under `blob.address` (a key of its BlobStore) and hash to `blob.sha256`; nothing is
   * uploaded. lk-mount serve links direct uploads this way. With `blob.physicalAddress` (where
   * the bytes were found), LK_UNSUPPORTED when the blob store would not find them there.
   */
  putExisting?: (repo: RepoName, branch: BranchName, path: ObjectPath, blob: { address: string, sha256: string, size: number, physicalAddress?: string }, opts?: PutOptions) => Promise<ObjectStat>
  /** stages deletes on a branch; missing paths are ignored */
  deleteObjects (repo: RepoName, branch: BranchName, paths: ObjectPath[]): Promise<void>
  /** replaces an object's user metadata (staged on a branch) */
  setObjectMetadata (repo: RepoName, branch: BranchName, path: ObjectPath, metadata: Metadata): Promise<void>
  resetBranch (repo: RepoName, branch: BranchName, target: ResetTarget): Promise<void>

  // diff and merge
  diff (repo: RepoName, left: RefExpr | string, right: RefExpr | string, opts?: DiffOptions): Promise<DiffPage>
  /** the branch's uncommitted (staged) changes */
  diffStaged (repo: RepoName, branch: BranchName, opts?: DiffOptions): Promise<DiffPage>
  merge (repo: RepoName, source: RefExpr | string, dest: BranchName, opts?: MergeOptions): Promise<MergeResult>
  findMergeBase (repo: RepoName, source: RefExpr | string, dest: RefExpr | string): Promise<MergeBase>

  close (): Promise<void>
}
