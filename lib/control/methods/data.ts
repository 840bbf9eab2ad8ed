// Reading and writing data by URI: ls, cat, import, log, show, diff, merge.

import { LkError } from '../../core/errors.js'
import type { BranchName } from '../../core/ids.js'
import { branchName } from '../../core/ids.js'
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

export const log = defineMethod<
  Targeted & { uri: string, amount?: number, meta?: Metadata },
  { target: RemoteTarget, uri: LakefsUri, amount: number, meta: Metadata | undefined },
  CommitInfo[]
>({
  name: 'log',
  title: 'Show commit history',
  help: 'Lists the commits reachable from a ref, newest first (first parents and merged commits, as lakeFS does). With meta, only the commits whose metadata holds every given key=value pair (amount then counts matches).',
  parse: (raw) => {
    const p = record(raw, 'params')
    const meta = optMetadata(p, 'meta', 'params')
    return {
      target: parseTarget(p.target),
      uri: parseUri(str(p, 'uri', 'params'), { path: 'forbidden' }),
      amount: optInt(p, 'amount', 'params', 1) ?? 100,
      meta: meta === undefined || Object.keys(meta).length === 0 ? undefined : meta,
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
  Targeted & { source: string, dest: string, strategy?: MergeStrategy, message?: string, metadata?: Metadata },
  { target: RemoteTarget, source: LakefsUri, dest: LakefsUri, destBranch: BranchName, strategy: MergeStrategy, message: string | undefined, metadata: Metadata | undefined },
  MergeResult
>({
  name: 'merge',
  title: 'Merge a ref into a branch',
  help: 'Three-way merge of the source ref into the destination branch. Paths changed differently on both sides are conflicts: the merge stops and lists them unless a strategy picks a side.',
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
    }
  },
})
