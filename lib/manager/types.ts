// What the daemon's control handlers ask of the mount manager. The manager owns every mount of
// the daemon (FUSE via lib/fuse over a MountSession from lib/fs), the one shared cache, the state
// directory with the journals, and recovery of unfinished mounts at start.

import type { CommitInfo, DiffEntry, Metadata } from '../remote/types.js'
import type { MountStats } from '../fs/types.js'

export type OnUnmount = 'commit' | 'keep' | 'discard'

export interface MountRequest {
  /** lakefs://repo/ref[/path] */
  uri: string
  /** absolute path */
  mountpoint: string
  write: boolean
  onUnmount?: OnUnmount
  message?: string
  metadata?: Metadata
  /** bytes; the daemon's cache is shared, a larger value grows it */
  cacheSize?: number
  /** a cache directory of its own for this mount (absolute); default: the daemon's shared cache */
  cacheDir?: string
  /** which store/endpoint: see lib/control's RemoteTarget */
  target?: unknown
  /** let other users see the mount (FUSE allow_other); off unless asked */
  allowOther?: boolean
  /**
   * serve extended attributes (object metadata as user.*, the pinned commit on the root);
   * default true. false: the kernel stops asking after one ENOSYS, so `ls -l` and `find -ls`
   * cost no daemon round trip per entry for the security/ACL probes they make.
   */
  xattrs?: boolean
}

export type MountState = 'mounted' | 'committing' | 'unmounting' | 'staged' | 'failed'

export interface MountStatus {
  id: string
  uri: string
  mountpoint: string
  repo: string
  ref: string
  pinnedCommit: string
  write: boolean
  onUnmount: OnUnmount
  state: MountState
  stats: MountStats
  /** for 'staged': a mount that is not mounted but has staged changes waiting (after a crash or --keep) */
  since: string
}

export interface CacheStatus {
  dir: string
  usedBytes: number
  maxBytes: number
  entries: number
  hits: number
  misses: number
  hitRate: number
}

export interface UnmountResult {
  /** what happened to staged changes (read-only mounts: keep, with nothing staged) */
  action: OnUnmount
  /** paths still staged afterwards (kept for a later mount or commit) */
  staged: number
  commit?: CommitInfo
}

export interface UnmountRequest {
  mountpoint: string
  action?: OnUnmount
  message?: string
  metadata?: Metadata
}

export interface MountManager {
  mount (req: MountRequest): Promise<MountStatus>
  /** returns the commit when one was made */
  unmount (req: UnmountRequest): Promise<UnmountResult>
  commit (mountpoint: string, opts: { message: string, metadata?: Metadata, branch?: string }): Promise<CommitInfo>
  diff (mountpoint: string): Promise<DiffEntry[]>
  status (mountpoint?: string): Promise<{ mounts: MountStatus[], cache: CacheStatus }>
  prefetch (path: string, onProgress: (done: number, total: number, bytes: number) => void): Promise<{ files: number, bytes: number }>
  /** unmounts everything applying each mount's policy; used on daemon stop */
  shutdown (opts?: { timeoutMs?: number }): Promise<void>
}

// ------------------------------------------------------------------ sync mode (lib/manager/sync.ts)

export type OnStop = OnUnmount

/** running: watching and staging; starting: materialising or reconciling; staged: stopped with staged changes */
export type SyncState = 'starting' | 'running' | 'committing' | 'staged' | 'failed'

export interface SyncRequest {
  /** lakefs://repo/<branch>[/<path>] */
  uri: string
  /** absolute path of the local directory (created when missing) */
  dir: string
  onStop?: OnStop
  /** commit staged changes this often (milliseconds); 0 or absent: only on stop or `commit` */
  commitEveryMs?: number
  include?: string[]
  exclude?: string[]
  /** also bring in newer commits of the branch (at start and every 30 s) when nothing local conflicts */
  pull?: boolean
  message?: string
  metadata?: Metadata
  target?: unknown
}

export interface SyncStatus {
  id: string
  uri: string
  dir: string
  repo: string
  branch: string
  baseCommit: string
  state: SyncState
  onStop: OnStop
  commitEveryMs: number
  pull: boolean
  include: string[]
  exclude: string[]
  stagedPaths: number
  stagedBytes: number
  /** changes seen but not staged yet (files still being written, or the next batch) */
  pendingPaths: number
  baseFiles: number
  downloaded: number
  downloadedBytes: number
  lastCommit?: string
  lastError?: string
  since: string
}

export interface SyncStopRequest {
  dir: string
  action?: OnStop
  message?: string
  metadata?: Metadata
}

export interface SyncStopResult {
  action: OnStop
  commit?: CommitInfo
  /** local versions moved out of the directory (discard) into the sync's state directory */
  movedAside?: string[]
}

export interface SyncPullResult {
  from: string
  to: string
  updated: number
  removed: number
  /** local versions moved aside by --force */
  movedAside: string[]
}
