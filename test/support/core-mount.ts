// Opens a MountSession over a fresh seeded test remote in a temp directory: the fixture the
// core-level tests share (conformance, model, lifecycle).

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ContentCache } from '../../lib/cache/index.js'
import { refExpr, repoName, type CommitId } from '../../lib/core/ids.js'
import { openMountSession } from '../../lib/fs/index.js'
import type { MountSession } from '../../lib/fs/types.js'
import type { Remote } from '../../lib/remote/types.js'
import { SAMPLE_BRANCH, SAMPLE_REPO, seedSample } from '../conformance/dataset.js'
import { makeTestRemote } from './remote.js'

export interface CoreMount {
  session: MountSession
  remote: Remote
  cache: ContentCache
  dir: string
  stateDir: string
  seeded: CommitId
  /** opens another session (e.g. after a simulated crash) over the same remote, cache and state */
  reopen (opts?: { write?: boolean }): Promise<MountSession>
  close (): Promise<void>
}

export async function openCoreMount (opts: { write: boolean, remote?: Remote, chunkSize?: number, wrap?: (r: Remote) => Remote, fetchTimeoutMs?: number, readAhead?: number }): Promise<CoreMount> {
  const dir = await mkdtemp(join(tmpdir(), 'lk-core-'))
  const inner = opts.remote ?? await makeTestRemote(join(dir, 'store'))
  const seeded = await seedSample(inner)
  const remote = opts.wrap?.(inner) ?? inner
  const cache = await ContentCache.open({ dir: join(dir, 'cache'), maxBytes: 256 * 1024 * 1024, ...(opts.chunkSize === undefined ? {} : { chunkSize: opts.chunkSize }), ...(opts.fetchTimeoutMs === undefined ? {} : { fetchTimeoutMs: opts.fetchTimeoutMs }), ...(opts.readAhead === undefined ? {} : { readAhead: opts.readAhead }) })
  const stateDir = join(dir, 'state')
  const open = async (write: boolean): Promise<MountSession> => await openMountSession({ remote, repo: repoName(SAMPLE_REPO), ref: refExpr(SAMPLE_BRANCH), write, cache, stateDir })
  const session = await open(opts.write)
  const sessions = [session]
  return {
    session, remote, cache, dir, stateDir, seeded,
    reopen: async (o = {}) => { const s = await open(o.write ?? opts.write); sessions.push(s); return s },
    close: async () => {
      for (const s of sessions) await s.close()
      await cache.close()
      await remote.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
