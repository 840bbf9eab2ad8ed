// Reading and writing data by URI: ls, cat, import, log, show, diff, merge.

import { LkError } from '../../core/errors.js'
import type { BranchName } from '../../core/ids.js'
import { branchName, keyPrefix, objectKey } from '../../core/ids.js'
import { parseUri, type LakefsUri } from '../../core/uri.js'
import type { CommitInfo, DiffEntry, ListEntry, MergeResult, MergeStrategy, Metadata, ObjectStat } from '../../remote/types.js'
import { absPath, optBool, optEnum, optInt, optMetadata, optStr, record, str } from '../check.js'
import { parseTarget, type RemoteTarget } from '../target.js'
import { defineMethod } from './define.js'

interface Targeted { target?: RemoteTarget }

export const ls = defineMethod<
  Targeted & { uri: string, recursive?: boolean },
  { target: RemoteTarget, uri: LakefsUri, recursive: boolean },
  { entries: ListEntry[] }
>({
  name: 'ls',
  title: 'List objects',
  help: 'Lists the objects and common prefixes under lakefs://repo/<ref>/<prefix>, one level deep unless recursive.',
  parse: (raw) => {
    const p = record(raw, 'params')
    return { target: parseTarget(p.target), uri: parseUri(str(p, 'uri', 'params')), recursive: optBool(p, 'recursive', 'params') ?? false }
  },
})

export const cat = defineMethod<
  Targeted & { uri: string },
  { target: RemoteTarget, uri: LakefsUri },
  { stat: ObjectStat, bytes: number }
>({
  name: 'cat',
  title: 'Print an object',
  help: 'Streams the bytes of lakefs://repo/<ref>/<path> as binary chunks, then answers its stat.',
  binary: true,
  parse: (raw) => {
    const p = record(raw, 'params')
    return { target: parseTarget(p.target), uri: parseUri(str(p, 'uri', 'params'), { path: 'required' }) }
  },
})

export interface ImportResult {
  commit: CommitInfo
  files: number
  bytes: number
  /** paths of entries that are not regular files (symlinks, sockets, ...) and were left out */
  skipped: string[]
}

export const importDir = defineMethod<
  Targeted & { dir: string, uri: string, message?: string, metadata?: Metadata },
  { target: RemoteTarget, dir: string, uri: LakefsUri, branch: BranchName, message: string | undefined, metadata: Metadata | undefined },
  ImportResult
>({
  name: 'import',
  title: 'Import a local directory',
  help: 'The daemon reads every regular file under the local directory, stores it under lakefs://repo/<branch>/<path>/ and commits all of it as one commit. Paths are validated before anything is stored: one bad name and nothing changes.',
  progress: true,
  parse: (raw) => {
    const p = record(raw, 'params')
    const uri = parseUri(str(p, 'uri', 'params'))
    return {
      target: parseTarget(p.target),
      dir: absPath(p, 'dir', 'params'),
      uri,
      branch: branchName(uri.ref ?? ''),
      message: optStr(p, 'message', 'params'),
      metadata: optMetadata(p, 'metadata', 'params'),
    }
  },
})

/** a list of strings (absent: empty) */
function optStrings (o: Record<string, unknown>, key: string, what: string): string[] {
  const v = o[key]
  if (v === undefined || v === null) return []
  if (!Array.isArray(v) || v.some(x => typeof x !== 'string')) throw new LkError('LK_USAGE', `${what}.${key} must be a list of strings`)
  return v as string[]
}

/** a point in time: seconds since the epoch, or an ISO 8601 / RFC 3339 date (2026-11-01, 2026-11-01T12:00:00Z) */
export function parseSince (s: string): number {
  const t = /^\d+(\.\d+)?$/.test(s) ? Number(s) * 1000 : Date.parse(s)
  if (!Number.isFinite(t)) throw new LkError('LK_USAGE', `--since takes a date like 2026-11-01 or 2026-11-01T12:00:00Z, or seconds since the epoch, not ${JSON.stringify(s)}`)
  return t / 1000
}

export const log = defineMethod<
  Targeted & { uri: string, amount?: number, meta?: Metadata, paths?: string[], prefixes?: string[], since?: string, firstParent?: boolean },
  { target: RemoteTarget, uri: LakefsUri, amount: number, meta: Metadata | undefined, paths: string[], prefixes: string[], since: number | undefined, firstParent: boolean },
  CommitInfo[]
>({
  name: 'log',
  title: 'Show commit history',
  help: 'Lists the commits reachable from a ref, newest first (first parents and merged commits, as lakeFS does). With paths or prefixes, only the commits that changed one of those objects, or an object under one of those prefixes, against their parent (merge commits are left out, as in lakeFS): which commits changed this file. since leaves out older commits; firstParent follows only the first parent of merges. With meta, only the commits whose metadata holds every given key=value pair (amount then counts matches).',
  parse: (raw) => {
    const p = record(raw, 'params')
    const meta = optMetadata(p, 'meta', 'params')
    const since = optStr(p, 'since', 'params')
    return {
      target: parseTarget(p.target),
      uri: parseUri(str(p, 'uri', 'params'), { path: 'forbidden' }),
      amount: optInt(p, 'amount', 'params', 1) ?? 100,
      meta: meta === undefined || Object.keys(meta).length === 0 ? undefined : meta,
      paths: optStrings(p, 'paths', 'params').map(x => objectKey(x)),
      prefixes: optStrings(p, 'prefixes', 'params').map(x => keyPrefix(x)),
      since: since === undefined ? undefined : parseSince(since),
      firstParent: optBool(p, 'firstParent', 'params') ?? false,
    }
  },
})

export const show = defineMethod<
  Targeted & { uri: string },
  { target: RemoteTarget, uri: LakefsUri },
  { ref: string, kind: 'branch' | 'tag' | 'commit', commit: CommitInfo }
>({
  name: 'show',
  title: 'Show a commit',
  help: 'Resolves a ref to its commit and shows the commit: id, parents, message, committer, date and metadata.',
  parse: (raw) => {
    const p = record(raw, 'params')
    return { target: parseTarget(p.target), uri: parseUri(str(p, 'uri', 'params'), { path: 'forbidden' }) }
  },
})

export const diff = defineMethod<
  Targeted & { left: string, right: string },
  { target: RemoteTarget, left: LakefsUri, right: LakefsUri },
  DiffEntry[]
>({
  name: 'diff',
  title: 'Compare two refs',
  help: 'Lists the paths added, removed or changed from the left ref to the right ref (both of one repository).',
  parse: (raw) => {
    const p = record(raw, 'params')
    const left = parseUri(str(p, 'left', 'params'), { path: 'forbidden' })
    const right = parseUri(str(p, 'right', 'params'), { path: 'forbidden' })
    if (left.repo !== right.repo) throw new LkError('LK_USAGE', `diff compares refs of one repository, got ${left.repo} and ${right.repo}`)
    return { target: parseTarget(p.target), left, right }
  },
})

export const STRATEGIES = ['fail', 'source-wins', 'dest-wins'] as const

export const merge = defineMethod<
  Targeted & { source: string, dest: string, strategy?: MergeStrategy, message?: string, metadata?: Metadata, allowEmpty?: boolean },
  { target: RemoteTarget, source: LakefsUri, dest: LakefsUri, destBranch: BranchName, strategy: MergeStrategy, message: string | undefined, metadata: Metadata | undefined, allowEmpty: boolean },
  MergeResult
>({
  name: 'merge',
  title: 'Merge a ref into a branch',
  help: 'Three-way merge of the source ref into the destination branch, as lakeFS merges: always a merge commit (parents: the destination head, then the source) with the message, the metadata and .lakefs.merge.strategy, never a fast-forward. Paths changed differently on both sides are conflicts: the merge stops and lists them unless a strategy picks a side. Refused when the source brings nothing new (unless allowEmpty) and while the destination has uncommitted changes.',
  parse: (raw) => {
    const p = record(raw, 'params')
    const source = parseUri(str(p, 'source', 'params'), { path: 'forbidden' })
    const dest = parseUri(str(p, 'dest', 'params'), { path: 'forbidden' })
    if (source.repo !== dest.repo) throw new LkError('LK_USAGE', `merge works within one repository, got ${source.repo} and ${dest.repo}`)
    return {
      target: parseTarget(p.target),
      source,
      dest,
      destBranch: branchName(dest.ref ?? ''),
      strategy: optEnum(p, 'strategy', 'params', STRATEGIES) ?? 'fail',
      message: optStr(p, 'message', 'params'),
      metadata: optMetadata(p, 'metadata', 'params'),
      allowEmpty: optBool(p, 'allowEmpty', 'params') ?? false,
    }
  },
})
