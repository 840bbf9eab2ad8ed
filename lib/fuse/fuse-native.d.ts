// The part of fuse-native 2.2.6 that lib/fuse uses, typed from its index.js (the package ships no
// types). Callbacks take a number: 0 or a negative errno; read/write/getxattr answer a byte count.

declare module 'fuse-native' {
  type Cb = (code: number) => void

  export interface FuseStat {
    mode: number
    uid: number
    gid: number
    size: number
    nlink: number
    blocks?: number
    blksize?: number
    /** milliseconds since the epoch (or Date) */
    mtime: number
    atime: number
    ctime: number
  }

  export interface FuseStatfs {
    bsize: number
    frsize: number
    blocks: number
    bfree: number
    bavail: number
    files: number
    ffree: number
    favail: number
    fsid?: number
    flag?: number
    namemax: number
  }

  export interface FuseOps {
    init?: (cb: Cb) => void
    statfs?: (path: string, cb: (code: number, st?: FuseStatfs) => void) => void
    getattr?: (path: string, cb: (code: number, st?: FuseStat) => void) => void
    readdir?: (path: string, cb: (code: number, names?: string[]) => void) => void
    open?: (path: string, flags: number, cb: (code: number, fh?: number) => void) => void
    create?: (path: string, mode: number, cb: (code: number, fh?: number) => void) => void
    read?: (path: string, fh: number, buf: Buffer, len: number, pos: number, cb: (bytesOrErr: number) => void) => void
    write?: (path: string, fh: number, buf: Buffer, len: number, pos: number, cb: (bytesOrErr: number) => void) => void
    truncate?: (path: string, size: number, cb: Cb) => void
    ftruncate?: (path: string, fh: number, size: number, cb: Cb) => void
    flush?: (path: string, fh: number, cb: Cb) => void
    /** note the argument order: datasync before fh */
    fsync?: (path: string, datasync: number, fh: number, cb: Cb) => void
    release?: (path: string, fh: number, cb: Cb) => void
    unlink?: (path: string, cb: Cb) => void
    mkdir?: (path: string, mode: number, cb: Cb) => void
    rmdir?: (path: string, cb: Cb) => void
    rename?: (src: string, dest: string, cb: Cb) => void
    utimens?: (path: string, atime: number, mtime: number, cb: Cb) => void
    chmod?: (path: string, mode: number, cb: Cb) => void
    chown?: (path: string, uid: number, gid: number, cb: Cb) => void
    /** fuse-native passes (target, linkPath) as (src, dest) */
    symlink?: (target: string, path: string, cb: Cb) => void
    link?: (existing: string, path: string, cb: Cb) => void
    mknod?: (path: string, mode: number, dev: number, cb: Cb) => void
    getxattr?: (path: string, name: string, position: number, cb: (code: number, value?: Buffer) => void) => void
    setxattr?: (path: string, name: string, value: Buffer, position: number, flags: number, cb: Cb) => void
    listxattr?: (path: string, cb: (code: number, names?: string[]) => void) => void
    removexattr?: (path: string, name: string, cb: Cb) => void
  }

  export interface FuseNativeOptions {
    /** ms; or per-op values with a default; false disables */
    timeout?: number | false | Record<string, number | false>
    force?: boolean
    mkdir?: boolean
    debug?: boolean
    allowOther?: boolean
    autoUnmount?: boolean
    fsname?: string
    subtype?: string
    kernelCache?: boolean
    entryTimeout?: number
    attrTimeout?: number
  }

  /** replies to the native side; `buf` is the ArrayBuffer fuse-native detaches after replying */
  type Signal = (code: number, buf: ArrayBufferLike) => void

  class Fuse {
    constructor (mnt: string, ops: FuseOps, opts?: FuseNativeOptions)
    readonly mnt: string
    protected ops: FuseOps
    /** internal per-op dispatchers (index.js `_op_*`), overridable by a subclass */
    protected _op_getxattr (signal: Signal, path: string, name: string, valueBuf: Buffer, position: number): void
    protected _op_listxattr (signal: Signal, path: string, listBuf: Buffer): void
    mount (cb: (err: Error | null) => void): void
    unmount (cb: (err: Error | null) => void): void
    /** detaches a mount point; the instance's unmount calls this before releasing its thread */
    static unmount (mnt: string, cb: (err: Error | null) => void): void
  }
  export default Fuse
}
