// FsDriver over an FsCore, called directly. It plays the kernel's part where the core expects
// it: O_CREAT opens look the path up first and call `create` only for a missing file, `close`
// is flush + release, and errors surface as Errors whose `code` is the errno name.

import { constants as C } from 'node:fs'
import { errnoOf } from '../../lib/core/errors.js'
import type { FsCore } from '../../lib/fs/types.js'
import type { DriverHandle, DriverStat, FsDriver } from './driver.js'

const S_IFDIR = 0o040000
const S_IFREG = 0o100000

function coded (e: unknown): Error {
  const err = e instanceof Error ? e : new Error(String(e))
  ;(err as Error & { code?: string }).code = errnoOf(e)
  return err
}

async function call<T> (fn: () => Promise<T>): Promise<T> {
  try { return await fn() } catch (e) { throw coded(e) }
}

const FLAGS: Record<string, number> = {
  r: C.O_RDONLY,
  'r+': C.O_RDWR,
  w: C.O_WRONLY | C.O_CREAT | C.O_TRUNC,
  wx: C.O_WRONLY | C.O_CREAT | C.O_EXCL,
  a: C.O_WRONLY | C.O_CREAT | C.O_APPEND,
}

export class CoreDriver implements FsDriver {
  readonly name = 'core' as const
  readonly fs: FsCore
  constructor (fs: FsCore) { this.fs = fs }

  #abs (p: string): string { return p === '' || p === '/' ? '/' : '/' + p.replace(/^\/+/, '') }

  async #open (path: string, flags: number): Promise<number> {
    const p = this.#abs(path)
    if ((flags & C.O_CREAT) === 0) return await this.fs.open(p, flags)
    let exists = true
    try { await this.fs.getattr(p) } catch (e) { if (errnoOf(e) !== 'ENOENT') throw e; exists = false }
    if (exists && (flags & C.O_EXCL) !== 0) throw Object.assign(new Error(`EEXIST: ${p}`), { code: 'EEXIST' })
    if (exists) return await this.fs.open(p, flags & ~(C.O_CREAT | C.O_EXCL))
    return await this.fs.create(p, 0o644, flags)
  }

  async open (path: string, flags: string): Promise<DriverHandle> {
    const f = FLAGS[flags]
    if (f === undefined) throw new Error(`unknown flags ${flags}`)
    const p = this.#abs(path)
    const fh = await call(async () => await this.#open(path, f))
    const fs = this.fs
    return {
      read: async (len, pos) => await call(async () => {
        const buf = Buffer.alloc(len)
        let got = 0
        while (got < len) {
          const n = await fs.read(p, fh, buf.subarray(got), len - got, pos + got)
          if (n === 0) break
          got += n
        }
        return buf.subarray(0, got)
      }),
      write: async (data, pos) => await call(async () => await fs.write(p, fh, data, data.length, pos)),
      truncate: async (size) => { await call(async () => { await fs.ftruncate(p, fh, size) }) },
      sync: async () => { await call(async () => { await fs.fsync(p, fh, false) }) },
      close: async () => { await call(async () => { try { await fs.flush(p, fh) } finally { await fs.release(p, fh) } }) },
    }
  }

  async readFile (path: string): Promise<Buffer> {
    const h = await this.open(path, 'r')
    try {
      const parts: Buffer[] = []
      for (let pos = 0; ;) {
        const b = await h.read(1 << 20, pos)
        if (b.length === 0) break
        parts.push(b)
        pos += b.length
      }
      return Buffer.concat(parts)
    } finally { await h.close() }
  }

  async #writeAll (path: string, flags: string, data: Buffer): Promise<void> {
    const h = await this.open(path, flags)
    try {
      let pos = flags === 'a' ? -1 : 0
      for (let off = 0; off < data.length; off += 1 << 17) {
        const part = data.subarray(off, off + (1 << 17))
        await h.write(part, pos === -1 ? 0 : pos)
        if (pos !== -1) pos += part.length
      }
    } finally { await h.close() }
  }

  async writeFile (path: string, data: Buffer): Promise<void> { await this.#writeAll(path, 'w', data) }
  async appendFile (path: string, data: Buffer): Promise<void> { await this.#writeAll(path, 'a', data) }

  async stat (path: string): Promise<DriverStat> {
    const a = await call(async () => await this.fs.getattr(this.#abs(path)))
    return { isFile: (a.mode & 0o170000) === S_IFREG, isDirectory: (a.mode & 0o170000) === S_IFDIR, size: a.size, mtimeMs: a.mtime, mode: a.mode }
  }

  async readdir (path: string): Promise<string[]> { return (await call(async () => await this.fs.readdir(this.#abs(path)))).sort() }
  async mkdir (path: string): Promise<void> { await call(async () => { await this.fs.mkdir(this.#abs(path), 0o755) }) }
  async rmdir (path: string): Promise<void> { await call(async () => { await this.fs.rmdir(this.#abs(path)) }) }
  async unlink (path: string): Promise<void> { await call(async () => { await this.fs.unlink(this.#abs(path)) }) }
  async rename (from: string, to: string): Promise<void> { await call(async () => { await this.fs.rename(this.#abs(from), this.#abs(to)) }) }
  async truncate (path: string, size: number): Promise<void> { await call(async () => { await this.fs.truncate(this.#abs(path), size) }) }
  async getxattr (path: string, name: string): Promise<Buffer> { return await call(async () => await this.fs.getxattr(this.#abs(path), name)) }
  async setxattr (path: string, name: string, value: Buffer): Promise<void> { await call(async () => { await this.fs.setxattr(this.#abs(path), name, value, 0) }) }
  async listxattr (path: string): Promise<string[]> { return await call(async () => await this.fs.listxattr(this.#abs(path))) }
  async symlink (target: string, path: string): Promise<void> { await call(async () => { await this.fs.symlink(target, this.#abs(path)) }) }
  async chmod (path: string, mode: number): Promise<void> { await call(async () => { await this.fs.chmod(this.#abs(path), mode) }) }
}
