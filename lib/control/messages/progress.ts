// A progress event of a long operation (import, prefetch, commit): `{id, progress}`. Events are
// advisory: a client may drop them, and the server rate-limits them (see server.ts), so a client
// never needs to keep up with every file of an import.

import { isRecord, protocolError } from '../check.js'

export interface ProgressEvent {
  /** what is happening now: 'scan', 'hash', 'upload', 'commit', 'fetch', ... */
  phase: string
  done: number
  /** unknown while scanning */
  total?: number
  bytes?: number
  /** e.g. the current path */
  message?: string
}

export interface Progress {
  id: number
  progress: ProgressEvent
}

export function isProgressMessage (v: unknown): v is { progress: unknown } {
  return isRecord(v) && 'progress' in v
}

export function parseProgress (v: unknown): Progress {
  if (!isRecord(v) || typeof v.id !== 'number' || !isRecord(v.progress)) throw protocolError('malformed progress message')
  const p = v.progress
  if (typeof p.phase !== 'string' || typeof p.done !== 'number') throw protocolError('progress needs phase and done')
  const ev: ProgressEvent = { phase: p.phase, done: p.done }
  if (typeof p.total === 'number') ev.total = p.total
  if (typeof p.bytes === 'number') ev.bytes = p.bytes
  if (typeof p.message === 'string') ev.message = p.message
  return { id: v.id, progress: ev }
}
