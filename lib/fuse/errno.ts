// The one errno table of lk-mount: errno *names* (what lib/fs and lib/core throw) to Linux errno
// numbers (what the kernel gets back through FUSE). Every name in `ErrnoName` has a row, checked
// by the compiler; a few extra names cover Node system errors that escape from local disk I/O.
//
// Judgement calls are commented on their row. Two rules drive them:
// - ENOSYS never reaches the kernel from a handler: FUSE reads ENOSYS as "this operation is not
//   implemented" and stops sending it for the life of the mount (no_flush, no_fsync, no_xattr...;
//   from OPEN it switches the whole connection to no-open). The adapter answers ENOSYS itself only
//   where that switch is the point (open on read-only mounts).
// - Errors about *our* plumbing (a refused connection to the remote, a protocol mismatch) mean
//   nothing to a program reading a file; they become EIO, which every reader handles.

import { errnoOf, type ErrnoName } from '../core/errors.js'

/** Linux x86-64/arm64 numbers (asm-generic/errno-base.h, errno.h) */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  // The core's ENOSYS means "lk-mount does not do this"; passed through, the kernel would stop
  // asking for the operation on the whole mount (see above), so it is reported as not supported.
  ENOSYS: 95,
  ENOTEMPTY: 39,
  // ENODATA is also ENOATTR: the answer for a missing extended attribute.
  ENODATA: 61,
  // Plumbing errors (remote unreachable, daemon protocol): the reader sees an I/O error.
  EPROTO: 5,
  ECONNREFUSED: 5,
  ENOTCONN: 5,
  // ENOTSUP and EOPNOTSUPP are the same number on Linux.
  ENOTSUP: 95,
  // Kept: a reader can tell "took too long, try again" from a broken file, and the catalogue's
  // LK_REMOTE_TIMEOUT is retryable.
  ETIMEDOUT: 110,
  // Kept: an object that changed under an open handle is ESTALE by design (docs/SEMANTICS.md).
  ESTALE: 116,
} as const satisfies Record<ErrnoName, number>

/** Node system error codes that local disk I/O in the core may let through unchanged. */
const NODE_EXTRA: Record<string, number> = {
  EINTR: 4,
  ENXIO: 6,
  EMFILE: 24,
  ENFILE: 23,
  ENOTTY: 25,
  ETXTBSY: 26,
  ESPIPE: 29,
  ELOOP: 40,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  EDQUOT: 122,
  ENOMEM: 12,
  // EWOULDBLOCK is EAGAIN on Linux.
  EWOULDBLOCK: 11,
  // ECANCELED comes from aborted fetches; the reader sees an I/O error.
  ECANCELED: 5,
}

export interface ErrnoAnswer {
  /** positive errno number for the kernel */
  errno: number
  /** true when the error was not a typed one the table knows: the caller logs it */
  unknown: boolean
}

/** Number for a thrown value. Unknown values and unknown names become EIO and are flagged. */
export function errnoFor (e: unknown): ErrnoAnswer {
  const name = errnoOf(e)
  const known = (ERRNO as Record<string, number>)[name] ?? NODE_EXTRA[name]
  if (known === undefined) return { errno: ERRNO.EIO, unknown: true }
  // errnoOf says EIO for anything untyped: a plain Error is a bug worth a log line.
  const typed = (e as { errno?: unknown } | null)?.errno !== undefined || (e as { code?: unknown } | null)?.code !== undefined
  return { errno: known, unknown: name === 'EIO' && !typed }
}
