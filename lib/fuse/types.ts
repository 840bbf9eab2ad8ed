// The FUSE adapter's surface (implemented in lib/fuse/index.ts, the only importer of fuse-native).
// It serves an `FsCore` at a mount point; every handler is a few lines of call -> reply, with one
// errno table. The manager decides the options; the adapter knows nothing about remotes.

import type { FsCore } from '../fs/types.js'

export interface FuseOptions {
  /** mount read-only at the kernel level (`ro`): no atime updates, EROFS from the kernel */
  readOnly: boolean
  /** paths never change under the kernel (pinned commit): enables the page cache and long timeouts */
  immutable: boolean
  /** attr/entry timeout in seconds (long for pinned data) */
  attrTimeoutSec?: number
  /** let other users see the mount (needs user_allow_other for non-root) */
  allowOther?: boolean
  /** file system name shown in /proc/mounts (e.g. lakefs://repo/main) */
  fsName: string
  /** how long a handler may take before the kernel gets ETIMEDOUT; lazy fetches can be slow */
  handlerTimeoutMs?: number
}

export interface FuseMount {
  readonly mountpoint: string
  /** unmounts; with `lazy`, detaches even when busy (umount -l) */
  unmount (opts?: { lazy?: boolean }): Promise<void>
}

export type MountFuse = (fs: FsCore, mountpoint: string, opts: FuseOptions) => Promise<FuseMount>
