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

export interface UnmountRequest {
  mountpoint: string
  action?: OnUnmount
  message?: string
  metadata?: Metadata
}

export interface MountManager {
  mount (req: MountRequest): Promise<MountStatus>
  /** returns the commit when one was made */
  unmount (req: UnmountRequest): Promise<{ commit?: CommitInfo, action: OnUnmount }>
  commit (mountpoint: string, opts: { message: string, metadata?: Metadata, branch?: string }): Promise<CommitInfo>
  diff (mountpoint: string): Promise<DiffEntry[]>
  status (mountpoint?: string): Promise<{ mounts: MountStatus[], cache: CacheStatus }>
  prefetch (path: string, onProgress: (done: number, total: number, bytes: number) => void): Promise<{ files: number, bytes: number }>
  /** unmounts everything applying each mount's policy; used on daemon stop */
  shutdown (opts?: { timeoutMs?: number }): Promise<void>
}
