// A BlobStore on a local directory: `<root>/<first two hex chars>/<sha256>`. Blobs appear
// atomically (written to a temp file in the shard, then renamed), so a reader never sees a
// partial blob and a crash leaves at most a `.tmp-*` orphan. Keys are content hashes: a second
// put of a key is a no-op.

import { copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises'
import * as path from 'node:path'
import { LkError } from '../core/errors.js'
import type { BlobSource, BlobStore } from './blobs.js'
import { isErrno, randomName } from './fsutil.js'

const KEY_RE = /^[0-9a-f]{64}$/

export class LocalBlobStore implements BlobStore {
  readonly description: string
  readonly #root: string
  readonly #fsync: boolean
  readonly #madeShards = new Set<string>()

  constructor (root: string, opts: { fsync?: boolean } = {}) {
    this.#root = path.resolve(root)
    this.#fsync = opts.fsync ?? true
    this.description = `local blobs at ${root}`
  }

  #file (key: string): string {
    if (!KEY_RE.test(key)) throw new LkError('LK_INTERNAL', `bad blob key ${JSON.stringify(key)}`)
    return path.join(this.#root, key.slice(0, 2), key)
  }

  // called once per listed entry: plain concatenation, no path.join
  address (key: string): string { return `${this.#root}/${key.slice(0, 2)}/${key}` }

  async has (key: string): Promise<boolean> {
    try {
      await stat(this.#file(key))
      return true
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false
      throw e
    }
  }

  async put (key: string, source: BlobSource): Promise<void> {
    const file = this.#file(key)
    if (await this.has(key)) return
    const shard = path.dirname(file)
    if (!this.#madeShards.has(shard)) {
      await mkdir(shard, { recursive: true })
      this.#madeShards.add(shard)
    }
    const tmp = path.join(shard, `.tmp-${randomName(8)}`)
    try {
      if (source.kind === 'file') {
        await copyFile(source.file, tmp)
        if (this.#fsync) {
          const fh = await open(tmp, 'r+')
          try { await fh.datasync() } finally { await fh.close() }
        }
      } else {
        const fh = await open(tmp, 'wx')
        try {
          await fh.writeFile(source.data)
          if (this.#fsync) await fh.datasync()
        } finally { await fh.close() }
      }
      await rename(tmp, file)
    } catch (e) {
      await rm(tmp, { force: true })
      throw e
    }
  }

  async getRange (key: string, start: number, end: number): Promise<Buffer> {
    let fh
    try {
      fh = await open(this.#file(key), 'r')
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new LkError('LK_OBJECT_NOT_FOUND', `blob ${key} is missing`, { details: { key } })
      throw e
    }
    try {
      const len = Math.max(0, end - start)
      const buf = Buffer.allocUnsafe(len)
      let got = 0
      while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, start + got)
        if (bytesRead === 0) break
        got += bytesRead
      }
      return got === len ? buf : buf.subarray(0, got)
    } finally {
      await fh.close()
    }
  }

  async delete (key: string): Promise<void> {
    await rm(this.#file(key), { force: true })
  }

  async close (): Promise<void> {}
}
