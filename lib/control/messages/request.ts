// A request: `{id, method, params}`. `id` is a positive integer chosen by the client, unique among
// its in-flight requests on one connection; the server echoes it on every progress, chunk and the
// one final response. `params` is validated later by the method's own validator.

import { isRecord, protocolError } from '../check.js'

export interface Request {
  id: number
  method: string
  params: unknown
}

export function isRequestMessage (v: unknown): v is { method: unknown } {
  return isRecord(v) && 'method' in v
}

/** the request's id when it has a usable one, so an error can still be addressed to it */
export function requestIdOf (v: unknown): number | null {
  return isRecord(v) && typeof v.id === 'number' && Number.isSafeInteger(v.id) && v.id > 0 ? v.id : null
}

export function parseRequest (v: unknown): Request {
  if (!isRecord(v)) throw protocolError('a request must be an object')
  const id = requestIdOf(v)
  if (id === null) throw protocolError('request.id must be a positive integer')
  if (typeof v.method !== 'string' || v.method === '') throw protocolError('request.method must be a non-empty string')
  return { id, method: v.method, params: v.params ?? {} }
}
