// The handshake. The client speaks first; the server answers with its own versions, or with an
// error (LK_DAEMON_VERSION) when the protocol versions differ, and then closes the connection.
// Both sides compare: a daemon from another release never leaves the client waiting.

import { isRecord, protocolError } from '../check.js'
import type { WireError } from './response.js'
import { parseWireError } from './response.js'

export interface ClientHello {
  hello: { protocol: number, version: string }
}

export interface ServerHello {
  hello: { protocol: number, version: string, pid: number }
  error?: WireError
}

export function isHelloMessage (v: unknown): v is { hello: unknown } {
  return isRecord(v) && 'hello' in v
}

export function parseClientHello (v: unknown): ClientHello {
  if (!isRecord(v) || !isRecord(v.hello)) throw protocolError('expected a hello message first')
  const { protocol, version } = v.hello
  if (typeof protocol !== 'number' || !Number.isSafeInteger(protocol)) throw protocolError('hello.protocol must be an integer')
  if (typeof version !== 'string') throw protocolError('hello.version must be a string')
  return { hello: { protocol, version } }
}

export function parseServerHello (v: unknown): ServerHello {
  if (!isRecord(v) || !isRecord(v.hello)) throw protocolError('expected a hello message first')
  const { protocol, version, pid } = v.hello
  if (typeof protocol !== 'number' || !Number.isSafeInteger(protocol)) throw protocolError('hello.protocol must be an integer')
  if (typeof version !== 'string') throw protocolError('hello.version must be a string')
  if (typeof pid !== 'number') throw protocolError('hello.pid must be a number')
  const out: ServerHello = { hello: { protocol, version, pid } }
  if (v.error !== undefined) out.error = parseWireError(v.error)
  return out
}
