// `find` and `log --meta`: metadata searches answered through the Remote interface only, so they
// work the same against the embedded store and lakeFS (no backend-specific code).
//
// find scans one bounded stretch of the listing per request (see lib/control/methods/find.ts);
// memory is bounded by the stretch, never by the size of the prefix.

import { metadataMatches, type FindPage } from '../lib/control/methods/find.js'
import type { ParamsOf } from '../lib/control/methods/index.js'
import { LkError } from '../lib/core/errors.js'
import type { CommitInfo, LogOptions, ObjectStat, Remote } from '../lib/remote/types.js'

/** the Remote's page cap: asking for more is pointless */
const LIST_PAGE = 1000

export async function findPage (r: Remote, p: ParamsOf<'find'>, signal?: AbortSignal): Promise<FindPage> {
  if (p.uri.ref === undefined) throw new LkError('LK_BAD_URI', `lakefs://${p.uri.repo} names no ref`)
  // pin: later pages name this commit, so they read exactly what the first page read
  const commit = await r.resolveRef(p.uri.repo, p.uri.ref)
  const matches: ObjectStat[] = []
  let scanned = 0
  let after = p.after
  for (;;) {
    if (signal?.aborted === true) throw new LkError('LK_USAGE', 'find was cancelled')
    const amount = Math.min(LIST_PAGE, p.scan - scanned)
    const page = await r.listObjects(p.uri.repo, commit, { prefix: p.uri.path, after, amount })
    for (const e of page.entries) {
      if (e.type === 'object' && metadataMatches(e.stat.metadata, p.meta)) matches.push(e.stat)
    }
    scanned += page.entries.length
    const last = page.entries.at(-1)
    if (last !== undefined) after = last.type === 'object' ? last.stat.path : last.path
    if (!page.hasMore) return { commit, matches, scanned, hasMore: false, nextAfter: after }
    if (page.nextAfter !== '') after = page.nextAfter
    if (scanned >= p.scan) return { commit, matches, scanned, hasMore: true, nextAfter: after }
  }
}

export async function logMatching (r: Remote, p: ParamsOf<'log'>): Promise<CommitInfo[]> {
  if (p.uri.ref === undefined) throw new LkError('LK_BAD_URI', `lakefs://${p.uri.repo} names no ref`)
  const out: CommitInfo[] = []
  // without a metadata filter, amount bounds the walk; with one it bounds the answer (the walk
  // goes on through the history until enough commits match). Path, since and first-parent
  // filters are the Remote's (lakeFS's log parameters).
  const opts: LogOptions = {
    ...(p.meta === undefined ? { amount: p.amount } : {}),
    ...(p.paths.length === 0 ? {} : { objects: p.paths }),
    ...(p.prefixes.length === 0 ? {} : { prefixes: p.prefixes }),
    ...(p.since === undefined ? {} : { since: p.since }),
    ...(p.firstParent ? { firstParent: true } : {}),
  }
  for await (const c of r.log(p.uri.repo, p.uri.ref, opts)) {
    if (p.meta === undefined || metadataMatches(c.metadata, p.meta)) out.push(c)
    if (out.length >= p.amount) break
  }
  return out
}
