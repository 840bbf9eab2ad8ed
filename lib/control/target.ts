// Which store a request talks to. Carried in every request that touches data, so one daemon can
// serve several stores (and, later, lakeFS endpoints) at once; the daemon keeps one Remote per
// target. An absent target means the daemon's default store (`lk-mount daemon --store DIR`, or
// `$LK_MOUNT_HOME/store`).

import { LkError } from '../core/errors.js'
import { isRecord, protocolError } from './check.js'

export interface RemoteTarget {
  /** absolute directory of an embedded store */
  store?: string
}

/** a stable key for the daemon's map of remotes */
export function targetKey (t: RemoteTarget, defaultStore: string): string {
  return `store:${t.store ?? defaultStore}`
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
  return out
}
