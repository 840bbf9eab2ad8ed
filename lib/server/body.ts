// Request bodies for the lakeFS-compatible server: small JSON documents (bounded), and object
// uploads streamed to a temporary file while their sha256 is computed — either the raw body
// (application/octet-stream, what the lk-mount client sends) or the single `content` part of a
// multipart/form-data body (what lakeFS's generated SDKs and lakectl send). Nothing is buffered
// whole in memory; the temporary file is the caller's to remove.

import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream, type WriteStream } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { LkError } from '../core/errors.js'

const MAX_JSON = 8 * 1024 * 1024
const MAX_PART_HEADERS = 16 * 1024

export async function readJson (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_JSON) throw new LkError('LK_USAGE', `request body larger than ${MAX_JSON} bytes`)
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    throw new LkError('LK_USAGE', 'request body is not valid JSON')
  }
}

export interface ReceivedFile { size: number, sha256: string, contentType: string | undefined }

class FileSink {
  readonly #out: WriteStream
  readonly #hash = createHash('sha256')
  size = 0
  constructor (file: string) { this.#out = createWriteStream(file) }
  async write (b: Buffer): Promise<void> {
    if (b.length === 0) return
    this.#hash.update(b)
    this.size += b.length
    if (!this.#out.write(b)) await once(this.#out, 'drain')
  }
  async end (): Promise<string> {
    await new Promise<void>((resolve, reject) => { this.#out.once('error', reject); this.#out.end(resolve) })
    return this.#hash.digest('hex')
  }
  destroy (): void { this.#out.destroy() }
}

/** the raw request body into `file` */
export async function receiveRaw (req: IncomingMessage, file: string): Promise<ReceivedFile> {
  const sink = new FileSink(file)
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) await sink.write(chunk)
    const sha256 = await sink.end()
    return { size: sink.size, sha256, contentType: undefined }
  } catch (e) {
    sink.destroy()
    throw e
  }
}

/**
 * The part named `content` of a multipart/form-data body into `file`. A streaming scan for the
 * boundary: bytes that cannot be the start of a delimiter are written as they arrive.
 */
export async function receiveMultipart (req: IncomingMessage, boundary: string, file: string): Promise<ReceivedFile> {
  const dashBoundary = Buffer.from('--' + boundary)
  const delimiter = Buffer.from('\r\n--' + boundary)
  let state: 'preamble' | 'headers' | 'body' | 'done' = 'preamble'
  let pending: Buffer = Buffer.alloc(0)
  let sink: FileSink | undefined
  let found: ReceivedFile | undefined
  let isContent = false
  let partType: string | undefined
  try {
    const feed = async (): Promise<void> => {
      for (;;) {
        if (state === 'preamble') {
          const i = pending.indexOf(dashBoundary)
          if (i === -1) { pending = pending.subarray(Math.max(0, pending.length - dashBoundary.length)); return }
          const after = i + dashBoundary.length
          if (pending.length < after + 2) return
          pending = pending.subarray(after + 2) // CRLF after the first boundary
          state = 'headers'
        } else if (state === 'headers') {
          const i = pending.indexOf('\r\n\r\n')
          if (i === -1) {
            if (pending.length > MAX_PART_HEADERS) throw new LkError('LK_USAGE', 'multipart part headers too large')
            return
          }
          const headers = pending.subarray(0, i).toString('utf8').split('\r\n')
          pending = pending.subarray(i + 4)
          const disposition = headers.find(h => /^content-disposition:/i.test(h)) ?? ''
          const name = /\bname="([^"]*)"/i.exec(disposition)?.[1]
          partType = headers.find(h => /^content-type:/i.test(h))?.replace(/^content-type:\s*/i, '').trim()
          isContent = name === 'content' && found === undefined && sink === undefined
          if (isContent) sink = new FileSink(file)
          state = 'body'
        } else if (state === 'body') {
          const i = pending.indexOf(delimiter)
          if (i === -1) {
            // keep a tail that could be the start of the delimiter
            const safe = Math.max(0, pending.length - delimiter.length)
            if (isContent && sink !== undefined) await sink.write(pending.subarray(0, safe))
            pending = pending.subarray(safe)
            return
          }
          if (isContent && sink !== undefined) {
            await sink.write(pending.subarray(0, i))
            const sha256 = await sink.end()
            found = { size: sink.size, sha256, contentType: partType }
            isContent = false
          }
          const after = i + delimiter.length
          if (pending.length < after + 2) { pending = pending.subarray(i); state = 'body'; return }
          const tail = pending.subarray(after, after + 2).toString('latin1')
          pending = pending.subarray(after + 2)
          state = tail === '--' ? 'done' : 'headers'
        } else {
          return
        }
      }
    }
    for await (const chunk of req as AsyncIterable<Buffer>) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      await feed()
    }
    await feed()
    if (found === undefined) throw new LkError('LK_USAGE', 'multipart upload has no complete part named "content"')
    return found
  } catch (e) {
    if (found === undefined) sink?.destroy()
    throw e
  }
}
