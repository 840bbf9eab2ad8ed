// Helpers for sync tests: a store with a repository whose main branch holds some files, a
// content cache, and a SyncSession over a fresh directory with the real chokidar watcher.

import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ContentCache } from '../../lib/cache/index.js'
import type { BranchName, CommitId, ObjectPath, RepoName } from '../../lib/core/ids.js'
import { LocalRemote } from '../../lib/remote/local.js'
import type { Change, Remote } from '../../lib/remote/types.js'
import { SyncSession, type SyncSessionOptions } from '../../lib/sync/session.js'
import { chokidarWatcher } from '../../lib/sync/watch.js'
import { silentLogger } from '../../lib/core/log.js'
import { shortTmp } from './tmp.js'

export const REPO = 'data' as RepoName
export const MAIN = 'main' as BranchName

export async function seedRepo (remote: Remote, files: Record<string, string | Buffer>, repo = REPO): Promise<CommitId> {
  await remote.createRepo(repo, { defaultBranch: MAIN })
  return await commitFiles(remote, files, repo)
}

/** commits puts (string/Buffer) and deletes (null) on main as another writer would */
export async function commitFiles (remote: Remote, files: Record<string, string | Buffer | null>, repo = REPO, branch = MAIN): Promise<CommitId> {
  const base = await remote.resolveRef(repo, branch)
  const changes: Change[] = Object.entries(files).map(([p, v]) => v === null
    ? { op: 'delete', path: p as ObjectPath }
    : { op: 'put', path: p as ObjectPath, content: { kind: 'buffer', data: Buffer.isBuffer(v) ? v : Buffer.from(v) } })
  const c = await remote.commitChanges(repo, branch, changes, { base, message: 'other writer' })
  return c.id
}

export interface SyncFixture {
  root: string
  remote: LocalRemote
  cache: ContentCache
  dir: string
  stateDir: string
  open (o?: Partial<SyncSessionOptions>): Promise<SyncSession>
}

export async function syncFixture (t: { teardown (fn: () => unknown): void }): Promise<SyncFixture> {
  const root = shortTmp(t, 'lk-sync-')
  const remote = await LocalRemote.open({ dir: join(root, 'store') })
  const cache = await ContentCache.open({ dir: join(root, 'cache'), maxBytes: 1024 ** 3 })
  const dir = join(root, 'work')
  const stateDir = join(root, 'state')
  await mkdir(stateDir, { recursive: true })
  const sessions: SyncSession[] = []
  t.teardown(async () => {
    for (const s of sessions) await s.close().catch(() => {})
    await cache.close()
    await remote.close()
  })
  return {
    root, remote, cache, dir, stateDir,
    open: async (o = {}) => {
      const s = await SyncSession.open({ remote, repo: REPO, branch: MAIN, subPath: '', dir, stateDir, cache, settleMs: 300, debounceMs: 50, log: silentLogger, ...o })
      sessions.push(s)
      await s.start({ watch: chokidarWatcher(silentLogger) })
      return s
    },
  }
}

export async function waitFor (cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await cond()) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

export async function readObject (remote: Remote, ref: string, path: string, repo = REPO): Promise<string> {
  const st = await remote.statObject(repo, ref, path as ObjectPath)
  return (await remote.readRange(repo, st, 0, st.size)).toString()
}

export async function readLocal (dir: string, rel: string): Promise<string> {
  return await readFile(join(dir, rel), 'utf8')
}
