// Binary data of a request (`cat`): `{id, chunk}` with the bytes base64-encoded, at most
// MAX_CHUNK_BYTES decoded per message so that no line grows with the object's size. Chunks of one
// request arrive in order, before its final response.

import { isRecord, protocolError } from '../check.js'

export const MAX_CHUNK_BYTES = 64 * 1024

export interface Chunk {
  id: number
  chunk: string
}

export function isChunkMessage (v: unknown): v is { chunk: unknown } {
  return isRecord(v) && 'chunk' in v
}

export function encodeChunk (id: number, data: Buffer): Chunk {
  if (data.length > MAX_CHUNK_BYTES) throw new RangeError(`chunk of ${data.length} bytes exceeds ${MAX_CHUNK_BYTES}`)
  return { id, chunk: data.toString('base64') }
}

export function parseChunk (v: unknown): { id: number, data: Buffer } {
  if (!isRecord(v) || typeof v.id !== 'number' || typeof v.chunk !== 'string') throw protocolError('malformed chunk message')
  const data = Buffer.from(v.chunk, 'base64')
  if (data.length > MAX_CHUNK_BYTES) throw protocolError('chunk larger than the protocol allows')
  return { id: v.id, data }
}
