// lib/fuse: serves an FsCore at a mount point through fuse-native. This is the only file in
// lk-mount that imports fuse-native.
//
// What it owns: the handler table (each handler is call -> reply), the mount options, the errno
// mapping (errno.ts) and unmounting. What it must never do: decide semantics (that is lib/fs),
// throw out of a handler (an uncaught exception kills the daemon and every mount with it), or
// block the event loop (every request of every mount waits on this one thread).
//
// Concurrency: fuse-native runs libfuse's multithreaded loop on native threads; each request is
// handed to this thread and its libfuse thread waits until the handler replies. Handlers run
// concurrently with each other across awaits; FsCore owns any ordering it needs. A `write`
// buffer points into libfuse's memory and is detached once we reply, so it is copied before any
// await; a `read` buffer stays valid until we reply (and becomes a zero-length view after a
// timeout reply, so a late FsCore.read cannot scribble on freed memory).
//
// Hot path (why the handlers look the way they do; numbers in /work/shared/DESIGN.md): warm
// reads are bounded by how many requests per file reach JavaScript. So: getattr is answered
// synchronously from FsCore.getattrSync when it can; read-only mounts answer `open` with ENOSYS
// (the kernel stops sending open/release) and register no flush/opendir/write ops; security.* and
// system.* xattrs, which the kernel asks for on every `ls -l` entry and every write, are answered
// here without touching the core; immutable mounts use the page cache and long timeouts.

import { execFile } from 'node:child_process'
import { readFile, readdir } from 'node:fs/promises'
import { constants as fsConstants, existsSync } from 'node:fs'
import { resolve as resolvePath } from 'node:path'
import Fuse, { type FuseOps, type FuseStat } from 'fuse-native'
import { LkError } from '../core/errors.js'
import { silentLogger, type Logger } from '../core/log.js'
import type { Attr, FsCore } from '../fs/types.js'
import type { FuseMount, FuseOptions, MountFuse } from './types.js'
import { ERRNO, errnoFor } from './errno.js'
import { ReadHandles } from './read-handles.js'

export type { FuseMount, FuseOptions, MountFuse } from './types.js'
export { ERRNO, errnoFor } from './errno.js'

/** pinned data never changes under the kernel: keep attributes, entries and misses for an hour */
const IMMUTABLE_TIMEOUT_SEC = 3600
/**
 * fuse-native's default is 15 s, after which the kernel gets ETIMEDOUT; a lazy fetch of a large
 * chunk over a slow link can take longer, and a reader would rather wait than fail.
 */
const DEFAULT_HANDLER_TIMEOUT_MS = 5 * 60 * 1000
/** libfuse copies the option string into a 1024-byte buffer: keep the name well below */
const MAX_FSNAME = 200

/** xattr namespaces the kernel and tools query for their own purposes: never data of ours */
const SYSTEM_XATTR = /^(security|system|trusted)\./

/** libfuse 2 passes UTIME_NOW/UTIME_OMIT (tv_nsec 2^30-1 / 2^30-2, tv_sec 0) and fuse-native
 * turns them into 1073 ms: treat that instant as "now". */
const UTIME_SPECIAL_MS = 1073

/** Linux ENOSYS: only ever sent on purpose, never mapped from the core (see errno.ts) */
const LINUX_ENOSYS = 38

const DEBUG_ERRNOS = new Set<number>([ERRNO.ENOENT, ERRNO.ENODATA, ERRNO.EEXIST, ERRNO.ENOTEMPTY])

// --- unmounting ---------------------------------------------------------------------------
//
// fuse-native's instance unmount runs its static `Fuse.unmount` (a lazy `fusermount -uz`) and then
// releases the native thread handle that keeps the event loop alive. We replace the static with
// our own strategy so that the handle is always released, whatever way the detach went: a clean
// unmount first, a lazy detach when busy, `umount -l` as root when fusermount is missing, and
// "already gone" (unmounted by hand, connection aborted) counted as done.

/** the unmount in progress per mount point: how it was asked for and where to log */
const unmountRequests = new Map<string, { lazy: boolean, log: Logger, drain?: () => Promise<void> }>()

Fuse.unmount = (mnt: string, cb: (err: Error | null) => void): void => {
  const req = unmountRequests.get(mnt)
  detach(mnt, req?.lazy ?? false, req?.log ?? silentLogger)
    .then(async () => { await req?.drain?.() })
    .then(() => { cb(null) }, (e: unknown) => { cb(e as Error) })
}

/**
 * fuse-native's native unmount, which runs right after this callback, joins the FUSE thread
 * *synchronously on the JavaScript thread*. A request the thread read just before the detach
 * waits for its JavaScript handler, which cannot run while the event loop is blocked in that
 * join: the whole daemon would deadlock. So after the detach we let every request in flight be
 * answered (and the event loop turn a few times, for replies libuv has not delivered yet) before
 * fuse-native joins. Bounded: a handler stuck longer than DRAIN_MAX_MS is logged and not waited for.
 */
const DRAIN_MAX_MS = 10_000
async function drainInflight (inflight: () => number, log: Logger): Promise<void> {
  const end = Date.now() + DRAIN_MAX_MS
  while (inflight() > 0 && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 5))
  if (inflight() > 0) log.warn('unmount: requests still in flight after the detach', { inflight: inflight() })
  for (let i = 0; i < 3; i++) await new Promise(resolve => setTimeout(resolve, 10))
}

interface ExecResult { ok: boolean, stderr: string, missing: boolean }

function run (cmd: string, args: string[]): Promise<ExecResult> {
  return new Promise(resolve => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      const code = (err as NodeJS.ErrnoException | null)?.code
      resolve({ ok: err === null, stderr: String(stderr), missing: code === 'ENOENT' })
    })
  })
}

async function fusermount (args: string[]): Promise<ExecResult> {
  const r = await run('fusermount', args)
  return r.missing ? await run('fusermount3', args) : r
}

/** /proc/self/mountinfo escapes space, tab, newline and backslash as octal */
function unescapeMountPath (s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}

/** true when something is mounted exactly at `mnt` (reads /proc, never the mount itself) */
export async function isMounted (mnt: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8')
  const target = resolvePath(mnt)
  for (const line of info.split('\n')) {
    const field = line.split(' ')[4]
    if (field !== undefined && unescapeMountPath(field) === target) return true
  }
  return false
}

async function detach (mnt: string, lazy: boolean, log: Logger): Promise<void> {
  if (!lazy) {
    const clean = await fusermount(['-u', mnt])
    if (clean.ok || !(await isMounted(mnt))) return
    log.warn('mount point busy: detaching lazily; open files keep working until closed', { mountpoint: mnt, reason: clean.stderr.trim() })
  }
  const lazily = await fusermount(['-u', '-z', mnt])
  if (lazily.ok || !(await isMounted(mnt))) return
  const umount = await run('umount', ['-l', mnt])
  if (umount.ok || !(await isMounted(mnt))) return
  throw new LkError('LK_MOUNTPOINT_BUSY', `cannot unmount ${mnt}: ${lazily.stderr.trim() || umount.stderr.trim()}`)
}

/**
 * Detaches whatever is mounted at `mnt` (a stale mount left by a crashed daemon reads
 * ENOTCONN): for the manager's recovery and for test cleanup. No-op when nothing is mounted.
 */
export async function forceUnmount (mnt: string, log: Logger = silentLogger): Promise<void> {
  if (await isMounted(mnt)) await detach(resolvePath(mnt), true, log)
}

// --- xattr replies that respect the caller's buffer -----------------------------------------
//
// fuse-native 2.2.6 answers getxattr/listxattr with the full length even when the caller's
// buffer is smaller; libfuse then replies with more bytes than it allocated (a heap over-read)
// and the kernel rejects the reply, so the caller sees EIO. Python's os.getxattr probes with a
// 128-byte buffer first, so any value longer than that failed. These two dispatchers replace
// fuse-native's: a size probe (empty buffer) gets the size, a short buffer gets ERANGE.

class LkFuse extends Fuse {
  protected override _op_getxattr (signal: (code: number, buf: ArrayBufferLike) => void, path: string, name: string, valueBuf: Buffer, position: number): void {
    const getxattr = this.ops.getxattr
    if (getxattr === undefined) { signal(-LINUX_ENOSYS, valueBuf.buffer); return }
    getxattr(path, name, position, (code, value) => {
      if (code !== 0) signal(code, valueBuf.buffer)
      else if (value === undefined) signal(-ERRNO.ENODATA, valueBuf.buffer)
      else if (valueBuf.length === 0) signal(value.length, valueBuf.buffer)
      else if (value.length > valueBuf.length) signal(-ERRNO.ERANGE, valueBuf.buffer)
      else signal(value.copy(valueBuf), valueBuf.buffer)
    })
  }

  protected override _op_listxattr (signal: (code: number, buf: ArrayBufferLike) => void, path: string, listBuf: Buffer): void {
    const listxattr = this.ops.listxattr
    if (listxattr === undefined) { signal(-LINUX_ENOSYS, listBuf.buffer); return }
    listxattr(path, (code, names) => {
      if (code !== 0 || names === undefined) { signal(code !== 0 ? code : -ERRNO.EIO, listBuf.buffer); return }
      const packed = Buffer.from(names.map(n => n + '\0').join(''))
      if (listBuf.length === 0) signal(packed.length, listBuf.buffer)
      else if (packed.length > listBuf.length) signal(-ERRNO.ERANGE, listBuf.buffer)
      else signal(packed.copy(listBuf), listBuf.buffer)
    })
  }
}

// --- handlers -----------------------------------------------------------------------------

function toStat (a: Attr): FuseStat {
  return {
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    size: a.size,
    nlink: a.nlink,
    // du and ls -s count 512-byte blocks; 0 would make every file look sparse
    blocks: Math.ceil(a.size / 512),
    mtime: a.mtime,
    atime: a.atime,
    ctime: a.ctime,
  }
}

type Fail = (negErrno: number) => void

/** enough for a DataLoader's workers and prefetch queue; each is a small object in lib/fs */
const READ_HANDLES = 4096

class Handlers {
  readonly #core: FsCore
  readonly #log: Logger
  readonly #readOnly: boolean
  readonly #noOpen: boolean
  readonly #xattrs: boolean
  /** set on no-open mounts: the handles reads use instead of the kernel's fh 0 */
  readonly readHandles: ReadHandles | undefined

  constructor (core: FsCore, log: Logger, flags: { readOnly: boolean, noOpen: boolean, xattrs: boolean }) {
    this.#core = core
    this.#log = log
    this.#readOnly = flags.readOnly
    this.#noOpen = flags.noOpen
    this.#xattrs = flags.xattrs
    this.readHandles = flags.noOpen ? new ReadHandles(core, READ_HANDLES) : undefined
  }

  /** errno for a thrown value, logged when it became EIO (an error the table does not know) */
  #errno (op: string, path: string, e: unknown): number {
    const { errno, unknown } = errnoFor(e)
    if (errno === ERRNO.EIO || unknown) {
      this.#log.warn('fuse handler failed: answering EIO', {
        op,
        path,
        cause: e instanceof Error ? { name: e.name, message: e.message, stack: unknown ? e.stack : undefined } : String(e),
      })
    } else if (!DEBUG_ERRNOS.has(errno)) {
      this.#log.debug('fuse handler error', { op, path, errno, message: e instanceof Error ? e.message : String(e) })
    }
    return -errno
  }

  /**
   * Runs `work` and replies exactly once: `ok` with its value, `fail` with a negative errno.
   * Nothing escapes: a synchronous throw, a rejection and a throw inside `ok` all end as a reply.
   */
  #call<T>(op: string, path: string, work: () => Promise<T>, ok: (v: T) => void, fail: Fail): void {
    let p: Promise<T>
    try {
      p = work()
    } catch (e) {
      fail(this.#errno(op, path, e))
      return
    }
    p.then(v => {
      try {
        ok(v)
      } catch (e) {
        fail(this.#errno(op, path, e))
      }
    }, (e: unknown) => { fail(this.#errno(op, path, e)) })
  }

  /** the fuse-native ops object: read-only mounts get no write-side ops at all */
  ops (): FuseOps {
    const core = this.#core
    const ro: FuseOps = {
      getattr: (path, cb) => {
        let attr: Attr | undefined
        try {
          attr = core.getattrSync(path)
        } catch (e) {
          cb(this.#errno('getattr', path, e))
          return
        }
        if (attr !== undefined) {
          cb(0, toStat(attr))
          return
        }
        this.#call('getattr', path, () => core.getattr(path), a => { cb(0, toStat(a)) }, cb)
      },
      readdir: (path, cb) => {
        this.#call('readdir', path, () => core.readdir(path), names => { cb(0, ['.', '..', ...names]) }, cb)
      },
      read: (path, fh, buf, len, pos, cb) => {
        const handles = this.readHandles
        const read = fh === 0 && handles !== undefined
          ? () => handles.use(path, h => core.read(path, h, buf, len, pos))
          : () => core.read(path, fh, buf, len, pos)
        this.#call('read', path, read, n => {
          cb(Number.isInteger(n) && n >= 0 && n <= len ? n : this.#errno('read', path, new Error(`core returned ${n} bytes for a read of ${len}`)))
        }, cb)
      },
      getxattr: (path, name, _position, cb) => {
        if (SYSTEM_XATTR.test(name)) {
          cb(-ERRNO.ENODATA)
          return
        }
        this.#call('getxattr', path, () => core.getxattr(path, name), v => { cb(0, v) }, cb)
      },
      listxattr: (path, cb) => {
        this.#call('listxattr', path, () => core.listxattr(path), names => { cb(0, names) }, cb)
      },
      statfs: (path, cb) => {
        this.#call('statfs', path, () => core.statfs(path), st => { cb(0, st) }, cb)
      },
    }
    if (!this.#xattrs) {
      // unregistered: libfuse answers ENOSYS in C and the kernel stops sending xattr requests
      delete ro.getxattr
      delete ro.listxattr
    }
    if (this.#noOpen) {
      // ENOSYS from OPEN switches the connection to no-open: no OPEN/RELEASE for any file of this
      // mount again, reads carry fh 0 and use the adapter's own handles (ReadHandles).
      ro.open = (_path, _flags, cb) => { cb(-LINUX_ENOSYS) }
    } else {
      ro.open = (path, flags, cb) => {
        this.#call('open', path, () => core.open(path, flags), fh => { cb(0, fh) }, cb)
      }
      ro.release = (path, fh, cb) => {
        this.#call('release', path, () => core.release(path, fh), () => { cb(0) }, cb)
      }
    }
    if (this.#readOnly) return ro

    const done = (cb: (code: number) => void) => () => { cb(0) }
    const rw: FuseOps = {
      ...ro,
      create: (path, mode, cb) => {
        // fuse-native does not forward create's open flags; the kernel has already applied
        // O_EXCL (lookup first) and sends O_TRUNC as a truncate, so read+write covers every case.
        this.#call('create', path, () => core.create(path, mode, fsConstants.O_CREAT | fsConstants.O_RDWR), fh => { cb(0, fh) }, cb)
      },
      write: (path, fh, buf, len, pos, cb) => {
        // the buffer is libfuse's memory and is detached once we reply: copy before any await
        const data = Buffer.from(buf.subarray(0, len))
        this.#call('write', path, () => core.write(path, fh, data, len, pos), n => {
          cb(Number.isInteger(n) && n >= 0 && n <= len ? n : this.#errno('write', path, new Error(`core returned ${n} bytes for a write of ${len}`)))
        }, cb)
      },
      truncate: (path, size, cb) => { this.#call('truncate', path, () => core.truncate(path, size), done(cb), cb) },
      ftruncate: (path, fh, size, cb) => { this.#call('ftruncate', path, () => core.ftruncate(path, fh, size), done(cb), cb) },
      flush: (path, fh, cb) => { this.#call('flush', path, () => core.flush(path, fh), done(cb), cb) },
      fsync: (path, datasync, fh, cb) => { this.#call('fsync', path, () => core.fsync(path, fh, datasync !== 0), done(cb), cb) },
      unlink: (path, cb) => { this.#call('unlink', path, () => core.unlink(path), done(cb), cb) },
      mkdir: (path, mode, cb) => { this.#call('mkdir', path, () => core.mkdir(path, mode), done(cb), cb) },
      rmdir: (path, cb) => { this.#call('rmdir', path, () => core.rmdir(path), done(cb), cb) },
      rename: (src, dest, cb) => { this.#call('rename', src, () => core.rename(src, dest), done(cb), cb) },
      utimens: (path, atime, mtime, cb) => {
        // fuse-native 2.2.6 passes atime in both arguments (fuse-native.c utimens), so mtime is
        // only right when both were set to the same instant (touch, touch -d).
        const now = Date.now()
        const a = Math.floor(atime) === UTIME_SPECIAL_MS ? now : atime
        const m = Math.floor(mtime) === UTIME_SPECIAL_MS ? now : mtime
        this.#call('utimens', path, () => core.utimens(path, a, m), done(cb), cb)
      },
      chmod: (path, mode, cb) => { this.#call('chmod', path, () => core.chmod(path, mode), done(cb), cb) },
      chown: (path, uid, gid, cb) => { this.#call('chown', path, () => core.chown(path, uid, gid), done(cb), cb) },
      symlink: (target, path, cb) => { this.#call('symlink', path, () => core.symlink(target, path), done(cb), cb) },
      link: (existing, path, cb) => { this.#call('link', path, () => core.link(existing, path), done(cb), cb) },
      mknod: (path, mode, dev, cb) => { this.#call('mknod', path, () => core.mknod(path, mode, dev), done(cb), cb) },
      setxattr: (path, name, value, _position, flags, cb) => {
        // cp -a and rsync -X try to copy SELinux labels and ACLs: "not supported" makes them skip
        if (SYSTEM_XATTR.test(name)) {
          cb(-ERRNO.ENOTSUP)
          return
        }
        const copy = Buffer.from(value)
        this.#call('setxattr', path, () => core.setxattr(path, name, copy, flags), done(cb), cb)
      },
      removexattr: (path, name, cb) => {
        if (SYSTEM_XATTR.test(name)) {
          cb(-ERRNO.ENODATA)
          return
        }
        this.#call('removexattr', path, () => core.removexattr(path, name), done(cb), cb)
      },
    }
    if (!this.#xattrs) {
      delete rw.setxattr
      delete rw.removexattr
    }
    return rw
  }
}

// --- mounting -----------------------------------------------------------------------------

/** the fsname option string carries the options fuse-native has no name for */
function fsnameOption (opts: FuseOptions, readOnly: boolean): string {
  // a comma would end the fsname and start an option: never let a name inject options
  const name = opts.fsName.replace(/[,\\\s]/g, '_').slice(0, MAX_FSNAME) || 'lk-mount'
  const extra: string[] = []
  if (readOnly) {
    // kernel-level ro: no atime updates (so no getattr per open), EROFS without a round trip
    extra.push('ro')
  } else {
    // 128 KiB write requests instead of 4 KiB
    extra.push('big_writes')
    // Not hard_remove: with it libfuse 2 has no path for an unlinked-but-open file and its reads
    // and writes fail with ENOENT. Without it libfuse renames such a file to .fuse_hiddenNNN
    // until the last close (the core sees rename, then unlink), so open handles survive unlink.
  }
  // pinned paths never appear: cache misses (loaders probing for optional sidecar files) too
  if (opts.immutable) extra.push(`negative_timeout=${opts.attrTimeoutSec ?? IMMUTABLE_TIMEOUT_SEC}`)
  return [name, ...extra].join(',')
}

async function explainMountFailure (err: Error, mountpoint: string): Promise<LkError> {
  const msg = err.message
  if (/does not exist|not a directory/i.test(msg)) {
    return new LkError('LK_MOUNTPOINT_INVALID', `cannot mount at ${mountpoint}: ${msg}`, { cause: err })
  }
  if (/in use/i.test(msg)) {
    return new LkError('LK_MOUNTPOINT_BUSY', `cannot mount at ${mountpoint}: something is already mounted there`, { cause: err })
  }
  if (!existsSync('/dev/fuse')) {
    return new LkError('LK_FUSE_UNAVAILABLE', `cannot mount at ${mountpoint}: /dev/fuse is missing`, { cause: err })
  }
  const entries = await readdir(mountpoint).catch(() => [])
  if (entries.length > 0) {
    return new LkError('LK_MOUNTPOINT_NOT_EMPTY', `cannot mount at ${mountpoint}: the directory is not empty`, { cause: err })
  }
  return new LkError('LK_FUSE_UNAVAILABLE', `cannot mount at ${mountpoint}: ${msg}`, { cause: err })
}

export const mountFuse: MountFuse = async (core, mountpointIn, opts) => {
  const mountpoint = resolvePath(mountpointIn)
  const log = (opts.logger ?? silentLogger).child({ mountpoint })
  const readOnly = opts.readOnly || core.readOnly
  const noOpen = readOnly && (opts.noOpen ?? true)
  const timeoutSec = opts.attrTimeoutSec ?? (opts.immutable ? IMMUTABLE_TIMEOUT_SEC : undefined)

  const handlers = new Handlers(core, log, { readOnly, noOpen, xattrs: opts.xattrs ?? true })
  // every request counted from the handler's call to its reply (see drainInflight)
  let inflight = 0
  const counted: Record<string, unknown> = {}
  for (const [name, op] of Object.entries(handlers.ops() as Record<string, unknown>)) {
    if (typeof op !== 'function') { counted[name] = op; continue }
    counted[name] = (...args: unknown[]): unknown => {
      const last = args.length - 1
      const reply = args[last]
      if (typeof reply !== 'function') return (op as (...a: unknown[]) => unknown)(...args)
      inflight++
      let done = false
      args[last] = (...r: unknown[]): unknown => {
        if (!done) { done = true; inflight-- }
        return (reply as (...a: unknown[]) => unknown)(...r)
      }
      try {
        return (op as (...a: unknown[]) => unknown)(...args)
      } catch (e) {
        if (!done) { done = true; inflight-- }
        throw e
      }
    }
  }
  const fuse = new LkFuse(mountpoint, counted as ReturnType<Handlers['ops']>, {
    timeout: opts.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS,
    // a stale mount left here by a crashed daemon (ENOTCONN) is detached before mounting
    force: true,
    // a fusermount helper unmounts when this process dies (kill -9, crash), so a dead daemon
    // leaves an empty directory rather than a mount point that answers ENOTCONN to everything
    autoUnmount: true,
    mkdir: false,
    fsname: fsnameOption(opts, readOnly),
    subtype: 'lk-mount',
    allowOther: opts.allowOther === true,
    // the page cache survives open() only when the bytes behind a path can never change
    kernelCache: opts.immutable,
    ...(timeoutSec === undefined ? {} : { attrTimeout: timeoutSec, entryTimeout: timeoutSec }),
  })

  try {
    await new Promise<void>((resolve, reject) => { fuse.mount(err => { err === null || err === undefined ? resolve() : reject(err) }) })
  } catch (e) {
    throw await explainMountFailure(e as Error, mountpoint)
  }
  log.info('mounted', { readOnly, immutable: opts.immutable, noOpen, fsname: opts.fsName })

  let unmounting: Promise<void> | undefined
  return {
    mountpoint,
    unmount (uopts = {}): Promise<void> {
      unmounting ??= (async () => {
        unmountRequests.set(mountpoint, { lazy: uopts.lazy === true, log, drain: async () => { await drainInflight(() => inflight, log) } })
        try {
          await new Promise<void>((resolve, reject) => { fuse.unmount(err => { err === null || err === undefined ? resolve() : reject(err) }) })
        } finally {
          unmountRequests.delete(mountpoint)
        }
        // the core gets its handles back before the manager closes it
        handlers.readHandles?.closeAll()
        log.info('unmounted')
      })()
      // a failed unmount may be retried (e.g. with lazy)
      unmounting.catch(() => { unmounting = undefined })
      return unmounting
    },
  }
}
