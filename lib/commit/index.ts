// Committing a mount's staged changes: seal, build the change list, commit once, drop the seal.
//
// What it owns: the protocol that makes a commit happen exactly once. The sealed set carries a
// UUID (`lk-mount.idempotency-key`) that is durable in the journal before the remote is called.
// Before every attempt the branch log since the base commit is scanned for a commit carrying
// that key: after a crash or a lost answer, a retry finds its own commit instead of committing
// twice. On LK_CONFLICT the sealed set is merged back into the staged changes (nothing is lost)
// and the error goes up with the conflicting paths. On any other failure the sealed set stays
// sealed, so the next attempt retries the same set under the same key.
//
// What it must never do: drop the sealed set before the remote confirmed the commit (or the log
// shows it), or build changes from anything but the sealed set.
//
// It knows the journal and the Remote interface only; how a path maps to an object path, whether
// the base has a file, and how to stream an unchanged base object are given by the caller, and
// so are uploads made while the mount was live (preupload.ts): a staged file whose bytes were
// already uploaded goes to commitChanges with that upload as a hint (Change.preUploaded), which
// the remote links instead of uploading again.

import { hostname } from 'node:os'
import { Readable } from 'node:stream'
import { LkError } from '../core/errors.js'
import type { BranchName, CommitId, ObjectPath, RepoName } from '../core/ids.js'
import type { Logger } from '../core/log.js'
import type { Change, CommitInfo, Metadata, ObjectStat, PreUploaded, Remote } from '../remote/types.js'
import { sha256File, type Journal, type SealedSet } from '../staging/index.js'

export const META_BASE = 'lk-mount.base-commit'
export const META_HOST = 'lk-mount.host'
export const META_KEY = 'lk-mount.idempotency-key'

export interface CommitStagedOptions {
  remote: Remote
  repo: RepoName
  /** the mounted branch */
  branch: BranchName
  journal: Journal
  /** the pinned commit (used as the base when sealing now) */
  base: CommitId
  message: string
  metadata?: Metadata
  /** commit to this branch instead, created from the base commit when missing */
  targetBranch?: BranchName
  log: Logger
  /** object path of a path relative to the mount root */
  objectPath: (rel: string) => ObjectPath
  /** whether the base commit has a file at this relative path (decides whether to send a delete) */
  baseHasFile: (rel: string) => Promise<boolean>
  /** bytes of an unchanged base object (a renamed file, or one whose metadata changed) */
  streamOf: (stat: ObjectStat) => AsyncIterable<Buffer>
  /** how far back to look for an earlier attempt's commit (default 1000 commits) */
  scanLimit?: number
  /**
   * an upload of a staged data file's current bytes made while the mount was live (see
   * preupload.ts), handed to commitChanges as a hint; its sha256 saves hashing the file again
   */
  preUploaded?: (data: string, size: number) => Promise<PreUploaded | undefined>
}

export interface CommitStagedResult {
  commit: CommitInfo
  /** the branch the commit landed on */
  branch: BranchName
  /** true when an earlier attempt had already committed this set (found by its key) */
  recovered: boolean
  /** the sealed entries that were committed (explicit directories are kept staged by the caller) */
  sealed: SealedSet
}

/** Builds the final-state changes of a sealed set against its base. Explicit dirs yield nothing. */
export async function buildChanges (sealed: SealedSet, o: Pick<CommitStagedOptions, 'objectPath' | 'baseHasFile' | 'streamOf' | 'journal' | 'preUploaded'>): Promise<Change[]> {
  const changes: Change[] = []
  const paths = [...sealed.entries.keys()].sort()
  // ask for every pre-upload at once: the ones still queued or running finish meanwhile
  const ups = new Map<string, Promise<PreUploaded | undefined>>()
  if (o.preUploaded !== undefined) {
    for (const e of sealed.entries.values()) {
      if (e.t === 'file' && !ups.has(e.data)) ups.set(e.data, o.preUploaded(e.data, e.size).catch(() => undefined))
    }
  }
  for (const rel of paths) {
    const e = sealed.entries.get(rel)
    if (e === undefined) continue
    const path = o.objectPath(rel)
    switch (e.t) {
      case 'file': {
        const file = o.journal.dataPath(e.data)
        const up = await ups.get(e.data)
        changes.push({ op: 'put', path, content: { kind: 'file', file, size: e.size, sha256: up?.sha256 ?? await sha256File(file) }, metadata: e.meta, mtime: Math.floor(e.mtime / 1000), ...(up === undefined ? {} : { preUploaded: up }) })
        break
      }
      case 'ref':
        changes.push({ op: 'put', path, content: { kind: 'stream', stream: Readable.from(o.streamOf(e.stat)) }, metadata: e.meta, mtime: Math.floor(e.mtime / 1000) })
        break
      case 'del':
      case 'dir':
        // a directory that replaced a file deletes the file; object stores have no directories
        if (await o.baseHasFile(rel)) changes.push({ op: 'delete', path })
        break
    }
  }
  return changes
}

/** finds a commit carrying the idempotency key among the branch's commits since `base` */
export async function findCommitByKey (remote: Remote, repo: RepoName, branch: BranchName, base: CommitId, key: string, limit: number): Promise<CommitInfo | undefined> {
  let n = 0
  try {
    for await (const c of remote.log(repo, branch, { amount: limit })) {
      if (c.metadata[META_KEY] === key) return c
      if (c.id === base || ++n >= limit) break
    }
  } catch (e) {
    // a branch that does not exist yet (commit to a new branch) has no earlier attempt
    if (e instanceof LkError && e.code === 'LK_REF_NOT_FOUND') return undefined
    throw e
  }
  return undefined
}

export async function commitStaged (o: CommitStagedOptions): Promise<CommitStagedResult> {
  const log = o.log
  let sealed = o.journal.sealed
  const resuming = sealed !== undefined
  if (sealed === undefined) {
    if (!hasCommittable(o.journal)) throw new LkError('LK_NOTHING_TO_COMMIT', 'there are no staged changes to commit')
    sealed = await o.journal.seal(o.base)
  }
  const target = o.targetBranch ?? o.branch
  const limit = o.scanLimit ?? 1000
  if (resuming) log.info('commit: resuming a sealed change set', { key: sealed.key, base: sealed.base })

  const earlier = await findCommitByKey(o.remote, o.repo, target, sealed.base, sealed.key, limit)
  if (earlier !== undefined) {
    log.info('commit: an earlier attempt already committed this change set', { commit: earlier.id, key: sealed.key })
    return { commit: earlier, branch: target, recovered: true, sealed }
  }

  const t0 = Date.now()
  const changes = await buildChanges(sealed, o)
  const buildMs = Date.now() - t0
  if (changes.length === 0) {
    await o.journal.unseal()
    throw new LkError('LK_NOTHING_TO_COMMIT', 'the staged changes are only empty directories (not stored by commits) or restore the base')
  }

  const metadata: Metadata = { ...(o.metadata ?? {}), [META_BASE]: sealed.base, [META_HOST]: hostname(), [META_KEY]: sealed.key }
  try {
    if (o.targetBranch !== undefined && o.targetBranch !== o.branch) {
      try {
        await o.remote.createBranch(o.repo, o.targetBranch, sealed.base)
      } catch (e) {
        if (!(e instanceof LkError && e.code === 'LK_BRANCH_EXISTS')) throw e
      }
    }
    const t1 = Date.now()
    const commit = await o.remote.commitChanges(o.repo, target, changes, { base: sealed.base, message: o.message, metadata })
    const preUploaded = changes.filter(c => c.op === 'put' && c.preUploaded !== undefined).length
    log.info('commit: committed', { commit: commit.id, branch: target, changes: changes.length, preUploaded, buildMs, remoteMs: Date.now() - t1 })
    return { commit, branch: target, recovered: false, sealed }
  } catch (e) {
    if (e instanceof LkError && e.code === 'LK_CONFLICT') {
      await o.journal.unseal()
      const conflicts = Array.isArray(e.details?.conflicts) ? (e.details.conflicts as string[]) : []
      throw new LkError('LK_CONFLICT', `branch ${target} changed ${conflicts.length} of the staged paths since ${sealed.base}: ${conflicts.slice(0, 20).join(', ')}${conflicts.length > 20 ? ', ...' : ''}`, { cause: e, details: { conflicts, base: sealed.base } })
    }
    log.warn('commit: failed; the sealed change set is kept and retried by the next commit', { key: sealed.key, err: e })
    throw e
  }
}

function hasCommittable (j: Journal): boolean {
  for (const [, e] of j.entries()) if (e.t !== 'dir') return true
  return false
}
