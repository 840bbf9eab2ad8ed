// The conformance suite's FUSE runner: every operation goes through the kernel to a real mount,
// with node:fs/promises (libuv's thread pool, so this process's event loop stays free to answer
// the requests it causes) and, for extended attributes, which Node has no API for, a Python child
// process using os.getxattr/os.setxattr/os.listxattr (exact errno names, binary-safe values).
// Errors reject with `code` set to the errno name, as the driver contract asks.

import { execFile } from 'node:child_process'
import * as fsp from 'node:fs/promises'
import { constants as osConstants } from 'node:os'
import { join } from 'node:path'
import type { DriverHandle, DriverStat, FsDriver } from './driver.js'

/** Node leaves a few errnos unnamed (ESTALE is "Unknown system error -116"): name them */
function normalize (e: unknown): unknown {
  const err = e as NodeJS.ErrnoException
  if (typeof err?.errno === 'number' && (typeof err.code !== 'string' || !err.code.startsWith('E'))) {
    const name = Object.entries(osConstants.errno).find(([, n]) => n === -(err.errno as number))?.[0]
    if (name !== undefined) err.code = name
  }
  return e
}

async function wrap<T> (p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (e) {
    throw normalize(e)
  }
}

const XATTR_PY = `
import errno, os, sys
op, path = sys.argv[1], sys.argv[2]
try:
    if op == 'get':
        sys.stdout.buffer.write(os.getxattr(path, sys.argv[3]))
    elif op == 'set':
        os.setxattr(path, sys.argv[3], sys.stdin.buffer.read())
    elif op == 'list':
        sys.stdout.write('\\0'.join(os.listxattr(path)))
except OSError as e:
    # one name per number, as Node names them (95 is ENOTSUP, not EOPNOTSUPP)
    sys.stderr.write('ENOTSUP' if e.errno == errno.ENOTSUP else errno.errorcode.get(e.errno, 'EIO'))
    sys.exit(3)
`

function xattrChild (args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile('python3', ['-c', XATTR_PY, ...args], { encoding: 'buffer', timeout: 30_000 }, (err, stdout, stderr) => {
      if (err === null) {
        resolve(stdout)
        return
      }
      const code = stderr.toString().trim()
      reject(Object.assign(new Error(`${code}: xattr ${args.join(' ')}`), { code: /^E[A-Z]+$/.test(code) ? code : 'EIO' }))
    })
    child.stdin?.end(input ?? Buffer.alloc(0))
  })
}

function toDriverStat (s: import('node:fs').Stats): DriverStat {
  return { isFile: s.isFile(), isDirectory: s.isDirectory(), size: s.size, mtimeMs: s.mtimeMs, mode: s.mode }
}

export class FuseDriver implements FsDriver {
  readonly name = 'fuse' as const
  readonly #root: string
  readonly #open = new Set<fsp.FileHandle>()

  /** `root` is the mount point */
  constructor (root: string) {
    this.#root = root
  }

  #p (path: string): string {
    return join(this.#root, path)
  }

  readFile (path: string): Promise<Buffer> { return wrap(fsp.readFile(this.#p(path))) }
  writeFile (path: string, data: Buffer): Promise<void> { return wrap(fsp.writeFile(this.#p(path), data)) }
  appendFile (path: string, data: Buffer): Promise<void> { return wrap(fsp.appendFile(this.#p(path), data)) }

  async open (path: string, flags: string): Promise<DriverHandle> {
    const fh = await wrap(fsp.open(this.#p(path), flags))
    this.#open.add(fh)
    return {
      read: async (len, pos) => {
        const buf = Buffer.alloc(len)
        const { bytesRead } = await wrap(fh.read(buf, 0, len, pos))
        return buf.subarray(0, bytesRead)
      },
      write: async (data, pos) => (await wrap(fh.write(data, 0, data.length, pos))).bytesWritten,
      truncate: size => wrap(fh.truncate(size)),
      sync: () => wrap(fh.sync()),
      close: async () => {
        this.#open.delete(fh)
        await wrap(fh.close())
      },
    }
  }

  /**
   * closes handles a failed test body left open. Call it before unmounting: a process that exits
   * holding a file on a mount it serves itself deadlocks (the kernel's flush waits for a reply
   * from the event loop that is gone).
   */
  async closeAll (): Promise<void> {
    for (const fh of this.#open) await fh.close().catch(() => {})
    this.#open.clear()
  }

  async stat (path: string): Promise<DriverStat> { return toDriverStat(await wrap(fsp.stat(this.#p(path)))) }
  readdir (path: string): Promise<string[]> { return wrap(fsp.readdir(this.#p(path))) }
  mkdir (path: string): Promise<void> { return wrap(fsp.mkdir(this.#p(path))) }
  rmdir (path: string): Promise<void> { return wrap(fsp.rmdir(this.#p(path))) }
  unlink (path: string): Promise<void> { return wrap(fsp.unlink(this.#p(path))) }
  rename (from: string, to: string): Promise<void> { return wrap(fsp.rename(this.#p(from), this.#p(to))) }
  truncate (path: string, size: number): Promise<void> { return wrap(fsp.truncate(this.#p(path), size)) }
  getxattr (path: string, name: string): Promise<Buffer> { return xattrChild(['get', this.#p(path), name]) }
  async setxattr (path: string, name: string, value: Buffer): Promise<void> { await xattrChild(['set', this.#p(path), name], value) }

  async listxattr (path: string): Promise<string[]> {
    const out = (await xattrChild(['list', this.#p(path)])).toString()
    return out === '' ? [] : out.split('\0')
  }

  symlink (target: string, path: string): Promise<void> { return wrap(fsp.symlink(target, this.#p(path))) }
  chmod (path: string, mode: number): Promise<void> { return wrap(fsp.chmod(this.#p(path), mode)) }
}
