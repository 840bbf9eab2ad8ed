// A tiny in-memory FsCore: the test double the FUSE adapter tests mount. It is not lk-mount's
// filesystem (that is lib/fs); it only has to be obviously right, count the calls that reach it,
// and let a test inject a failure or a delay into any operation.

import { FsError } from '../../lib/core/errors.js'
import type { Attr, FsCore, StatFs } from '../../lib/fs/types.js'

interface Node {
  dir: boolean
  data: Buffer
  mode: number
  mtime: number
  xattrs: Map<string, Buffer>
}

export type Hook = (op: string, path: string) => void | Promise<void>

const S_IFDIR = 0o040000
const S_IFREG = 0o100000

function parentOf (path: string): string {
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}

export class MemFs implements FsCore {
  readonly readOnly: boolean
  /** calls that reached the core, by operation */
  readonly calls = new Map<string, number>()
  /** runs before every operation: throw to fail it, await to delay it */
  hook: Hook | undefined
  /** answer getattr from memory (the fast path) or only asynchronously */
  syncAttrs = true
  /** file handles seen by read/write, to check the no-open contract (fh 0) */
  readonly handlesSeen = new Set<number>()
  readonly #nodes = new Map<string, Node>()
  #nextFh = 1

  constructor (opts: { readOnly?: boolean, files?: Record<string, Buffer | string> } = {}) {
    this.readOnly = opts.readOnly ?? false
    this.#nodes.set('/', this.#node(true))
    for (const [path, data] of Object.entries(opts.files ?? {})) this.put(path, data)
  }

  /** adds a file (and its parent directories) without going through the FUSE operations */
  put (path: string, data: Buffer | string): void {
    const parts = path.split('/').filter(p => p !== '')
    for (let i = 1; i < parts.length; i++) {
      const dir = '/' + parts.slice(0, i).join('/')
      if (!this.#nodes.has(dir)) this.#nodes.set(dir, this.#node(true))
    }
    const node = this.#node(false)
    // an owned ArrayBuffer: write() grows into spare capacity, which must not be Node's shared pool
    const src = Buffer.from(data)
    node.data = Buffer.alloc(src.length)
    src.copy(node.data)
    this.#nodes.set('/' + parts.join('/'), node)
  }

  #node (dir: boolean): Node {
    return { dir, data: Buffer.alloc(0), mode: dir ? 0o755 : 0o644, mtime: Date.now(), xattrs: new Map() }
  }

  async #enter (op: string, path: string): Promise<void> {
    this.calls.set(op, (this.calls.get(op) ?? 0) + 1)
    if (this.hook !== undefined) await this.hook(op, path)
  }

  #get (path: string): Node {
    const n = this.#nodes.get(path)
    if (n === undefined) throw new FsError('ENOENT', path)
    return n
  }

  #file (path: string): Node {
    const n = this.#get(path)
    if (n.dir) throw new FsError('EISDIR', path)
    return n
  }

  #writable (): void {
    if (this.readOnly) throw new FsError('EROFS', 'read-only')
  }

  #newEntry (path: string): void {
    const parent = this.#nodes.get(parentOf(path))
    if (parent === undefined) throw new FsError('ENOENT', parentOf(path))
    if (!parent.dir) throw new FsError('ENOTDIR', parentOf(path))
    if (this.#nodes.has(path)) throw new FsError('EEXIST', path)
  }

  #attr (n: Node): Attr {
    return {
      mode: (n.dir ? S_IFDIR : S_IFREG) | n.mode,
      size: n.dir ? 4096 : n.data.length,
      mtime: n.mtime,
      atime: n.mtime,
      ctime: n.mtime,
      nlink: n.dir ? 2 : 1,
      uid: 0,
      gid: 0,
    }
  }

  getattrSync (path: string): Attr | undefined {
    if (!this.syncAttrs || this.hook !== undefined) return undefined
    this.calls.set('getattrSync', (this.calls.get('getattrSync') ?? 0) + 1)
    return this.#attr(this.#get(path))
  }

  async getattr (path: string): Promise<Attr> {
    await this.#enter('getattr', path)
    return this.#attr(this.#get(path))
  }

  async readdir (path: string): Promise<string[]> {
    await this.#enter('readdir', path)
    if (!this.#get(path).dir) throw new FsError('ENOTDIR', path)
    const prefix = path === '/' ? '/' : path + '/'
    const names: string[] = []
    for (const p of this.#nodes.keys()) {
      if (p !== '/' && p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) names.push(p.slice(prefix.length))
    }
    return names.sort()
  }

  async open (path: string, _flags: number): Promise<number> {
    await this.#enter('open', path)
    this.#get(path)
    return this.#nextFh++
  }

  async create (path: string, mode: number, _flags: number): Promise<number> {
    await this.#enter('create', path)
    this.#writable()
    this.#newEntry(path)
    const n = this.#node(false)
    n.mode = mode & 0o7777
    this.#nodes.set(path, n)
    return this.#nextFh++
  }

  async read (path: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    await this.#enter('read', path)
    this.handlesSeen.add(fh)
    const n = this.#file(path)
    if (pos >= n.data.length) return 0
    return n.data.copy(buf, 0, pos, Math.min(n.data.length, pos + len))
  }

  async write (path: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    const data = Buffer.from(buf.subarray(0, len))
    await this.#enter('write', path)
    this.#writable()
    this.handlesSeen.add(fh)
    const n = this.#file(path)
    const end = pos + len
    if (end > n.data.length) {
      // grow geometrically into spare capacity so a sequential writer is not quadratic
      if (end > n.data.buffer.byteLength - n.data.byteOffset) {
        const grown = Buffer.alloc(Math.max(end, n.data.length * 2))
        n.data.copy(grown)
        n.data = grown.subarray(0, n.data.length)
      }
      n.data = Buffer.from(n.data.buffer, n.data.byteOffset, end)
    }
    data.copy(n.data, pos)
    n.mtime = Date.now()
    return len
  }

  async truncate (path: string, size: number): Promise<void> {
    await this.#enter('truncate', path)
    this.#writable()
    const n = this.#file(path)
    const next = Buffer.alloc(size)
    n.data.copy(next, 0, 0, Math.min(size, n.data.length))
    n.data = next
    n.mtime = Date.now()
  }

  async ftruncate (path: string, _fh: number, size: number): Promise<void> {
    await this.truncate(path, size)
  }

  async flush (path: string, _fh: number): Promise<void> { await this.#enter('flush', path) }
  async fsync (path: string, _fh: number, _datasync: boolean): Promise<void> { await this.#enter('fsync', path) }
  async release (path: string, _fh: number): Promise<void> { await this.#enter('release', path) }

  async unlink (path: string): Promise<void> {
    await this.#enter('unlink', path)
    this.#writable()
    this.#file(path)
    this.#nodes.delete(path)
  }

  async mkdir (path: string, mode: number): Promise<void> {
    await this.#enter('mkdir', path)
    this.#writable()
    this.#newEntry(path)
    const n = this.#node(true)
    n.mode = mode & 0o7777
    this.#nodes.set(path, n)
  }

  async rmdir (path: string): Promise<void> {
    await this.#enter('rmdir', path)
    this.#writable()
    if (!this.#get(path).dir) throw new FsError('ENOTDIR', path)
    if ((await this.readdir(path)).length > 0) throw new FsError('ENOTEMPTY', path)
    this.#nodes.delete(path)
  }

  async rename (src: string, dest: string): Promise<void> {
    await this.#enter('rename', src)
    this.#writable()
    const n = this.#get(src)
    const prefix = src + '/'
    const moves = [...this.#nodes.entries()].filter(([p]) => p === src || p.startsWith(prefix))
    const target = this.#nodes.get(dest)
    if (target?.dir === true && (await this.readdir(dest)).length > 0) throw new FsError('ENOTEMPTY', dest)
    for (const [p] of moves) this.#nodes.delete(p)
    this.#nodes.delete(dest)
    for (const [p, node] of moves) this.#nodes.set(dest + p.slice(src.length), node)
    n.mtime = Date.now()
  }

  async utimens (path: string, _atimeMs: number, mtimeMs: number): Promise<void> {
    await this.#enter('utimens', path)
    this.#writable()
    this.#get(path).mtime = mtimeMs
  }

  async chmod (path: string, mode: number): Promise<void> {
    await this.#enter('chmod', path)
    this.#writable()
    this.#get(path).mode = mode & 0o7777
  }

  async chown (path: string, _uid: number, _gid: number): Promise<void> {
    await this.#enter('chown', path)
    throw new FsError('ENOTSUP', 'ownership is not stored')
  }

  async symlink (_target: string, path: string): Promise<void> {
    await this.#enter('symlink', path)
    throw new FsError('ENOTSUP', 'symlinks are not stored')
  }

  async link (_existing: string, path: string): Promise<void> {
    await this.#enter('link', path)
    throw new FsError('ENOTSUP', 'hard links are not stored')
  }

  async mknod (path: string, _mode: number, _dev: number): Promise<void> {
    await this.#enter('mknod', path)
    throw new FsError('ENOTSUP', 'devices are not stored')
  }

  async getxattr (path: string, name: string): Promise<Buffer> {
    await this.#enter('getxattr', path)
    const v = this.#get(path).xattrs.get(name)
    if (v === undefined) throw new FsError('ENODATA', name)
    return v
  }

  async setxattr (path: string, name: string, value: Buffer, _flags: number): Promise<void> {
    await this.#enter('setxattr', path)
    this.#writable()
    if (!name.startsWith('user.')) throw new FsError('ENOTSUP', name)
    this.#get(path).xattrs.set(name, Buffer.from(value))
  }

  async listxattr (path: string): Promise<string[]> {
    await this.#enter('listxattr', path)
    return [...this.#get(path).xattrs.keys()]
  }

  async removexattr (path: string, name: string): Promise<void> {
    await this.#enter('removexattr', path)
    this.#writable()
    if (!this.#get(path).xattrs.delete(name)) throw new FsError('ENODATA', name)
  }

  async statfs (path: string): Promise<StatFs> {
    await this.#enter('statfs', path)
    return { bsize: 4096, frsize: 4096, blocks: 1 << 20, bfree: 1 << 19, bavail: 1 << 19, files: 1 << 20, ffree: 1 << 19, favail: 1 << 19, namemax: 255 }
  }

  /** set an xattr without the FUSE path (read-only mounts expose metadata this way) */
  setXattrDirect (path: string, name: string, value: string): void {
    this.#get(path).xattrs.set(name, Buffer.from(value))
  }
}
