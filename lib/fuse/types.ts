// The FUSE adapter's surface (implemented in lib/fuse/index.ts, the only importer of fuse-native).
// It serves an `FsCore` at a mount point; every handler is a few lines of call -> reply, with one
// errno table. The manager decides the options; the adapter knows nothing about remotes.

import type { FsCore } from '../fs/types.js'
import type { Logger } from '../core/log.js'

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
  /** where handler failures that became EIO are logged (a child logger per mount); silent when absent */
  logger?: Logger
  /**
   * read-only mounts only: answer `open` with ENOSYS so the kernel stops sending open/release
   * ("no-open"); reads then carry fh 0. Defaults to true when the mount is read-only.
   */
  noOpen?: boolean
  /**
   * serve extended attributes (user.* metadata, the root's commit id). Default true. With false
   * the first xattr request answers ENOSYS and the kernel stops asking: `ls -l` then costs no
   * round trip per entry for the security.selinux / system.posix_acl_access probes it makes.
   */
  xattrs?: boolean
}

export interface FuseMount {
  readonly mountpoint: string
  /**
   * unmounts; with `lazy`, detaches at once even when busy (umount -l). Without it a clean
   * unmount is tried first and a busy mount is then detached lazily (logged), so no stuck mount
   * point is ever left behind. Idempotent.
   */
  unmount (opts?: { lazy?: boolean }): Promise<void>
}

export type MountFuse = (fs: FsCore, mountpoint: string, opts: FuseOptions) => Promise<FuseMount>
