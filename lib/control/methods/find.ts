// Finding data by metadata: `find` pages through a ref's objects and answers the ones whose user
// metadata holds every given key=value pair.
//
// Why paged requests rather than one answer or progress events: a prefix may hold millions of
// objects, and progress events are advisory (the server may drop them), so they cannot carry
// results. Each `find` request scans at most `scan` listing entries and answers the matches of
// that stretch plus a cursor; the client asks again with the cursor until `hasMore` is false and
// prints as it goes. The first answer carries the commit the ref resolved to, and the client pins
// later pages to it, so a branch that moves while the search runs never mixes two versions.

import { parseUri, type LakefsUri } from '../../core/uri.js'
import type { CommitId } from '../../core/ids.js'
import type { Metadata, ObjectStat } from '../../remote/types.js'
import { optInt, optMetadata, optStr, record, str } from '../check.js'
import { LkError } from '../../core/errors.js'
import { parseTarget, type RemoteTarget } from '../target.js'
import { defineMethod } from './define.js'

/** listing entries one `find` request scans by default (and at most) */
export const FIND_SCAN_DEFAULT = 10_000
export const FIND_SCAN_MAX = 100_000

export interface FindPage {
  /** the commit the searched ref resolved to: pass it as the ref of later pages */
  commit: CommitId
  matches: ObjectStat[]
  /** listing entries looked at by this request */
  scanned: number
  hasMore: boolean
  /** pass as `after` to continue */
  nextAfter: string
}

export const find = defineMethod<
  { target?: RemoteTarget, uri: string, meta: Metadata, after?: string, scan?: number },
  { target: RemoteTarget, uri: LakefsUri, meta: Metadata, after: string, scan: number },
  FindPage
>({
  name: 'find',
  title: 'Find objects by metadata',
  help: 'Lists the objects under lakefs://repo/<ref>[/<prefix>] whose user metadata holds every given key=value pair. Answers one stretch of the listing per request with a cursor (`after`); the client repeats with the answered commit id as the ref until hasMore is false.',
  parse: (raw) => {
    const p = record(raw, 'params')
    const meta = optMetadata(p, 'meta', 'params') ?? {}
    if (Object.keys(meta).length === 0) throw new LkError('LK_USAGE', 'find needs at least one --meta key=value')
    const scan = optInt(p, 'scan', 'params', 1) ?? FIND_SCAN_DEFAULT
    return {
      target: parseTarget(p.target),
      uri: parseUri(str(p, 'uri', 'params')),
      meta,
      after: optStr(p, 'after', 'params') ?? '',
      scan: Math.min(scan, FIND_SCAN_MAX),
    }
  },
})

/** true when `have` holds every pair of `want` (exact, case-sensitive values) */
export function metadataMatches (have: Metadata, want: Metadata): boolean {
  for (const [k, v] of Object.entries(want)) {
    if (!Object.prototype.hasOwnProperty.call(have, k) || have[k] !== v) return false
  }
  return true
}
