// Helpers for tests of the embedded store: a fresh LocalRemote in a temp dir, branded-id
// shorthands, and a way to collect async iterables.

import { mkdtemp, rm } from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import type { BranchName, CommitId, ObjectPath, RepoName, TagName } from '../../lib/core/ids.js'
import { LocalRemote } from '../../lib/remote/local.js'
import type { Clock } from '../../lib/core/clock.js'

export const R = (s: string): RepoName => s as RepoName
export const B = (s: string): BranchName => s as BranchName
export const T = (s: string): TagName => s as TagName
export const P = (s: string): ObjectPath => s as ObjectPath
export const C = (s: string): CommitId => s as CommitId
export const buf = (s: string): { kind: 'buffer', data: Buffer } => ({ kind: 'buffer', data: Buffer.from(s) })

export async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

/** a settable clock (milliseconds) so commit dates are deterministic */
export function manualClock (start = Date.UTC(2026, 0, 1)): Clock & { advance (ms: number): void } {
  let now = start
  return { now: () => now, advance (ms: number) { now += ms } }
}

export async function tempStore (t: { teardown (fn: () => unknown): void }, opts: { clock?: Clock, fsync?: boolean, rangeTarget?: number, commitWaitMs?: number } = {}): Promise<{ dir: string, remote: LocalRemote }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lk-store-'))
  const remote = await LocalRemote.open({ dir, ...opts })
  t.teardown(async () => {
    await remote.close()
    await rm(dir, { recursive: true, force: true })
  })
  return { dir, remote }
}

/** the code of a rejected LkError (or 'ok' when it resolved) */
export async function codeOf (p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (e) {
    return (e as { code?: string }).code ?? String(e)
  }
}
