// Mounts: mount, umount, commit, staged diff, status, prefetch. Mount points are absolute paths
// (the CLI resolves them against its working directory before sending).

import type { BranchName } from '../../core/ids.js'
import { branchName } from '../../core/ids.js'
import { parseUri } from '../../core/uri.js'
import type { CacheStatus, MountStatus, OnUnmount } from '../../manager/types.js'
import type { CommitInfo, DiffEntry, Metadata } from '../../remote/types.js'
import { absPath, optBool, optEnum, optInt, optMetadata, optStr, record, str } from '../check.js'
import { LkError } from '../../core/errors.js'
import { parseTarget, type RemoteTarget } from '../target.js'
import { defineMethod } from './define.js'

export const ON_UNMOUNT = ['commit', 'keep', 'discard'] as const

export interface MountParams {
  target: RemoteTarget
  uri: string
  mountpoint: string
  write: boolean
  onUnmount: OnUnmount | undefined
  message: string | undefined
  metadata: Metadata | undefined
  cacheSize: number | undefined
  cacheDir: string | undefined
  allowOther: boolean | undefined
  xattrs: boolean | undefined
}

export const mount = defineMethod<
  { target?: RemoteTarget, uri: string, mountpoint: string, write?: boolean, onUnmount?: OnUnmount, message?: string, metadata?: Metadata, cacheSize?: number, cacheDir?: string, allowOther?: boolean, xattrs?: boolean },
  MountParams,
  MountStatus
>({
  name: 'mount',
  title: 'Mount a ref',
  help: 'Mounts lakefs://repo/<ref>[/<path>] at an empty (or new) directory, pinned to the commit the ref resolves to now. With write, only on branches: changes are staged on local disk and committed on unmount (or kept/discarded, per onUnmount).',
  parse: (raw) => {
    const p = record(raw, 'params')
    const uriText = str(p, 'uri', 'params')
    parseUri(uriText) // validated here; the manager parses again to get the branded parts
    const cacheDir = optStr(p, 'cacheDir', 'params')
    if (cacheDir !== undefined && !cacheDir.startsWith('/')) throw new LkError('LK_USAGE', 'the cache directory must be an absolute path')
    return {
      target: parseTarget(p.target),
      uri: uriText,
      mountpoint: absPath(p, 'mountpoint', 'params'),
      write: optBool(p, 'write', 'params') ?? false,
      onUnmount: optEnum(p, 'onUnmount', 'params', ON_UNMOUNT),
      message: optStr(p, 'message', 'params'),
      metadata: optMetadata(p, 'metadata', 'params'),
      cacheSize: optInt(p, 'cacheSize', 'params', 1),
      cacheDir,
      allowOther: optBool(p, 'allowOther', 'params'),
      xattrs: optBool(p, 'xattrs', 'params'),
    }
  },
})

export const umount = defineMethod<
  { mountpoint: string, action?: OnUnmount, message?: string, metadata?: Metadata },
  { mountpoint: string, action: OnUnmount | undefined, message: string | undefined, metadata: Metadata | undefined },
  { action: OnUnmount, staged?: number, commit?: CommitInfo }
>({
  name: 'umount',
  title: 'Unmount',
  help: 'Unmounts and settles staged changes: commit (the default for write mounts), keep them staged for a later mount or commit, or discard them. Also settles a staged mount that is no longer mounted. With keep, a message and metadata given are remembered for the commit that later settles the changes.',
  progress: true,
  parse: (raw) => {
    const p = record(raw, 'params')
    return {
      mountpoint: absPath(p, 'mountpoint', 'params'),
      action: optEnum(p, 'action', 'params', ON_UNMOUNT),
      message: optStr(p, 'message', 'params'),
      metadata: optMetadata(p, 'metadata', 'params'),
    }
  },
})

export const mountCommit = defineMethod<
  { mountpoint: string, message: string, metadata?: Metadata, branch?: string },
  { mountpoint: string, message: string, metadata: Metadata | undefined, branch: BranchName | undefined },
  CommitInfo
>({
  name: 'mount.commit',
  title: 'Commit a mount\'s staged changes',
  help: 'Commits the staged changes of a write mount as one commit (conflict-checked against the pinned commit) and re-pins the mount to it. The mount stays mounted.',
  progress: true,
  parse: (raw) => {
    const p = record(raw, 'params')
    const b = optStr(p, 'branch', 'params')
    return {
      mountpoint: absPath(p, 'mountpoint', 'params'),
      message: str(p, 'message', 'params'),
      metadata: optMetadata(p, 'metadata', 'params'),
      branch: b === undefined ? undefined : branchName(b),
    }
  },
})

export const mountDiff = defineMethod<{ mountpoint: string }, { mountpoint: string }, DiffEntry[]>({
  name: 'mount.diff',
  title: 'Show a mount\'s staged changes',
  help: 'Lists the paths added, removed or changed under a write mount since its pinned commit.',
  parse: (raw) => ({ mountpoint: absPath(record(raw, 'params'), 'mountpoint', 'params') }),
})

export const mountStatus = defineMethod<
  { mountpoint?: string },
  { mountpoint: string | undefined },
  { mounts: MountStatus[], cache: CacheStatus | null }
>({
  name: 'mount.status',
  title: 'Show mounts',
  help: 'Shows every mount (or the one at mountpoint): URI, pinned commit, state, staged changes and cache use.',
  parse: (raw) => {
    const p = record(raw, 'params')
    return { mountpoint: p.mountpoint === undefined || p.mountpoint === null ? undefined : absPath(p, 'mountpoint', 'params') }
  },
})

export const prefetch = defineMethod<{ path: string }, { path: string }, { files: number, bytes: number }>({
  name: 'prefetch',
  title: 'Fetch files into the cache',
  help: 'Fetches every file under a path inside a mount into the cache, so later reads are local.',
  progress: true,
  parse: (raw) => ({ path: absPath(record(raw, 'params'), 'path', 'params') }),
})
