// Small validators for JSON that arrived over the socket. They throw LK_PROTOCOL for shapes a
// well-behaved peer never sends (wrong types, missing fields); names, refs and paths are then
// validated by the lib/core/ids.ts constructors, which throw the user-facing LK_BAD_* errors.

import { LkError } from '../core/errors.js'

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

export function protocolError (msg: string): LkError {
  return new LkError('LK_PROTOCOL', msg)
}

export function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function record (v: unknown, what: string): Record<string, unknown> {
  if (!isRecord(v)) throw protocolError(`${what} must be an object`)
  return v
}

export function str (o: Record<string, unknown>, key: string, what: string): string {
  const v = o[key]
  if (typeof v !== 'string') throw protocolError(`${what}.${key} must be a string`)
  return v
}

export function optStr (o: Record<string, unknown>, key: string, what: string): string | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw protocolError(`${what}.${key} must be a string`)
  return v
}

export function optBool (o: Record<string, unknown>, key: string, what: string): boolean | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'boolean') throw protocolError(`${what}.${key} must be a boolean`)
  return v
}

export function optInt (o: Record<string, unknown>, key: string, what: string, min = 0): number | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw protocolError(`${what}.${key} must be an integer >= ${min}`)
  return v
}

export function optEnum<T extends string> (o: Record<string, unknown>, key: string, what: string, values: readonly T[]): T | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new LkError('LK_USAGE', `${what}.${key} must be one of ${values.join(', ')}`)
  }
  return v as T
}

/** string -> string metadata; keys must be non-empty */
export function optMetadata (o: Record<string, unknown>, key: string, what: string): Record<string, string> | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  const m = record(v, `${what}.${key}`)
  const out: Record<string, string> = {}
  for (const [k, val] of Object.entries(m)) {
    if (k === '' || k.includes('\0')) throw new LkError('LK_BAD_METADATA', `metadata key ${JSON.stringify(k)} is empty or has a NUL byte`)
    if (typeof val !== 'string') throw new LkError('LK_BAD_METADATA', `metadata value of ${JSON.stringify(k)} must be a string`)
    out[k] = val
  }
  return out
}

/** an absolute local path (mount points, import dirs, store dirs) */
export function absPath (o: Record<string, unknown>, key: string, what: string): string {
  const v = str(o, key, what)
  if (!v.startsWith('/') || v.includes('\0')) throw new LkError('LK_USAGE', `${what}.${key} must be an absolute path without NUL bytes`)
  return v
}
