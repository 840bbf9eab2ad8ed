// The final answer to a request: `{id, result}` or `{id, error}`. Errors carry what the CLI needs
// to print and exit: the catalogue code, message, hint, exit code and structured details
// (conflicting paths, ...). `id` is null only for an error about a line that had no usable id.

import { CATALOGUE, LkError, toLkError, type ErrorCode } from '../../core/errors.js'
import { isRecord, protocolError } from '../check.js'

export interface WireError {
  code: string
  message: string
  hint: string
  exitCode: number
  details?: Record<string, unknown>
}

export type Response =
  | { id: number, result: unknown }
  | { id: number | null, error: WireError }

export function isResponseMessage (v: unknown): v is { id: unknown } {
  return isRecord(v) && ('result' in v || 'error' in v)
}

export function toWireError (e: unknown): WireError {
  const lk = toLkError(e)
  const out: WireError = { code: lk.code, message: lk.message, hint: lk.hint, exitCode: lk.exitCode }
  if (lk.details !== undefined) out.details = lk.details
  return out
}

export function parseWireError (v: unknown): WireError {
  if (!isRecord(v)) throw protocolError('error must be an object')
  const { code, message, hint, exitCode, details } = v
  if (typeof code !== 'string' || typeof message !== 'string') throw protocolError('error.code and error.message must be strings')
  const out: WireError = {
    code,
    message,
    hint: typeof hint === 'string' ? hint : '',
    exitCode: typeof exitCode === 'number' ? exitCode : 1,
  }
  if (isRecord(details)) out.details = details
  return out
}

/** rebuilds the LkError on the client side; unknown codes (a newer daemon) become LK_INTERNAL */
export function fromWireError (w: WireError): LkError {
  const code: ErrorCode = w.code in CATALOGUE ? w.code as ErrorCode : 'LK_INTERNAL'
  const details = w.details === undefined ? undefined : { ...w.details }
  return new LkError(code, w.message, details === undefined ? {} : { details })
}

export function parseResponse (v: unknown): Response {
  if (!isRecord(v)) throw protocolError('a response must be an object')
  const id = v.id
  if ('error' in v) {
    if (id !== null && (typeof id !== 'number' || !Number.isSafeInteger(id))) throw protocolError('response.id must be an integer or null')
    return { id, error: parseWireError(v.error) }
  }
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw protocolError('response.id must be an integer')
  return { id, result: v.result }
}
