// The registry: every method the daemon serves, by wire name. The typed client and the server
// both index it, so a method's params and result types are written once.

import type { MethodDef } from './define.js'
import { daemonMethods, daemonStatus, daemonStop } from './daemon.js'
import { branchCreate, branchDelete, branchList, repoCreate, repoList, tagCreate, tagList } from './repo.js'
import { cat, diff, importDir, log, ls, merge, show } from './data.js'
import { find } from './find.js'
import { branchReset, cherryPick, revert } from './history.js'
import { mount, mountCommit, mountDiff, mountStatus, prefetch, umount } from './mounts.js'
import { syncPull, syncStart, syncStatus, syncStop } from './sync.js'

export const METHODS = {
  'daemon.status': daemonStatus,
  'daemon.stop': daemonStop,
  'daemon.methods': daemonMethods,
  'repo.create': repoCreate,
  'repo.list': repoList,
  'branch.create': branchCreate,
  'branch.list': branchList,
  'branch.delete': branchDelete,
  'branch.reset': branchReset,
  'tag.create': tagCreate,
  'tag.list': tagList,
  ls,
  cat,
  import: importDir,
  log,
  show,
  diff,
  merge,
  revert,
  'cherry-pick': cherryPick,
  find,
  mount,
  umount,
  'mount.commit': mountCommit,
  'mount.diff': mountDiff,
  'mount.status': mountStatus,
  prefetch,
  sync: syncStart,
  'sync.stop': syncStop,
  'sync.status': syncStatus,
  'sync.pull': syncPull,
} as const

export type MethodName = keyof typeof METHODS
type Def<M extends MethodName> = (typeof METHODS)[M]
export type WireParamsOf<M extends MethodName> = Def<M> extends MethodDef<infer In, unknown, unknown> ? In : never
export type ParamsOf<M extends MethodName> = ReturnType<Def<M>['parse']>
export type ResultOf<M extends MethodName> = Def<M> extends MethodDef<unknown, unknown, infer R> ? R : never

export function isMethodName (s: string): s is MethodName {
  return Object.prototype.hasOwnProperty.call(METHODS, s)
}

export type { MethodDef } from './define.js'
export type { DaemonStatus, MethodHelp } from './daemon.js'
export type { ImportResult } from './data.js'
export type { FindPage } from './find.js'
export type { ResetResult } from './history.js'
export type { MountParams } from './mounts.js'
// the shapes of results, for clients (the CLI may import only lib/control and lib/core)
export type { CommitInfo, DiffEntry, ListEntry, RefInfo, RepoInfo, MergeResult } from '../../remote/types.js'
export type { MountStatus, CacheStatus, SyncStatus, SyncStopResult, SyncPullResult } from '../../manager/types.js'
