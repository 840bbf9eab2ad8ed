// Declared mounts: the `mounts:` list of config.yaml, mounted by the daemon at start (after
// recovery, so a write mount with staged changes left by a crash resumes them) and again after
// each SIGHUP reload. A reload unmounts (per its policy) a declared mount that was removed or
// changed, and mounts what is new; mounts made through the socket (CLI, fstab helper) are never
// touched by a reload. One failing mount is logged and reported, never fatal to the others.

import type { DeclaredMount } from '../lib/config/index.js'
import type { Logger } from '../lib/core/log.js'
import type { MountManager, MountRequest } from '../lib/manager/types.js'

export interface DeclaredResult {
  mounted: string[]
  unmounted: string[]
  failed: Array<{ mountpoint: string, error: string }>
}

function sameMount (a: DeclaredMount, b: DeclaredMount): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

export function requestOf (m: DeclaredMount): MountRequest {
  return {
    uri: m.uri,
    mountpoint: m.mountpoint,
    write: m.write,
    target: m.store === undefined ? {} : { store: m.store },
    allowOther: m.allowOther,
    ...(m.xattrs === undefined ? {} : { xattrs: m.xattrs }),
    ...(m.onUnmount === undefined ? {} : { onUnmount: m.onUnmount }),
    ...(m.message === undefined ? {} : { message: m.message }),
    ...(m.metadata === undefined ? {} : { metadata: m.metadata }),
  }
}

export async function applyDeclared (
  manager: MountManager,
  before: readonly DeclaredMount[],
  after: readonly DeclaredMount[],
  log: Logger,
  check: (mountpoint: string) => void,
): Promise<DeclaredResult> {
  const res: DeclaredResult = { mounted: [], unmounted: [], failed: [] }
  const next = new Map(after.map(m => [m.mountpoint, m]))
  for (const old of before) {
    const now = next.get(old.mountpoint)
    if (now !== undefined && sameMount(old, now)) continue
    try {
      const st = (await manager.status()).mounts.find(m => m.mountpoint === old.mountpoint)
      if (st !== undefined && st.state === 'mounted') {
        await manager.unmount({ mountpoint: old.mountpoint })
        res.unmounted.push(old.mountpoint)
        log.info('declared mount removed or changed: unmounted', { mountpoint: old.mountpoint })
      }
    } catch (e) {
      res.failed.push({ mountpoint: old.mountpoint, error: (e as Error).message })
      log.error('declared mount: unmount failed', { mountpoint: old.mountpoint, err: e })
    }
  }
  const current = new Map((await manager.status()).mounts.map(m => [m.mountpoint, m]))
  for (const m of after) {
    const st = current.get(m.mountpoint)
    if (st !== undefined && st.state !== 'staged' && st.state !== 'failed' && st.uri === m.uri) continue
    try {
      check(m.mountpoint)
      const r = await manager.mount(requestOf(m))
      res.mounted.push(m.mountpoint)
      log.info('declared mount mounted', { mountpoint: m.mountpoint, uri: m.uri, commit: r.pinnedCommit, staged: r.stats.stagedPaths })
    } catch (e) {
      res.failed.push({ mountpoint: m.mountpoint, error: (e as Error).message })
      log.error('declared mount failed', { mountpoint: m.mountpoint, uri: m.uri, err: e })
    }
  }
  return res
}
