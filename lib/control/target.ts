// Which store a request talks to. Carried in every request that touches data, so one daemon can
// serve several stores and lakeFS endpoints at once; the daemon keeps one Remote per target. An
// absent target means the daemon's default store (`lk-mount daemon --store DIR`, or
// `$LK_MOUNT_HOME/store`).
//
// A lakeFS target carries what the *caller* sees — its flags, its LAKECTL_* variables and the
// path of its lakectl config file — because the daemon's own environment is not the user's. The
// daemon resolves them the lakectl way (lib/remote/lakefs-config.ts). Secrets travel only over
// the 0600 control socket and never enter a target key, a log line or `status`.

import { createHash } from 'node:crypto'
import { LkError } from '../core/errors.js'
import { isRecord, protocolError } from './check.js'

export interface LakefsTarget {
  endpoint?: string
  accessKeyId?: string
  secretAccessKey?: string
  /** absolute path of the caller's lakectl config file (default: ~/.lakectl.yaml of the caller) */
  configFile?: string
  /** the caller's LAKECTL_* variables */
  env?: Record<string, string>
  /** 'never': data through the lakeFS API even when the server presigns */
  presign?: 'auto' | 'never'
  /** the caller's storage credentials: data then moves with the S3 API to s3:// addresses */
  s3?: { endpoint?: string, region?: string, accessKeyId: string, secretAccessKey: string, sessionToken?: string }
}

export interface RemoteTarget {
  /** absolute directory of an embedded store */
  store?: string
  lakefs?: LakefsTarget
}

/** the environment variables a lakeFS target may carry (lakectl's) */
export const LAKEFS_ENV_NAMES = ['LAKECTL_SERVER_ENDPOINT_URL', 'LAKECTL_CREDENTIALS_ACCESS_KEY_ID', 'LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY'] as const

/** a short, non-reversible fingerprint of a secret, for keys */
export const fingerprint = (secret: string): string => createHash('sha256').update(secret).digest('hex').slice(0, 16)

/** a stable key for the daemon's map of remotes; for lakeFS, of the resolved endpoint and key */
export function targetKey (t: RemoteTarget, defaultStore: string, lakefs?: { endpoint: string, accessKeyId: string, secretAccessKey: string }): string {
  if (lakefs !== undefined) {
    const s3 = t.lakefs?.s3
    const data = s3 === undefined ? '' : `:s3=${s3.endpoint ?? 'aws'}:${s3.accessKeyId}:${fingerprint(s3.secretAccessKey + (s3.sessionToken ?? ''))}`
    return `lakefs:${lakefs.endpoint}:${lakefs.accessKeyId}:${fingerprint(lakefs.secretAccessKey)}:presign=${t.lakefs?.presign ?? 'auto'}${data}`
  }
  return `store:${t.store ?? defaultStore}`
}

function optString (v: Record<string, unknown>, k: string): string | undefined {
  const x = v[k]
  if (x === undefined || x === null) return undefined
  if (typeof x !== 'string' || x.includes('\0')) throw protocolError(`target.lakefs.${k} must be a string`)
  return x
}

function parseLakefsTarget (v: unknown): LakefsTarget {
  if (!isRecord(v)) throw protocolError('target.lakefs must be an object')
  const out: LakefsTarget = {}
  for (const k of ['endpoint', 'accessKeyId', 'secretAccessKey', 'configFile'] as const) {
    const x = optString(v, k)
    if (x !== undefined) out[k] = x
  }
  if (out.configFile !== undefined && !out.configFile.startsWith('/')) throw new LkError('LK_USAGE', 'the lakectl config file must be an absolute path')
  if (v.env !== undefined && v.env !== null) {
    if (!isRecord(v.env)) throw protocolError('target.lakefs.env must be an object')
    const env: Record<string, string> = {}
    for (const name of LAKEFS_ENV_NAMES) {
      const x = v.env[name]
      if (typeof x === 'string') env[name] = x
    }
    out.env = env
  }
  if (v.presign !== undefined && v.presign !== null) {
    if (v.presign !== 'auto' && v.presign !== 'never') throw protocolError('target.lakefs.presign must be "auto" or "never"')
    out.presign = v.presign
  }
  if (v.s3 !== undefined && v.s3 !== null) {
    if (!isRecord(v.s3)) throw protocolError('target.lakefs.s3 must be an object')
    const accessKeyId = optString(v.s3, 'accessKeyId')
    const secretAccessKey = optString(v.s3, 'secretAccessKey')
    if (accessKeyId === undefined || secretAccessKey === undefined) throw protocolError('target.lakefs.s3 needs accessKeyId and secretAccessKey')
    const s3: NonNullable<LakefsTarget['s3']> = { accessKeyId, secretAccessKey }
    for (const k of ['endpoint', 'region', 'sessionToken'] as const) {
      const x = optString(v.s3, k)
      if (x !== undefined) s3[k] = x
    }
    out.s3 = s3
  }
  return out
}

export function parseTarget (v: unknown): RemoteTarget {
  if (v === undefined || v === null) return {}
  if (!isRecord(v)) throw protocolError('target must be an object')
  const out: RemoteTarget = {}
  if (v.store !== undefined && v.store !== null) {
    if (typeof v.store !== 'string' || !v.store.startsWith('/') || v.store.includes('\0')) {
      throw new LkError('LK_USAGE', 'the store directory must be an absolute path')
    }
    out.store = v.store
  }
  if (v.lakefs !== undefined && v.lakefs !== null) out.lakefs = parseLakefsTarget(v.lakefs)
  return out
}
