// Small filesystem helpers the store is built on: atomic file writes (temp file + fsync +
// rename), exclusive creation through link(2) (the CAS primitive of lib/store/refs.ts), and
// random names. Nothing here knows about repositories or commits.

import { randomBytes, createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import * as fsp from 'node:fs/promises'
import * as path from 'node:path'

export const randomName = (bytes = 12): string => randomBytes(bytes).toString('hex')

export const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex')

/** sha256 (the content address) and MD5 (what lakeFS reports as the checksum) of a file, in one read */
export async function sha256File (file: string): Promise<{ sha256: string, md5: string, size: number }> {
  const h = createHash('sha256')
  const m = createHash('md5')
  let size = 0
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const b = chunk as Buffer
    size += b.length
    h.update(b)
    m.update(b)
  }
  return { sha256: h.digest('hex'), md5: m.digest('hex'), size }
}

export function isErrno (e: unknown, ...codes: string[]): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' && codes.includes(code)
}

/** Writes a complete file next to `file`, fsyncs it when asked, and returns the temp name. */
export async function writeTemp (file: string, data: Buffer | string, fsync: boolean): Promise<string> {
  const tmp = path.join(path.dirname(file), `.tmp-${randomName(8)}`)
  const fh = await fsp.open(tmp, 'wx')
  try {
    await fh.writeFile(data)
    if (fsync) await fh.datasync()
  } finally {
    await fh.close()
  }
  return tmp
}

/**
 * Atomically replaces `file` with `data`: readers see the old or the new content, never a torn
 * one, whatever moment the process dies at (a crash leaves at most a `.tmp-*` orphan).
 */
export async function writeFileAtomic (file: string, data: Buffer | string, opts: { fsync: boolean }): Promise<void> {
  const tmp = await writeTemp(file, data, opts.fsync)
  try {
    await fsp.rename(tmp, file)
  } catch (e) {
    await fsp.rm(tmp, { force: true })
    throw e
  }
}

/**
 * Creates `file` with `data` only if it does not exist yet; returns false when it did. The
 * content is complete before the name appears (link of a fully written temp file), so a reader
 * that sees the name sees all the bytes.
 */
export async function createExclusive (file: string, data: Buffer | string, opts: { fsync: boolean }): Promise<boolean> {
  const tmp = await writeTemp(file, data, opts.fsync)
  try {
    await fsp.link(tmp, file)
    return true
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return false
    throw e
  } finally {
    await fsp.rm(tmp, { force: true })
  }
}

export async function fsyncDir (dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r')
  try { await fh.sync() } catch { /* some filesystems refuse fsync on directories */ } finally { await fh.close() }
}

/** reads a file, or undefined when it does not exist */
export async function readIfExists (file: string): Promise<Buffer | undefined> {
  try {
    return await fsp.readFile(file)
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined
    throw e
  }
}
