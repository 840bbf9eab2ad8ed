// Sync mode: start and stop a sync of a branch into a plain directory, its status, and pull.
// Commit and diff of a synced directory go through `mount.commit` and `mount.diff` (the manager
// answers them for mounts and syncs alike). Directories are absolute paths.

import { LkError } from '../../core/errors.js'
import { parseUri } from '../../core/uri.js'
import type { OnStop, SyncPullResult, SyncStatus, SyncStopResult } from '../../manager/types.js'
import type { Metadata } from '../../remote/types.js'
import { absPath, optBool, optEnum, optInt, optMetadata, optStr, protocolError, record, str } from '../check.js'
import { parseTarget, type RemoteTarget } from '../target.js'
import { defineMethod } from './define.js'
import { ON_UNMOUNT } from './mounts.js'

function optStrList (o: Record<string, unknown>, key: string): string[] | undefined {
  const v = o[key]
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v) || v.some(x => typeof x !== 'string')) throw protocolError(`params.${key} must be an array of strings`)
  return v as string[]
}

export interface SyncParams {
  target: RemoteTarget
  uri: string
  dir: string
  onStop: OnStop | undefined
  commitEveryMs: number | undefined
  include: string[] | undefined
  exclude: string[] | undefined
  pull: boolean | undefined
  message: string | undefined
  metadata: Metadata | undefined
}

export const syncStart = defineMethod<
  { target?: RemoteTarget, uri: string, dir: string, onStop?: OnStop, commitEveryMs?: number, include?: string[], exclude?: string[], pull?: boolean, message?: string, metadata?: Metadata },
  SyncParams,
  SyncStatus
>({
  name: 'sync',
  title: 'Sync a branch into a plain directory',
  help: 'Materialises lakefs://repo/<branch>[/<path>] into a local directory (parallel downloads through the shared cache; resumable), then watches it: local edits are staged by content and committed on stop (or every commitEveryMs, or by `commit`). Use it where FUSE is not available.',
  progress: true,
  parse: (raw) => {
    const p = record(raw, 'params')
    const uriText = str(p, 'uri', 'params')
    const u = parseUri(uriText)
    if (u.ref === undefined) throw new LkError('LK_BAD_URI', `${uriText} names no branch`)
    return {
      target: parseTarget(p.target),
      uri: uriText,
      dir: absPath(p, 'dir', 'params'),
      onStop: optEnum(p, 'onStop', 'params', ON_UNMOUNT),
      commitEveryMs: optInt(p, 'commitEveryMs', 'params', 0),
      include: optStrList(p, 'include'),
      exclude: optStrList(p, 'exclude'),
      pull: optBool(p, 'pull', 'params'),
      message: optStr(p, 'message', 'params'),
      metadata: optMetadata(p, 'metadata', 'params'),
    }
  },
})

export const syncStop = defineMethod<
  { dir: string, action?: OnStop, message?: string, metadata?: Metadata },
  { dir: string, action: OnStop | undefined, message: string | undefined, metadata: Metadata | undefined },
  SyncStopResult
>({
  name: 'sync.stop',
  title: 'Stop a sync',
  help: 'Stops watching a synced directory and settles its staged changes: commit (the default), keep them staged for a later sync or commit, or discard them (the local versions are moved into the sync\'s state directory and the branch\'s versions put back). The directory stays.',
  progress: true,
  parse: (raw) => {
    const p = record(raw, 'params')
    return {
      dir: absPath(p, 'dir', 'params'),
      action: optEnum(p, 'action', 'params', ON_UNMOUNT),
      message: optStr(p, 'message', 'params'),
      metadata: optMetadata(p, 'metadata', 'params'),
    }
  },
})

export const syncStatus = defineMethod<{ dir?: string }, { dir: string | undefined }, SyncStatus[]>({
  name: 'sync.status',
  title: 'Show syncs',
  help: 'Shows every sync (or the one of dir): URI, base commit, state, staged and pending changes, downloads.',
  parse: (raw) => {
    const p = record(raw, 'params')
    return { dir: p.dir === undefined || p.dir === null ? undefined : absPath(p, 'dir', 'params') }
  },
})

export const syncPull = defineMethod<{ dir: string, force?: boolean }, { dir: string, force: boolean }, SyncPullResult>({
  name: 'sync.pull',
  title: 'Bring newer commits of the branch into a synced directory',
  help: 'Moves a sync\'s base to the branch\'s head and updates the files that changed. Refuses (conflict) when a changed path also has a local change, unless force: then the branch\'s version wins and the local one is moved into the sync\'s state directory.',
  progress: true,
  parse: (raw) => {
    const p = record(raw, 'params')
    return { dir: absPath(p, 'dir', 'params'), force: optBool(p, 'force', 'params') ?? false }
  },
})
