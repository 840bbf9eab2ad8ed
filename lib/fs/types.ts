// The filesystem core's surface: what the FUSE adapter (lib/fuse) calls and what the mount
// manager (lib/manager) drives. lib/fs knows no FUSE, no socket and no SDK; it is tested directly
// and again through a real FUSE mount with one shared conformance suite (test/conformance).
//
// Paths here are FUSE paths: absolute inside the mount, '/' is the root, no trailing '/'.
// Errors are thrown as FsError/LkError with an errno name; the adapter maps names to numbers.

import type { CommitId, RepoName, BranchName, RefExpr } from '../core/ids.js'
import type { CommitInfo, DiffEntry, Metadata } from '../remote/types.js'

export interface Attr {
  /** st_mode with the file type bits (S_IFREG 0o100000, S_IFDIR 0o040000) */
  mode: number
  size: number
  /** milliseconds since the epoch */
  mtime: number
  atime: number
  ctime: number
  nlink: number
  uid: number
  gid: number
}

export interface StatFs {
  bsize: number
  frsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
  favail: number
  namemax: number
}

/** The operations the FUSE adapter forwards. One method per FUSE operation, async. */
export interface FsCore {
  readonly readOnly: boolean
  /** answered from memory when possible: returns undefined when an async lookup is needed */
  getattrSync (path: string): Attr | undefined
  getattr (path: string): Promise<Attr>
  /** names only, without '.' and '..'; hidden control entries are not listed */
  readdir (path: string): Promise<string[]>
  open (path: string, flags: number): Promise<number>
  create (path: string, mode: number, flags: number): Promise<number>
  /** reads into buf[0..] at most len bytes at pos; returns bytes read (0 at EOF) */
  read (path: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number>
  /** `buf` is only valid until the first await inside: implementations copy it first */
  write (path: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number>
  truncate (path: string, size: number): Promise<void>
  ftruncate (path: string, fh: number, size: number): Promise<void>
  flush (path: string, fh: number): Promise<void>
  fsync (path: string, fh: number, datasync: boolean): Promise<void>
  release (path: string, fh: number): Promise<void>
  unlink (path: string): Promise<void>
  mkdir (path: string, mode: number): Promise<void>
  rmdir (path: string): Promise<void>
  rename (src: string, dest: string): Promise<void>
  utimens (path: string, atimeMs: number, mtimeMs: number): Promise<void>
  chmod (path: string, mode: number): Promise<void>
  chown (path: string, uid: number, gid: number): Promise<void>
  /** throws ENOTSUP: lk-mount cannot store these (see docs/SEMANTICS.md) */
  symlink (target: string, path: string): Promise<void>
  link (existing: string, path: string): Promise<void>
  mknod (path: string, mode: number, dev: number): Promise<void>
  getxattr (path: string, name: string): Promise<Buffer>
  setxattr (path: string, name: string, value: Buffer, flags: number): Promise<void>
  listxattr (path: string): Promise<string[]>
  removexattr (path: string, name: string): Promise<void>
  statfs (path: string): Promise<StatFs>
}

export interface MountStats {
  /** reads served, bytes served, cache hits/misses (by chunk), bytes fetched from the remote */
  reads: number
  bytesRead: number
  cacheHits: number
  cacheMisses: number
  bytesFetched: number
  /** staged changes not yet committed */
  stagedPaths: number
  stagedBytes: number
}

export interface MountCommitOptions {
  message: string
  metadata?: Metadata
  /** commit to this branch instead of the mounted one (created from the pinned commit) */
  branch?: BranchName
}

export interface MountIdentity {
  repo: RepoName
  /** the ref as the user gave it */
  ref: RefExpr
  /** set for branch mounts (the only writable kind) */
  branch: BranchName | undefined
  /** sub-path of the repository that is the mount's root ('' for all) */
  subPath: string
}

/**
 * One mounted ref: the core filesystem plus what the manager needs around it. Created by
 * `openMountSession` in lib/fs (which wires cache, staging and commit together).
 */
/** the background uploads of a write mount (lib/commit/preupload.ts) */
export interface PreUploadStatus {
  readonly stats: { uploaded: number, failed: number, stale: number, used: number }
  /** waits until no upload is queued or running */
  drain (): Promise<void>
}

export interface MountSession {
  readonly fs: FsCore
  readonly identity: MountIdentity
  /** background uploads of closed files (write mounts on a remote with staging locations) */
  readonly preUploader?: PreUploadStatus | undefined
  /** the pinned commit; changes only when this session commits */
  pinnedCommit (): CommitId
  /** staged changes against the pinned commit */
  diff (): Promise<DiffEntry[]>
  /** seals the journal, uploads, commits, re-pins; throws LK_CONFLICT / LK_NOTHING_TO_COMMIT */
  commit (opts: MountCommitOptions): Promise<CommitInfo>
  /** drops all staged changes */
  discard (): Promise<void>
  /** fetches every file under `path` (a FUSE path) into the cache */
  prefetch (path: string, onProgress?: (done: number, total: number, bytes: number) => void): Promise<{ files: number, bytes: number }>
  stats (): MountStats
  /** flushes and closes the journal; the staged changes stay on disk */
  close (): Promise<void>
}
