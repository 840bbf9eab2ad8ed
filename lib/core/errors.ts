// The catalogue of user-facing errors.
//
// Every error a user can meet has a stable code (never renamed once released), the errno name
// the filesystem layer answers with, the CLI's exit code, and a message that says what to do.
// docs/errors.md lists the same codes; test/core/errors.test.ts fails when the two drift.
//
// The core throws `LkError`; the FUSE adapter maps `errno` to a number through its one table,
// the control protocol carries `code` and `message` to the CLI, which exits with `exitCode`.

export type ErrnoName =
  | 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'ENOTEMPTY' | 'EROFS' | 'ENOTSUP' | 'EACCES'
  | 'EPERM' | 'EINVAL' | 'EIO' | 'ENOSPC' | 'EBUSY' | 'ESTALE' | 'ETIMEDOUT' | 'EAGAIN'
  | 'ENAMETOOLONG' | 'EXDEV' | 'EBADF' | 'ENODATA' | 'ERANGE' | 'ECONNREFUSED' | 'ENOTCONN'
  | 'EFBIG' | 'EMLINK' | 'ENOSYS' | 'EPROTO'

interface CatalogueEntry {
  /** exit status of the CLI when this error ends a command */
  exit: number
  errno: ErrnoName
  /** true when trying the same operation again later may succeed */
  retryable: boolean
  /** one sentence: what went wrong and what the user can do */
  hint: string
}

// Exit codes: 1 generic, 2 usage, 3 not found, 4 conflict, 5 remote/unavailable,
// 6 permission/credentials, 7 local resource (disk, mount point), 8 daemon/protocol.
export const CATALOGUE = {
  LK_USAGE: { exit: 2, errno: 'EINVAL', retryable: false, hint: 'Check the command line; `lk-mount <command> --help` shows the accepted arguments.' },
  LK_BAD_URI: { exit: 2, errno: 'EINVAL', retryable: false, hint: 'Write URIs as lakefs://<repo>/<ref>[/<path>], e.g. lakefs://images/main/train.' },
  LK_BAD_NAME: { exit: 2, errno: 'EINVAL', retryable: false, hint: 'Names follow lakeFS: repositories are 3-63 characters of a-z, 0-9 and "-"; branches are letters, digits, "_" and "-" (not starting with "-"), so write exp-lr-0_1, not exp-lr-0.1; tags have no spaces, "/", "..", or ^:?*[\\ and do not end in "." or ".lock".' },
  LK_BAD_PATH: { exit: 2, errno: 'EINVAL', retryable: false, hint: 'Object keys are 1-1024 bytes without NUL; paths a mount or import writes must also be relative, without "..", "." or empty segments.' },
  LK_BAD_METADATA: { exit: 2, errno: 'EINVAL', retryable: false, hint: 'Give metadata as --meta key=value with a non-empty key.' },
  LK_REPO_NOT_FOUND: { exit: 3, errno: 'ENOENT', retryable: false, hint: 'Check the name with `lk-mount repo list`, or create it with `lk-mount repo create <name>`.' },
  LK_REPO_EXISTS: { exit: 4, errno: 'EEXIST', retryable: false, hint: 'Pick another name, or use the existing repository.' },
  LK_REF_NOT_FOUND: { exit: 3, errno: 'ENOENT', retryable: false, hint: 'Check the ref with `lk-mount branch list lakefs://<repo>` or `lk-mount log lakefs://<repo>/<branch>`.' },
  LK_BRANCH_EXISTS: { exit: 4, errno: 'EEXIST', retryable: false, hint: 'Pick another branch name, or delete the existing branch first with `lk-mount branch delete`.' },
  LK_TAG_EXISTS: { exit: 4, errno: 'EEXIST', retryable: false, hint: 'Tags never move: pick another tag name.' },
  LK_NOT_A_BRANCH: { exit: 2, errno: 'EROFS', retryable: false, hint: 'Only branches can be written, committed to or merged into; tags and commits are read-only. Create a branch from the ref first.' },
  LK_OBJECT_NOT_FOUND: { exit: 3, errno: 'ENOENT', retryable: false, hint: 'Check the path with `lk-mount ls lakefs://<repo>/<ref>/<prefix>`.' },
  LK_DEFAULT_BRANCH: { exit: 2, errno: 'EPERM', retryable: false, hint: 'The default branch of a repository cannot be deleted.' },
  LK_NOTHING_TO_COMMIT: { exit: 4, errno: 'EINVAL', retryable: false, hint: 'There is nothing to commit, merge, revert or cherry-pick (no staged changes, or the source brings no change); write something first, or pass --allow-empty where the command has it.' },
  LK_DIRTY_BRANCH: { exit: 4, errno: 'EBUSY', retryable: false, hint: 'The branch has uncommitted changes; commit them (`lk-mount commit`) or drop them (`lk-mount branch reset lakefs://<repo>/<branch>`) first.' },
  LK_CONFLICT: { exit: 4, errno: 'EBUSY', retryable: false, hint: 'The branch changed the same paths since your base commit. Your changes are kept; commit them to a new branch (`lk-mount commit <mountpoint> --branch <new>`) or resolve and retry.' },
  LK_MERGE_CONFLICT: { exit: 4, errno: 'EBUSY', retryable: false, hint: 'Both sides changed the listed paths. Retry with --strategy source-wins or dest-wins, or change one side first.' },
  LK_REF_MOVED: { exit: 4, errno: 'EAGAIN', retryable: true, hint: 'Another writer moved the branch at the same moment; run the command again.' },
  LK_LOCKED: { exit: 4, errno: 'EAGAIN', retryable: true, hint: 'Another process holds the store lock; wait a moment and run the command again.' },
  LK_STORE_CORRUPT: { exit: 1, errno: 'EIO', retryable: false, hint: 'A store file failed its checksum; restore it from a backup or re-import the data.' },
  LK_REMOTE_UNAVAILABLE: { exit: 5, errno: 'EIO', retryable: true, hint: 'The server or object store did not answer; check that it is running and reachable, then retry.' },
  LK_REMOTE_TIMEOUT: { exit: 5, errno: 'ETIMEDOUT', retryable: true, hint: 'The server took too long to answer; check the network or raise --timeout, then retry.' },
  LK_CREDENTIALS: { exit: 6, errno: 'EACCES', retryable: false, hint: 'The access key or secret was refused; check the credentials given by flags, LAKECTL_* variables or ~/.lakectl.yaml.' },
  LK_PERMISSION: { exit: 6, errno: 'EACCES', retryable: false, hint: 'The credentials are valid but not allowed this operation; ask an administrator for the permission.' },
  LK_BUCKET_NOT_FOUND: { exit: 3, errno: 'ENOENT', retryable: false, hint: 'The object-store bucket named in --blobs s3://<bucket>/<prefix> does not exist; create it or fix the name.' },
  LK_NO_SPACE: { exit: 7, errno: 'ENOSPC', retryable: false, hint: 'The local disk is full; free space or lower --cache-size. Staged changes are kept.' },
  LK_MOUNTPOINT_BUSY: { exit: 7, errno: 'EBUSY', retryable: false, hint: 'Something is already mounted there; unmount it first (`lk-mount umount <mountpoint>`) or pick another directory.' },
  LK_MOUNTPOINT_NOT_EMPTY: { exit: 7, errno: 'ENOTEMPTY', retryable: false, hint: 'Mount points must be empty directories; pick an empty or new directory.' },
  LK_MOUNTPOINT_INVALID: { exit: 7, errno: 'ENOTDIR', retryable: false, hint: 'The mount point must be a directory (it is created when missing).' },
  LK_FUSE_UNAVAILABLE: { exit: 7, errno: 'ENOSYS', retryable: false, hint: 'FUSE is not usable here: check /dev/fuse, install libfuse2 and fuse3 (scripts/setup.sh), run as root or in the fuse group, or use `lk-mount sync` instead.' },
  LK_NOT_MOUNTED: { exit: 3, errno: 'ENOENT', retryable: false, hint: 'No lk-mount mount is at that path; `lk-mount status` lists the mounts.' },
  LK_READ_ONLY_MOUNT: { exit: 2, errno: 'EROFS', retryable: false, hint: 'The mount is read-only; remount a branch with --write to change it.' },
  LK_DAEMON_UNAVAILABLE: { exit: 8, errno: 'ECONNREFUSED', retryable: true, hint: 'No daemon answers on the control socket; start it with `lk-mount daemon` (or drop --no-spawn).' },
  LK_DAEMON_VERSION: { exit: 8, errno: 'EPROTO', retryable: false, hint: 'The running daemon speaks another protocol version; stop it with `lk-mount daemon stop` and run the command again.' },
  LK_PROTOCOL: { exit: 8, errno: 'EPROTO', retryable: false, hint: 'A control message was malformed; make sure the CLI and the daemon come from the same lk-mount installation.' },
  LK_DAEMON_RUNNING: { exit: 8, errno: 'EBUSY', retryable: false, hint: 'A daemon already answers on this control socket; stop it with `lk-mount daemon stop` first.' },
  LK_SOCKET_PERMISSION: { exit: 6, errno: 'EACCES', retryable: false, hint: 'The control socket refused this user: ask an administrator to add you to the socket\'s group (socket.group in /etc/lk-mount/config.yaml, default lk-mount), then log in again.' },
  LK_PATH_FORBIDDEN: { exit: 6, errno: 'EACCES', retryable: false, hint: 'The daemon refuses this path: system directories and the daemon\'s own home are never mount points, caches or stores, and with mountRoots in the config every mount point must lie under one of them.' },
  LK_CONFIG: { exit: 2, errno: 'EINVAL', retryable: false, hint: 'Fix the configuration file named in the message (see systemd/config.example.yaml); `lk-mount doctor` checks it.' },
  LK_CREDENTIALS_INSECURE: { exit: 6, errno: 'EACCES', retryable: false, hint: 'A credentials file must be owned by the daemon\'s user (or root) and readable by nobody else: chmod 600 it (and chown it), or give the credentials through LAKECTL_* environment variables.' },
  LK_UNSUPPORTED: { exit: 2, errno: 'ENOTSUP', retryable: false, hint: 'lk-mount cannot store this (symlinks, hard links, devices, permissions); see docs/SEMANTICS.md.' },
  LK_INTERNAL: { exit: 1, errno: 'EIO', retryable: false, hint: 'An unexpected error; the daemon log has the details. Please report it with that log.' },
} as const satisfies Record<string, CatalogueEntry>

export type ErrorCode = keyof typeof CATALOGUE

export interface LkErrorOptions {
  /** overrides the catalogue's errno for this occurrence (e.g. EISDIR on an ENOENT-class error) */
  errno?: ErrnoName
  cause?: unknown
  /** structured details for --json output (conflicting paths, the ref that was missing, ...) */
  details?: Record<string, unknown>
}

export class LkError extends Error {
  readonly code: ErrorCode
  readonly errno: ErrnoName
  readonly exitCode: number
  readonly retryable: boolean
  readonly hint: string
  readonly details: Record<string, unknown> | undefined

  constructor (code: ErrorCode, message: string, opts: LkErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    const entry: CatalogueEntry = CATALOGUE[code]
    this.name = 'LkError'
    this.code = code
    this.errno = opts.errno ?? entry.errno
    this.exitCode = entry.exit
    this.retryable = entry.retryable
    this.hint = entry.hint
    this.details = opts.details
  }

  /** the message with its hint, as the CLI prints it */
  get userMessage (): string {
    return `${this.message}\n  ${this.hint}`
  }
}

/**
 * A filesystem-level failure that is not a user-facing catalogue error: the core throws these
 * with an errno name (ENOENT on a lookup, EISDIR on a read of a directory). The FUSE adapter maps
 * the name to a number; anything else it meets becomes EIO.
 */
export class FsError extends Error {
  readonly errno: ErrnoName
  constructor (errno: ErrnoName, message: string, opts: { cause?: unknown } = {}) {
    super(`${errno}: ${message}`, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'FsError'
    this.errno = errno
  }
}

export const isLkError = (e: unknown): e is LkError => e instanceof LkError
export const isFsError = (e: unknown): e is FsError => e instanceof FsError

/** errno name of any thrown value; node system errors keep theirs, unknown errors are EIO */
export function errnoOf (e: unknown): ErrnoName {
  if (e instanceof LkError || e instanceof FsError) return e.errno
  const code = (e as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code as ErrnoName
  return 'EIO'
}

/** Wraps any thrown value into an LkError (unknown errors become LK_INTERNAL, ENOSPC becomes LK_NO_SPACE). */
export function toLkError (e: unknown): LkError {
  if (e instanceof LkError) return e
  const errno = errnoOf(e)
  const msg = e instanceof Error ? e.message : String(e)
  if (errno === 'ENOSPC') return new LkError('LK_NO_SPACE', `no space left on device: ${msg}`, { cause: e })
  if (errno === 'EACCES' || errno === 'EPERM') return new LkError('LK_PERMISSION', `permission denied: ${msg}`, { cause: e, errno })
  return new LkError('LK_INTERNAL', msg, { cause: e, errno })
}
