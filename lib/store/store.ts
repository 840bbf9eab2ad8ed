// The embedded versioned store: lakeFS semantics on a local directory (see README.md here for
// the on-disk layout). It owns repositories, refs, commits, the committed index, staging areas
// and the blob store handle; lib/remote/local.ts exposes it as a `Remote`.
//
// Concurrency contract: several Store instances, in one process or in several processes on one
// machine, may use one directory at once. Nothing is locked; every shared mutable thing is a
// ref (lib/store/refs.ts) moved by compare-and-swap, and everything a ref points at (commits,
// metaranges, ranges, blobs) is immutable and content-addressed, written completely before any
// ref can name it. An operation that loses a CAS re-reads and retries a bounded number of times,
// then fails with LK_REF_MOVED. Across an `await` anything but immutable files may change: code
// re-reads the ref and compares instead of trusting what it read before.
//
// It must never: move a ref to something not fully written, drop a sealed staging token before
// the commit holding it is the branch head, or change anything when it rejects input.

import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import { createHash } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'
import * as os from 'node:os'
import * as path from 'node:path'
import { LRUCache } from 'lru-cache'
import { LkError } from '../core/errors.js'
import { systemClock, type Clock } from '../core/clock.js'
import { silentLogger, type Logger } from '../core/log.js'
import { branchName, commitId as toCommitId, existingRefName, keyPrefix, objectKey, objectPath, refExpr, repoName, tagName, type BranchName, type Checksum, type CommitId, type ObjectPath, type RepoName } from '../core/ids.js'
import type {
  Change, CommitChangesOptions, CommitInfo, CommitOptions, Content, DiffEntry, DiffOptions, DiffPage, ListEntry,
  CherryPickOptions, ListOptions, ListPage, LogOptions, MergeOptions, MergeResult, MergeStrategy, Metadata, ObjectStat, PutOptions, RefInfo, RepoInfo, ResetTarget,
  RevertOptions,
} from '../remote/types.js'
import type { BlobStore } from './blobs.js'
import { LocalBlobStore } from './blobs-local.js'
import { CommitFiles, isAncestor, mergeBase, sortedMetadata, walkLog, type StoredCommit } from './commits.js'
import { isErrno, randomName, sha256File, sha256Hex, writeFileAtomic } from './fsutil.js'
import {
  ArrayCursor, EMPTY_METARANGE, IndexCursor, IndexFiles, OverlayCursor, PENDING, applyChanges, compareKeys, diffIndexes,
  prefixSuccessor, sameIdentity, type Entry, type IndexChange, type Metarange,
} from './index.js'
import { RefDir, encodeRefName, listRefNames, type Versioned } from './refs.js'
import { StagingArea } from './staging.js'

export interface StoreOptions {
  dir: string
  blobs?: BlobStore
  log?: Logger
  clock?: Clock
  /** fsync files before they become visible (default true); tests of scale may turn it off */
  fsync?: boolean
  /** how many ranges the shared LRU keeps parsed (default 16: ~16 × 4096 entries, ~30 MB) */
  rangeCacheSize?: number
  /** CAS attempts before LK_REF_MOVED (default 40) */
  maxRetries?: number
  /** entries per index range (default 4096); tests use tiny ranges to exercise range edges */
  rangeTarget?: number
  /** how long a staging commit waits for another one on the same branch before LK_LOCKED (default 60 s) */
  commitWaitMs?: number
}

/**
 * A branch: its head, its current staging token, the tokens sealed by a staging commit in
 * flight (newest first) and who is running that commit. Staging commits of one branch run one
 * at a time (as graveler's branch locker does): a second one waits while the first one's
 * process is alive, and takes its sealed tokens over when it died (pid gone or too old). The
 * `inflight.nonce` check at the final CAS keeps this safe even if a live one were taken over.
 */
interface BranchState { commitId: string, staging: string, sealed: string[], inflight?: Inflight, hidden?: true }
interface Inflight { pid: number, host: string, at: number, nonce: string }

/** an in-flight commit older than this is presumed dead whatever its pid says (pid reuse) */
const INFLIGHT_STALE_MS = 15 * 60_000
/** how long a staging commit waits for another one on the same branch before LK_LOCKED */
const INFLIGHT_WAIT_MS = 60_000

function inflightAlive (f: Inflight | undefined): boolean {
  if (f === undefined) return false
  if (Date.now() - f.at > INFLIGHT_STALE_MS) return false
  if (f.host !== os.hostname()) return true
  try {
    process.kill(f.pid, 0)
    return true
  } catch (e) {
    return isErrno(e, 'EPERM')
  }
}
interface TagState { commitId: string }
interface RepoRecord { name: string, defaultBranch: string, storageNamespace: string, creationDate: number, uid: string }

/** one sorted entry for a bulk commit (commitSortedEntries): metadata of an existing blob */
export interface BulkEntry {
  path: string
  checksum: string
  size: number
  mtime?: number
  contentType?: string
  metadata?: Metadata
}

export interface CommitStats { rangesWritten: number, rangesReused: number, count: number }

interface RepoCtx {
  rec: RepoRecord
  dir: string
  index: IndexFiles
  commits: CommitFiles
  staging: StagingArea
}

const DEFAULT_CONTENT_TYPE = 'application/octet-stream'
/** lakeFS's commit metadata key naming a merge commit's strategy ("default", "source-wins", "dest-wins") */
export const MERGE_STRATEGY_KEY = '.lakefs.merge.strategy'
/** stands for the empty tree where a commit has no parent (never a real metarange id: those are hex) */
const EMPTY_METARANGE_ID = 'empty'

/**
 * A cheap check that accepts only paths `objectPath` accepts (no NUL, no leading '/', no
 * empty, '.' or '..' segment, short enough to be under 1024 bytes); anything it rejects goes
 * through `objectPath` for the real verdict and the catalogue error. Used per entry of bulk
 * commits, where objectPath's split would be a fifth of the time.
 */
const BAD_PATH_PART = /\0|\/\/|^\/|\/$|(?:^|\/)\.\.?(?:\/|$)/
const plainPath = (p: string): boolean => typeof p === 'string' && p.length > 0 && p.length <= 341 && !BAD_PATH_PART.test(p)
const MAX_PAGE = 1000

/** Crash points for tests: LK_STORE_CRASH_AT=<name> kills the process with SIGKILL there. */
function crashPoint (name: string): void {
  if (process.env.LK_STORE_CRASH_AT === name) process.kill(process.pid, 'SIGKILL')
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

function validMetadata (m: Metadata | undefined): Metadata {
  if (m === undefined) return {}
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new LkError('LK_BAD_METADATA', 'metadata must be an object of strings')
  const out: Metadata = {}
  for (const [k, v] of Object.entries(m)) {
    if (k === '' || typeof v !== 'string') throw new LkError('LK_BAD_METADATA', `bad metadata entry ${JSON.stringify(k)}: keys must be non-empty and values strings`)
    out[k] = v
  }
  return out
}

function defaultCommitter (): string {
  try { return os.userInfo().username } catch { return 'lk-mount' }
}

const parseExpr = (ref: string): { base: string, steps: number[] } => {
  const m = /^(.*?)((?:~\d*|\^)*)$/.exec(ref)
  const base = m?.[1] ?? ref
  const steps: number[] = []
  for (const s of (m?.[2] ?? '').matchAll(/~(\d*)|\^/g)) steps.push(s[0] === '^' ? 1 : s[1] === '' ? 1 : Number(s[1]))
  return { base, steps }
}

export class Store {
  readonly dir: string
  readonly blobs: BlobStore
  readonly #log: Logger
  readonly #clock: Clock
  readonly #fsync: boolean
  readonly #maxRetries: number
  readonly #rangeTarget: number | undefined
  readonly #commitWaitMs: number
  readonly #rangeCache: LRUCache<string, Entry[]>
  readonly #metarangeCache = new LRUCache<string, Metarange>({ max: 64 })
  readonly #commitCache = new LRUCache<string, StoredCommit>({ max: 4096 })
  readonly #repos = new Map<string, RepoCtx>()

  private constructor (opts: StoreOptions) {
    this.dir = path.resolve(opts.dir)
    this.blobs = opts.blobs ?? new LocalBlobStore(path.join(this.dir, 'blobs'), { fsync: opts.fsync ?? true })
    this.#log = opts.log ?? silentLogger
    this.#clock = opts.clock ?? systemClock
    this.#fsync = opts.fsync ?? true
    this.#maxRetries = opts.maxRetries ?? 40
    this.#rangeTarget = opts.rangeTarget
    this.#commitWaitMs = opts.commitWaitMs ?? INFLIGHT_WAIT_MS
    this.#rangeCache = new LRUCache<string, Entry[]>({ max: opts.rangeCacheSize ?? 16 })
  }

  static async open (opts: StoreOptions): Promise<Store> {
    const s = new Store(opts)
    await mkdir(path.join(s.dir, 'repos'), { recursive: true })
    await mkdir(path.join(s.dir, 'tmp'), { recursive: true })
    return s
  }

  // ---- repositories ----

  #ctx (dir: string, rec: RepoRecord): RepoCtx {
    const fsync = { fsync: this.#fsync }
    return {
      rec,
      dir,
      index: new IndexFiles(path.join(dir, 'index'), { ranges: this.#rangeCache, metaranges: this.#metarangeCache }, this.#rangeTarget === undefined ? fsync : { ...fsync, rangeTarget: this.#rangeTarget }),
      commits: new CommitFiles(path.join(dir, 'commits'), this.#commitCache, fsync),
      staging: new StagingArea(path.join(dir, 'staging'), fsync),
    }
  }

  async #repo (name: string): Promise<RepoCtx> {
    const rn = repoName(name)
    const dir = path.join(this.dir, 'repos', rn)
    let raw: string
    try {
      raw = await readFile(path.join(dir, 'repo.json'), 'utf8')
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) throw new LkError('LK_REPO_NOT_FOUND', `repository ${rn} not found`, { details: { repo: rn } })
      throw e
    }
    const rec = JSON.parse(raw) as RepoRecord
    const hit = this.#repos.get(rn)
    // a repository deleted and created again by another process gets a fresh context
    if (hit !== undefined && hit.rec.uid === rec.uid) return hit
    const ctx = this.#ctx(dir, rec)
    this.#repos.set(rn, ctx)
    return ctx
  }

  #info (rec: RepoRecord): RepoInfo {
    return { name: rec.name as RepoName, defaultBranch: rec.defaultBranch as BranchName, storageNamespace: rec.storageNamespace, creationDate: Math.floor(rec.creationDate / 1000) }
  }

  async createRepo (name: string, opts: { defaultBranch?: string, storageNamespace?: string } = {}): Promise<RepoInfo> {
    const rn = repoName(name)
    const def = branchName(opts.defaultBranch ?? 'main')
    const final = path.join(this.dir, 'repos', rn)
    if (await stat(path.join(final, 'repo.json')).then(() => true, () => false)) throw new LkError('LK_REPO_EXISTS', `repository already exists: ${rn}`, { details: { repo: rn } })
    const rec: RepoRecord = { name: rn, defaultBranch: def, storageNamespace: opts.storageNamespace ?? `local://${final}`, creationDate: this.#clock.now(), uid: randomName(8) }
    // build the whole repository in a temp directory and rename it into place: a crash leaves
    // an orphan temp directory, never a half-made repository; rename onto an existing
    // (non-empty) repository fails, so two creators cannot both win
    const tmp = path.join(this.dir, 'repos', `.tmp-${randomName(8)}`)
    await mkdir(tmp, { recursive: true })
    try {
      const ctx = this.#ctx(tmp, rec)
      const mr = await ctx.index.writeMetarange(EMPTY_METARANGE)
      const c = await ctx.commits.write({ v: 1, parents: [], metaRangeId: mr, message: 'Repository created', committer: defaultCommitter(), date: rec.creationDate, metadata: [], generation: 1 })
      const br = new RefDir<BranchState>(path.join(tmp, 'refs', 'branches', encodeRefName(def)), { fsync: this.#fsync })
      await br.cas(0, { commitId: c.id, staging: randomName(), sealed: [] })
      await writeFileAtomic(path.join(tmp, 'repo.json'), JSON.stringify(rec), { fsync: this.#fsync })
      try {
        await rename(tmp, final)
      } catch (e) {
        if (isErrno(e, 'EEXIST', 'ENOTEMPTY')) throw new LkError('LK_REPO_EXISTS', `repository already exists: ${rn}`, { details: { repo: rn } })
        throw e
      }
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
    this.#log.info('repository created', { repo: rn })
    return this.#info(rec)
  }

  async getRepo (name: string): Promise<RepoInfo> { return this.#info((await this.#repo(name)).rec) }

  async listRepos (): Promise<RepoInfo[]> {
    const out: RepoInfo[] = []
    for (const n of (await readdir(path.join(this.dir, 'repos'))).sort()) {
      if (n.startsWith('.')) continue
      try { out.push(await this.getRepo(n)) } catch (e) { if (!(e instanceof LkError && e.code === 'LK_REPO_NOT_FOUND')) throw e }
    }
    return out
  }

  async deleteRepo (name: string): Promise<void> {
    const ctx = await this.#repo(name)
    const trash = path.join(this.dir, 'repos', `.trash-${randomName(8)}`)
    try {
      await rename(ctx.dir, trash)
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new LkError('LK_REPO_NOT_FOUND', `repository ${name} not found`)
      throw e
    }
    this.#repos.delete(ctx.rec.name)
    await rm(trash, { recursive: true, force: true })
  }

  // ---- refs ----

  #branchRef (ctx: RepoCtx, name: string): RefDir<BranchState> {
    return new RefDir<BranchState>(path.join(ctx.dir, 'refs', 'branches', encodeRefName(name)), { fsync: this.#fsync })
  }

  #tagRef (ctx: RepoCtx, name: string): RefDir<TagState> {
    return new RefDir<TagState>(path.join(ctx.dir, 'refs', 'tags', encodeRefName(name)), { fsync: this.#fsync })
  }

  async #readBranch (ctx: RepoCtx, name: string): Promise<Versioned<BranchState>> {
    return await this.#branchRef(ctx, name).read()
  }

  /** the branch's state; LK_NOT_A_BRANCH when the name is a tag, commit or expression */
  async #requireBranch (ctx: RepoCtx, name: string): Promise<{ seq: number, value: BranchState }> {
    let valid = true
    try { existingRefName(name, 'branch') } catch { valid = false }
    if (valid) {
      const v = await this.#readBranch(ctx, name)
      if (v.value !== null) return { seq: v.seq, value: v.value }
    }
    // not a branch: say whether it is some other ref (read-only) or nothing at all
    const other = await this.#resolve(ctx, name).then(() => true, (e: unknown) => {
      if (e instanceof LkError && (e.code === 'LK_REF_NOT_FOUND' || e.code === 'LK_BAD_NAME')) return false
      throw e
    })
    if (other) throw new LkError('LK_NOT_A_BRANCH', `${name} is not a branch`, { details: { ref: name } })
    existingRefName(name, 'branch')
    throw new LkError('LK_REF_NOT_FOUND', `branch ${name} not found in ${ctx.rec.name}`, { details: { repo: ctx.rec.name, ref: name } })
  }

  /** resolves any ref; `branch` is set when the ref is a plain branch name (reads see staging) */
  async #resolve (ctx: RepoCtx, ref: string): Promise<{ commit: StoredCommit, kind: 'branch' | 'tag' | 'commit', branch?: BranchState }> {
    refExpr(ref)
    const { base, steps } = parseExpr(ref)
    let id: string | undefined
    let kind: 'branch' | 'tag' | 'commit' = 'commit'
    let branch: BranchState | undefined
    // a full commit id is looked up first: it is how pinned mounts read, so keep it one file read
    const direct = /^[0-9a-f]{64}$/.test(base) ? await ctx.commits.tryRead(base) : undefined
    const b = direct !== undefined ? { seq: 0, value: null } : await this.#readBranch(ctx, base)
    if (direct !== undefined) {
      id = direct.id
    } else if (b.value !== null) {
      id = b.value.commitId; kind = 'branch'; branch = b.value
    } else {
      const t = await this.#tagRef(ctx, base).read()
      if (t.value !== null) {
        id = t.value.commitId; kind = 'tag'
      } else if (/^[0-9a-f]{64}$/.test(base)) {
        if (await ctx.commits.tryRead(base) !== undefined) id = base
      } else if (/^[0-9a-f]{6,63}$/.test(base)) {
        const found = await ctx.commits.findByPrefix(base)
        if (found.length > 1) throw new LkError('LK_REF_NOT_FOUND', `commit prefix ${base} is ambiguous (${found.length} commits)`, { details: { ref, candidates: found.slice(0, 10) } })
        id = found[0]
      }
    }
    if (id === undefined) throw new LkError('LK_REF_NOT_FOUND', `ref ${ref} not found in ${ctx.rec.name}`, { details: { repo: ctx.rec.name, ref } })
    let commit = await ctx.commits.read(id)
    for (const n of steps) {
      for (let i = 0; i < n; i++) {
        const p = commit.parents[0]
        if (p === undefined) throw new LkError('LK_REF_NOT_FOUND', `ref ${ref} goes past the first commit`, { details: { repo: ctx.rec.name, ref } })
        commit = await ctx.commits.read(p)
      }
    }
    if (steps.length > 0) return { commit, kind: 'commit' }
    return branch === undefined ? { commit, kind } : { commit, kind, branch }
  }

  async resolveRef (repo: string, ref: string): Promise<CommitId> {
    const ctx = await this.#repo(repo)
    return (await this.#resolve(ctx, ref)).commit.id as CommitId
  }

  async refKind (repo: string, ref: string): Promise<'branch' | 'tag' | 'commit'> {
    const ctx = await this.#repo(repo)
    return (await this.#resolve(ctx, ref)).kind
  }

  /** a new branch at `source`; `hidden` branches are listed only when asked for (lakeFS's hidden) */
  async createBranch (repo: string, name: string, source: string, opts: { hidden?: boolean } = {}): Promise<RefInfo> {
    const ctx = await this.#repo(repo)
    const bn = branchName(name)
    const { commit } = await this.#resolve(ctx, source)
    const ref = this.#branchRef(ctx, bn)
    const cur = await ref.read()
    const state: BranchState = { commitId: commit.id, staging: randomName(), sealed: [], ...(opts.hidden === true ? { hidden: true } : {}) }
    if (cur.value !== null || !await ref.cas(cur.seq, state)) {
      throw new LkError('LK_BRANCH_EXISTS', `branch already exists: ${bn} in ${ctx.rec.name}`, { details: { repo: ctx.rec.name, branch: bn } })
    }
    return { name: bn, commitId: commit.id as CommitId }
  }

  async deleteBranch (repo: string, name: string): Promise<void> {
    const ctx = await this.#repo(repo)
    const bn = existingRefName(name, 'branch')
    if (bn === ctx.rec.defaultBranch) throw new LkError('LK_DEFAULT_BRANCH', `cannot delete repository default branch: ${bn} is the default branch of ${ctx.rec.name}`, { details: { branch: bn } })
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#requireBranch(ctx, bn)
      if (await this.#branchRef(ctx, bn).cas(cur.seq, null)) {
        for (const t of [cur.value.staging, ...cur.value.sealed]) await ctx.staging.drop(t)
        return
      }
      await this.#backoff(attempt, 'deleteBranch')
    }
  }

  async #listRefs (ctx: RepoCtx, kind: 'branches' | 'tags', showHidden = true): Promise<RefInfo[]> {
    const out: RefInfo[] = []
    for (const n of await listRefNames(path.join(ctx.dir, 'refs', kind))) {
      const v = kind === 'branches' ? await this.#branchRef(ctx, n).read() : await this.#tagRef(ctx, n).read()
      if (v.value === null || (!showHidden && (v.value as BranchState).hidden === true)) continue
      out.push({ name: n, commitId: v.value.commitId as CommitId })
    }
    return out.sort((a, b) => compareKeys(a.name, b.name))
  }

  /** branches by name; hidden ones only with `showHidden` (as lakeFS's show_hidden) */
  async listBranches (repo: string, opts: { showHidden?: boolean } = {}): Promise<RefInfo[]> { return await this.#listRefs(await this.#repo(repo), 'branches', opts.showHidden === true) }
  async listTags (repo: string): Promise<RefInfo[]> { return await this.#listRefs(await this.#repo(repo), 'tags') }

  async createTag (repo: string, name: string, target: string): Promise<RefInfo> {
    const ctx = await this.#repo(repo)
    const tn = tagName(name)
    const { commit } = await this.#resolve(ctx, target)
    const ref = this.#tagRef(ctx, tn)
    const cur = await ref.read()
    if (cur.value !== null || !await ref.cas(cur.seq, { commitId: commit.id })) {
      throw new LkError('LK_TAG_EXISTS', `tag already exists: ${tn} in ${ctx.rec.name}`, { details: { repo: ctx.rec.name, tag: tn } })
    }
    return { name: tn, commitId: commit.id as CommitId }
  }

  async deleteTag (repo: string, name: string): Promise<void> {
    const ctx = await this.#repo(repo)
    const tn = existingRefName(name, 'tag')
    const ref = this.#tagRef(ctx, tn)
    for (let attempt = 0; ; attempt++) {
      const cur = await ref.read()
      if (cur.value === null) throw new LkError('LK_REF_NOT_FOUND', `tag ${tn} not found in ${ctx.rec.name}`, { details: { ref: tn } })
      if (await ref.cas(cur.seq, null)) return
      await this.#backoff(attempt, 'deleteTag')
    }
  }

  async #backoff (attempt: number, op: string): Promise<void> {
    if (attempt + 1 >= this.#maxRetries) throw new LkError('LK_REF_MOVED', `${op}: the branch kept moving under concurrent writers (${attempt + 1} attempts)`)
    await sleep(Math.random() * Math.min(50, 2 + attempt * 3))
  }

  // ---- commits ----

  #commitInfo (c: StoredCommit): CommitInfo {
    return {
      id: c.id as CommitId, parents: c.parents as CommitId[], message: c.message, committer: c.committer,
      creationDate: Math.floor(c.date / 1000), metadata: Object.fromEntries(c.metadata), metaRangeId: c.metaRangeId,
    }
  }

  async getCommit (repo: string, id: string): Promise<CommitInfo> {
    const ctx = await this.#repo(repo)
    toCommitId(id)
    return this.#commitInfo(await ctx.commits.read(id))
  }

  /**
   * History from a ref, newest first, as lakeFS's log: `firstParent` follows only first parents,
   * `since` (seconds) leaves out older commits and does not walk past them, `objects`/`prefixes`
   * keep only the (non-merge) commits that changed one of those paths against their parent,
   * `stopAt` ends the log after that commit.
   */
  async * log (repo: string, ref: string, opts: LogOptions = {}): AsyncGenerator<CommitInfo> {
    const ctx = await this.#repo(repo)
    const { commit } = await this.#resolve(ctx, ref)
    let left = opts.amount ?? Infinity
    if (left <= 0) return
    const objects = (opts.objects ?? []).filter(p => p !== '').map(p => objectKey(p))
    const prefixes = (opts.prefixes ?? []).filter(p => p !== '').map(p => keyPrefix(p))
    const stopAt = opts.stopAt === undefined || opts.stopAt === '' ? undefined : (await this.#resolve(ctx, opts.stopAt)).commit.id
    if (opts.since !== undefined && !Number.isFinite(opts.since)) throw new LkError('LK_USAGE', 'log: since must be a time in seconds since the epoch')
    const walk = walkLog(ctx.commits, commit.id, { ...(opts.firstParent === true ? { firstParent: true } : {}), ...(opts.since === undefined ? {} : { since: opts.since * 1000 }) })
    for await (const c of walk) {
      if (objects.length + prefixes.length === 0 || await this.#touches(ctx, c, objects, prefixes)) {
        yield this.#commitInfo(c)
        if (--left <= 0) return
      }
      if (c.id === stopAt) return
    }
  }

  /** whether a commit changed one of the paths or prefixes against its only parent (merges never do, as in lakeFS) */
  async #touches (ctx: RepoCtx, c: StoredCommit, objects: string[], prefixes: string[]): Promise<boolean> {
    if (c.parents.length !== 1) return false
    const parent = await ctx.commits.read(c.parents[0]!)
    if (parent.metaRangeId === c.metaRangeId) return false
    const before = await ctx.index.readMetarange(parent.metaRangeId)
    const after = await ctx.index.readMetarange(c.metaRangeId)
    for (const p of objects) {
      if (!sameIdentity(await ctx.index.get(before, p) ?? null, await ctx.index.get(after, p) ?? null)) return true
    }
    for (const prefix of prefixes) {
      const first = await diffIndexes(ctx.index, before, after, { prefix }).next()
      if (first.done !== true) return true
    }
    return false
  }

  async #writeCommit (ctx: RepoCtx, parents: StoredCommit[], metaRangeId: string, opts: { message: string, metadata?: Metadata, committer?: string }): Promise<StoredCommit> {
    if (typeof opts.message !== 'string') throw new LkError('LK_USAGE', 'a commit needs a message')
    return await ctx.commits.write({
      v: 1,
      parents: parents.map(p => p.id),
      metaRangeId,
      message: opts.message,
      committer: opts.committer ?? defaultCommitter(),
      date: this.#clock.now(),
      metadata: sortedMetadata(validMetadata(opts.metadata)),
      generation: 1 + Math.max(0, ...parents.map(p => p.generation)),
    })
  }

  /** Commits the branch's staging area (graveler: seal, build, move the ref, drop the sealed). */
  async commit (repo: string, branch: string, opts: CommitOptions): Promise<CommitInfo> {
    const ctx = await this.#repo(repo)
    validMetadata(opts.metadata)
    const ref = this.#branchRef(ctx, branch)
    // 1. seal: the current token joins the sealed list; new writes go to a fresh token
    const me: Inflight = { pid: process.pid, host: os.hostname(), at: Date.now(), nonce: randomName(8) }
    const waitUntil = Date.now() + this.#commitWaitMs
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#requireBranch(ctx, branch)
      if (inflightAlive(cur.value.inflight)) {
        if (Date.now() > waitUntil) throw new LkError('LK_LOCKED', `another commit on ${branch} (pid ${cur.value.inflight?.pid}) is still running`, { details: { branch } })
        await sleep(Math.min(100, 2 + attempt * 2) * (0.5 + Math.random()))
        continue
      }
      const view = await ctx.staging.view(this.#tokens(cur.value))
      if (view.map.size === 0 && opts.allowEmpty !== true) {
        throw new LkError('LK_NOTHING_TO_COMMIT', `no staged changes on ${branch}`, { details: { repo: ctx.rec.name, branch } })
      }
      // sealed tokens left by a commit that died are taken over: they are older than ours
      const sealed = [cur.value.staging, ...cur.value.sealed]
      if (await ref.cas(cur.seq, { commitId: cur.value.commitId, staging: randomName(), sealed, inflight: me })) break
      if (attempt + 1 >= this.#maxRetries * 10) throw new LkError('LK_REF_MOVED', `commit: ${branch} kept moving`)
    }
    crashPoint('commit-after-seal')
    // 2. build on the head and move the ref; on a race (commitChanges, merge) rebuild on the new head
    let built: { on: string, commit: StoredCommit } | undefined
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#readBranch(ctx, branch)
      if (cur.value === null) throw new LkError('LK_REF_NOT_FOUND', `branch ${branch} was deleted during the commit`)
      if (cur.value.inflight?.nonce !== me.nonce) {
        // reset, or taken over by another commit after we were presumed dead: it owns the tokens
        throw new LkError('LK_REF_MOVED', `the commit on ${branch} was superseded (reset or taken over); run it again`, { details: { branch } })
      }
      if (built === undefined || built.on !== cur.value.commitId) {
        const head = await ctx.commits.read(cur.value.commitId)
        const view = await ctx.staging.view([...cur.value.sealed].reverse())
        const changes: IndexChange[] = view.sorted().map(([p, e]) => ({ path: p, entry: e }))
        const res = await applyChanges(ctx.index, await ctx.index.readMetarange(head.metaRangeId), [changes])
        crashPoint('commit-before-commit-record')
        built = { on: head.id, commit: await this.#writeCommit(ctx, [head], res.metarangeId, opts) }
      }
      crashPoint('commit-before-ref')
      const done = cur.value.sealed
      if (await ref.cas(cur.seq, { commitId: built.commit.id, staging: cur.value.staging, sealed: [] })) {
        crashPoint('commit-after-ref')
        // only now, with the commit the head, can the sealed changes go
        for (const t of done) await ctx.staging.drop(t)
        return this.#commitInfo(built.commit)
      }
      await this.#backoff(attempt, 'commit')
    }
  }

  #tokens (b: BranchState): string[] { return [...b.sealed].reverse().concat(b.staging) }

  /** uploads content to the blob store (skipping bytes it already has) and returns its hash */
  async #ingest (content: Content): Promise<{ checksum: string, size: number, etag: string }> {
    if (content === null || typeof content !== 'object') throw new LkError('LK_USAGE', 'missing content')
    if (content.kind === 'buffer') {
      if (!Buffer.isBuffer(content.data)) throw new LkError('LK_USAGE', 'buffer content needs a Buffer')
      const checksum = sha256Hex(content.data)
      if (!await this.blobs.has(checksum)) await this.blobs.put(checksum, { kind: 'buffer', data: content.data })
      return { checksum, size: content.data.length, etag: createHash('md5').update(content.data).digest('hex') }
    }
    if (content.kind === 'file') {
      let h: { sha256: string, md5: string, size: number }
      try { h = await sha256File(content.file) } catch (e) {
        if (isErrno(e, 'ENOENT')) throw new LkError('LK_USAGE', `content file ${content.file} does not exist`, { cause: e })
        throw e
      }
      if (content.sha256 !== undefined && content.sha256 !== '' && content.sha256 !== h.sha256) {
        throw new LkError('LK_USAGE', `content file ${content.file} does not match its sha256 (it changed after it was hashed)`, { details: { file: content.file } })
      }
      if (!await this.blobs.has(h.sha256)) await this.blobs.put(h.sha256, { kind: 'file', file: content.file, size: h.size })
      return { checksum: h.sha256, size: h.size, etag: h.md5 }
    }
    if (content.kind === 'stream') {
      // spool to a temp file while hashing, then store it like a file
      const tmp = path.join(this.dir, 'tmp', randomName())
      const hash = createHash('sha256')
      const md5 = createHash('md5')
      let size = 0
      const tap = new Transform({ transform (chunk: Buffer, _enc, cb) { hash.update(chunk); md5.update(chunk); size += chunk.length; cb(null, chunk) } })
      try {
        await pipeline(content.stream, tap, createWriteStream(tmp))
        const checksum = hash.digest('hex')
        if (!await this.blobs.has(checksum)) await this.blobs.put(checksum, { kind: 'file', file: tmp, size })
        return { checksum, size, etag: md5.digest('hex') }
      } finally {
        await rm(tmp, { force: true })
      }
    }
    throw new LkError('LK_USAGE', `unknown content kind ${JSON.stringify((content as { kind?: unknown }).kind)}`)
  }

  #entry (p: string, blob: { checksum: string, size: number, etag?: string | undefined }, opts: { contentType?: string | undefined, metadata?: Metadata | undefined, mtime?: number | undefined }): Entry {
    const mtime = opts.mtime ?? Math.floor(this.#clock.now() / 1000)
    if (!Number.isFinite(mtime)) throw new LkError('LK_USAGE', 'mtime must be a number of seconds')
    const e: Entry = { path: p, checksum: blob.checksum, size: blob.size, mtime, contentType: opts.contentType ?? DEFAULT_CONTENT_TYPE, metadata: validMetadata(opts.metadata), address: blob.checksum }
    if (blob.etag !== undefined && blob.etag !== '') e.etag = blob.etag
    return e
  }

  /**
   * Applies `changes` on top of the branch as one commit, conflict-checked against `base`,
   * leaving the staging area alone (see Remote.commitChanges).
   */
  async commitChanges (repo: string, branch: string, changes: Change[], opts: CommitChangesOptions): Promise<CommitInfo> {
    const ctx = await this.#repo(repo)
    await this.#requireBranch(ctx, branch)
    const base = await ctx.commits.read(toCommitId(opts.base))
    validMetadata(opts.metadata)
    if (!Array.isArray(changes)) throw new LkError('LK_USAGE', 'changes must be an array')
    // validate everything before any upload: bad input changes nothing
    const byPath = new Map<string, Change>()
    for (const c of changes) {
      objectKey(c.path)
      if (c.op !== 'put' && c.op !== 'delete') throw new LkError('LK_USAGE', `unknown change op ${JSON.stringify((c as { op?: unknown }).op)}`)
      if (c.op === 'put') validMetadata(c.metadata)
      byPath.set(c.path, c) // a later change to the same path wins
    }
    const sorted: IndexChange[] = []
    for (const p of [...byPath.keys()].sort(compareKeys)) {
      const c = byPath.get(p)!
      if (c.op === 'delete') { sorted.push({ path: p, entry: null }); continue }
      const blob = await this.#ingest(c.content)
      sorted.push({ path: p, entry: this.#entry(p, blob, c) })
    }
    const ref = this.#branchRef(ctx, branch)
    let built: { on: string, commit: StoredCommit } | undefined
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#requireBranch(ctx, branch)
      const head = await ctx.commits.read(cur.value.commitId)
      if (built === undefined || built.on !== head.id) {
        if (head.id !== base.id) {
          // the branch moved since base: conflict on any of our paths that changed there
          const baseMr = await ctx.index.readMetarange(base.metaRangeId)
          const headMr = await ctx.index.readMetarange(head.metaRangeId)
          const conflicts: string[] = []
          for (const c of sorted) {
            if (!sameIdentity(await ctx.index.get(baseMr, c.path) ?? null, await ctx.index.get(headMr, c.path) ?? null)) conflicts.push(c.path)
          }
          if (conflicts.length > 0) {
            throw new LkError('LK_CONFLICT', `${branch} changed ${conflicts.length} of these paths since ${base.id.slice(0, 12)}: ${conflicts.slice(0, 5).join(', ')}${conflicts.length > 5 ? ', ...' : ''}`, {
              details: { repo: ctx.rec.name, branch, base: base.id, head: head.id, conflicts },
            })
          }
        }
        const res = await applyChanges(ctx.index, await ctx.index.readMetarange(head.metaRangeId), [sorted])
        built = { on: head.id, commit: await this.#writeCommit(ctx, [head], res.metarangeId, opts) }
      }
      crashPoint('changes-before-ref')
      if (await ref.cas(cur.seq, { ...cur.value, commitId: built.commit.id })) return this.#commitInfo(built.commit)
      await this.#backoff(attempt, 'commitChanges')
    }
  }

  /**
   * Bulk commit: every entry of a sorted async stream (strictly increasing paths) is put on top
   * of the branch head, in one commit, with memory bounded by a few ranges whatever the count.
   * Entries name blobs already in the blob store (checked once per distinct checksum).
   */
  async commitSortedEntries (repo: string, branch: string, entries: AsyncIterable<BulkEntry> | Iterable<BulkEntry>, opts: CommitOptions): Promise<CommitInfo & { stats: CommitStats }> {
    const ctx = await this.#repo(repo)
    const cur = await this.#requireBranch(ctx, branch)
    validMetadata(opts.metadata)
    const head = await ctx.commits.read(cur.value.commitId)
    const checked = new LRUCache<string, true>({ max: 1024 })
    const now = Math.floor(this.#clock.now() / 1000)
    const blobs = this.blobs
    let lastChecksum = ''
    const toChange = (e: BulkEntry): IndexChange => {
      if (!plainPath(e.path)) objectPath(e.path)
      if (e.checksum !== lastChecksum && !/^[0-9a-f]{64}$/.test(String(e.checksum))) {
        throw new LkError('LK_USAGE', `entry ${e.path}: checksum must be hex sha256`)
      }
      lastChecksum = e.checksum
      return {
        path: e.path,
        entry: { path: e.path, checksum: e.checksum, size: e.size, mtime: e.mtime ?? now, contentType: e.contentType ?? DEFAULT_CONTENT_TYPE, metadata: e.metadata === undefined ? {} : validMetadata(e.metadata), address: e.checksum },
      }
    }
    const ensureBlob = async (checksum: string, p: string): Promise<void> => {
      if (checked.get(checksum) !== undefined) return
      if (!await blobs.has(checksum)) throw new LkError('LK_OBJECT_NOT_FOUND', `entry ${p}: blob ${checksum} is not in the blob store`)
      checked.set(checksum, true)
    }
    // batches of 1024: blob checks once per distinct checksum of a batch, and no promise per
    // entry when the source is a plain (sync) iterable
    const BATCH = 1024
    const checkBatch = async (batch: IndexChange[]): Promise<void> => {
      let prev = ''
      for (const c of batch) {
        const sum = c.entry!.checksum
        if (sum !== prev) await ensureBlob(sum, c.path)
        prev = sum
      }
    }
    async function * changes (): AsyncGenerator<IndexChange[]> {
      let batch: IndexChange[] = []
      if (Symbol.asyncIterator in entries) {
        for await (const e of entries as AsyncIterable<BulkEntry>) {
          batch.push(toChange(e))
          if (batch.length >= BATCH) { await checkBatch(batch); yield batch; batch = [] }
        }
      } else {
        for (const e of entries as Iterable<BulkEntry>) {
          batch.push(toChange(e))
          if (batch.length >= BATCH) { await checkBatch(batch); yield batch; batch = [] }
        }
      }
      if (batch.length > 0) { await checkBatch(batch); yield batch }
    }
    const res = await applyChanges(ctx.index, await ctx.index.readMetarange(head.metaRangeId), changes())
    const commit = await this.#writeCommit(ctx, [head], res.metarangeId, opts)
    // the stream can be consumed once: on a race the caller retries (LK_REF_MOVED)
    if (!await this.#branchRef(ctx, branch).cas(cur.seq, { ...cur.value, commitId: commit.id })) {
      const again = await this.#readBranch(ctx, branch)
      if (again.value === null || again.value.commitId !== head.id || !await this.#branchRef(ctx, branch).cas(again.seq, { ...again.value, commitId: commit.id })) {
        throw new LkError('LK_REF_MOVED', `${branch} moved during the bulk commit; run it again`, { details: { branch } })
      }
    }
    return { ...this.#commitInfo(commit), stats: { rangesWritten: res.rangesWritten, rangesReused: res.rangesReused, count: res.count } }
  }

  // ---- objects ----

  #stat (e: Entry): ObjectStat {
    const s: ObjectStat = { path: e.path as ObjectPath, checksum: e.checksum as Checksum, size: e.size, mtime: e.mtime, contentType: e.contentType, metadata: e.metadata, physicalAddress: this.blobs.address(e.address) }
    if (e.etag !== undefined) s.etag = e.etag
    return s
  }

  /** the entry a ref shows at a path (staging first when the ref is a branch) */
  async #lookup (ctx: RepoCtx, ref: string, p: string): Promise<Entry | undefined> {
    const r = await this.#resolve(ctx, ref)
    if (r.branch !== undefined) {
      const view = await ctx.staging.view(this.#tokens(r.branch))
      const s = view.map.get(p)
      if (s !== undefined) return s ?? undefined
    }
    return await ctx.index.get(await ctx.index.readMetarange(r.commit.metaRangeId), p)
  }

  async statObject (repo: string, ref: string, p: string): Promise<ObjectStat> {
    const ctx = await this.#repo(repo)
    objectKey(p)
    const e = await this.#lookup(ctx, ref, p)
    if (e === undefined) throw new LkError('LK_OBJECT_NOT_FOUND', `${p} not found in ${ctx.rec.name}/${ref}`, { details: { repo: ctx.rec.name, ref, path: p } })
    return this.#stat(e)
  }

  async listObjects (repo: string, ref: string, opts: ListOptions = {}): Promise<ListPage> {
    const ctx = await this.#repo(repo)
    const prefix = keyPrefix(opts.prefix ?? '')
    const delimiter = opts.delimiter ?? ''
    const after = opts.after ?? ''
    const amount = Math.max(1, Math.min(MAX_PAGE, opts.amount ?? MAX_PAGE))
    const r = await this.#resolve(ctx, ref)
    let cursor: IndexCursor | OverlayCursor = new IndexCursor(ctx.index, await ctx.index.readMetarange(r.commit.metaRangeId))
    if (r.branch !== undefined) {
      const view = await ctx.staging.view(this.#tokens(r.branch))
      if (view.map.size > 0) cursor = new OverlayCursor(cursor, new ArrayCursor(view.sorted().filter(([k]) => k.startsWith(prefix))))
    }
    await cursor.seek(compareKeys(after, prefix) > 0 ? after : prefix)
    const entries: ListEntry[] = []
    let hasMore = false
    for (;;) {
      let e = cursor.peekSync()
      if (e === PENDING) e = await cursor.peek()
      if (e === undefined || !e.path.startsWith(prefix)) break
      if (after !== '' && compareKeys(e.path, after) <= 0) { cursor.advance(e); continue }
      let cp: string | undefined
      if (delimiter !== '') {
        const i = e.path.indexOf(delimiter, prefix.length)
        if (i >= 0) cp = e.path.slice(0, i + delimiter.length)
      }
      if (cp !== undefined) {
        // the whole subtree rolls up into one entry: seek past it instead of reading it
        if (after === '' || compareKeys(cp, after) > 0) {
          if (entries.length >= amount) { hasMore = true; break }
          entries.push({ type: 'prefix', path: cp as ObjectPath })
        }
        await cursor.seek(prefixSuccessor(cp))
        continue
      }
      if (entries.length >= amount) { hasMore = true; break }
      entries.push({ type: 'object', stat: this.#stat(e) })
      cursor.advance(e)
    }
    const last = entries[entries.length - 1]
    return { entries, hasMore, nextAfter: last === undefined ? '' : last.type === 'prefix' ? last.path : last.stat.path }
  }

  async readRange (_repo: string, st: ObjectStat, start: number, end: number): Promise<Buffer> {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0) throw new LkError('LK_USAGE', `bad byte range [${start}, ${end})`)
    const stop = Math.min(end, st.size)
    if (stop <= start) return Buffer.alloc(0)
    if (!/^[0-9a-f]{64}$/.test(st.checksum)) throw new LkError('LK_USAGE', `bad checksum ${JSON.stringify(st.checksum)}`)
    return await this.blobs.getRange(this.#blobKeyOf(st), start, stop)
  }

  /**
   * The blob key of a stat: its checksum, except for a direct upload linked where it lies
   * (putExisting), whose physical address names `_uploads/<uuid>` in this blob store.
   */
  #blobKeyOf (st: ObjectStat): string {
    const m = /(_uploads|_staging)\/[0-9a-f-]{36}$/.exec(st.physicalAddress)
    if (m !== null && this.blobs.address(m[0]) === st.physicalAddress) return m[0]
    return st.checksum
  }

  /**
   * Appends staging records to the branch's current token. If a commit sealed that token
   * meanwhile, the records may have missed the commit: write them again to the new token
   * (graveler's safe branch write); applying a record twice is harmless.
   */
  async #stage (ctx: RepoCtx, branch: string, records: Parameters<StagingArea['append']>[1], state?: BranchState): Promise<void> {
    let token = (state ?? (await this.#requireBranch(ctx, branch)).value).staging
    for (let attempt = 0; ; attempt++) {
      await ctx.staging.append(token, records)
      const again = await this.#readBranch(ctx, branch)
      if (again.value === null) throw new LkError('LK_REF_NOT_FOUND', `branch ${branch} was deleted`, { details: { ref: branch } })
      if (again.value.staging === token) return
      token = again.value.staging
      if (attempt > this.#maxRetries) throw new LkError('LK_REF_MOVED', `${branch}: staging kept being sealed under this write`)
    }
  }

  async putObject (repo: string, branch: string, p: string, content: Content, opts: PutOptions = {}): Promise<ObjectStat> {
    const ctx = await this.#repo(repo)
    objectKey(p)
    const cur = await this.#requireBranch(ctx, branch)
    validMetadata(opts.metadata)
    const blob = await this.#ingest(content)
    const e = this.#entry(p, blob, opts)
    await this.#stage(ctx, branch, [{ p, e }], cur.value)
    return this.#stat(e)
  }

  /**
   * Stages an object whose bytes are already in the blob store under `blob.address` (not the
   * content-addressed key: a direct upload linked where it lies, so linking moves no bytes).
   * The caller vouches that the blob hashes to `blob.sha256` and is `blob.size` bytes long.
   * `blob.physicalAddress`: where the caller found the bytes; LK_UNSUPPORTED when this blob
   * store would look elsewhere for that key (another bucket or prefix, local blobs).
   */
  async putExisting (repo: string, branch: string, p: string, blob: { address: string, sha256: string, size: number, physicalAddress?: string }, opts: PutOptions = {}): Promise<ObjectStat> {
    const ctx = await this.#repo(repo)
    objectKey(p)
    if (!/^[0-9a-f]{64}$/.test(blob.sha256) || !Number.isSafeInteger(blob.size) || blob.size < 0 || blob.address === '') throw new LkError('LK_USAGE', 'putExisting needs a blob address, a hex sha256 and a size')
    if (blob.physicalAddress !== undefined && this.blobs.address(blob.address) !== blob.physicalAddress) {
      throw new LkError('LK_UNSUPPORTED', `the blob store (${this.blobs.description}) does not hold ${blob.physicalAddress}`)
    }
    const cur = await this.#requireBranch(ctx, branch)
    validMetadata(opts.metadata)
    const e = { ...this.#entry(p, { checksum: blob.sha256, size: blob.size, etag: opts.etag }, opts), address: blob.address }
    await this.#stage(ctx, branch, [{ p, e }], cur.value)
    return this.#stat(e)
  }

  async deleteObjects (repo: string, branch: string, paths: string[]): Promise<void> {
    const ctx = await this.#repo(repo)
    for (const p of paths) objectKey(p)
    const cur = await this.#requireBranch(ctx, branch)
    const records = []
    for (const p of new Set(paths)) {
      // missing paths are ignored: only what the branch shows gets a tombstone
      if (await this.#lookup(ctx, branch, p) !== undefined) records.push({ p, e: null })
    }
    await this.#stage(ctx, branch, records, cur.value)
  }

  async setObjectMetadata (repo: string, branch: string, p: string, metadata: Metadata): Promise<void> {
    const ctx = await this.#repo(repo)
    objectKey(p)
    const cur = await this.#requireBranch(ctx, branch)
    const md = validMetadata(metadata)
    const e = await this.#lookup(ctx, branch, p)
    if (e === undefined) throw new LkError('LK_OBJECT_NOT_FOUND', `${p} not found on ${branch}`, { details: { path: p } })
    await this.#stage(ctx, branch, [{ p, e: { ...e, metadata: md } }], cur.value)
  }

  async resetBranch (repo: string, branch: string, target: ResetTarget): Promise<void> {
    const ctx = await this.#repo(repo)
    const type = target?.type
    if (type === 'object') {
      const p = objectKey(target.path ?? '')
      await this.#stage(ctx, branch, [{ p, r: 1 }])
      return
    }
    if (type === 'prefix') {
      const x = keyPrefix(target.path ?? '')
      await this.#stage(ctx, branch, [{ x, r: 1 }])
      return
    }
    if (type !== 'all') throw new LkError('LK_USAGE', `unknown reset type ${JSON.stringify(type)}`)
    const ref = this.#branchRef(ctx, branch)
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#requireBranch(ctx, branch)
      // a commit in flight keeps its sealed tokens (they become its commit); others are dropped
      const live = inflightAlive(cur.value.inflight)
      const old = live ? [cur.value.staging] : [cur.value.staging, ...cur.value.sealed]
      const next: BranchState = live ? { ...cur.value, staging: randomName() } : { commitId: cur.value.commitId, staging: randomName(), sealed: [] }
      if (await ref.cas(cur.seq, next)) {
        for (const t of old) await ctx.staging.drop(t)
        return
      }
      await this.#backoff(attempt, 'resetBranch')
    }
  }

  // ---- diff and merge ----

  async diff (repo: string, left: string, right: string, opts: DiffOptions = {}): Promise<DiffPage> {
    const ctx = await this.#repo(repo)
    const prefix = keyPrefix(opts.prefix ?? '')
    const l = (await this.#resolve(ctx, left)).commit
    const r = (await this.#resolve(ctx, right)).commit
    const amount = Math.max(1, Math.min(MAX_PAGE, opts.amount ?? MAX_PAGE))
    const after = opts.after ?? ''
    const entries: DiffEntry[] = []
    let hasMore = false
    const diffOpts = after === '' ? { prefix } : { prefix, from: after }
    for await (const d of diffIndexes(ctx.index, await ctx.index.readMetarange(l.metaRangeId), await ctx.index.readMetarange(r.metaRangeId), diffOpts)) {
      if (after !== '' && compareKeys(d.path, after) <= 0) continue
      if (entries.length >= amount) { hasMore = true; break }
      entries.push(this.#diffEntry(d.path, d.left, d.right))
    }
    return { entries, hasMore, nextAfter: entries[entries.length - 1]?.path ?? '' }
  }

  #diffEntry (p: string, left: Entry | null, right: Entry | null): DiffEntry {
    const type = left === null ? 'added' : right === null ? 'removed' : 'changed'
    return right === null ? { path: p as ObjectPath, type } : { path: p as ObjectPath, type, size: right.size }
  }

  async diffStaged (repo: string, branch: string, opts: DiffOptions = {}): Promise<DiffPage> {
    const ctx = await this.#repo(repo)
    const prefix = keyPrefix(opts.prefix ?? '')
    const cur = await this.#requireBranch(ctx, branch)
    const head = await ctx.commits.read(cur.value.commitId)
    const mr = await ctx.index.readMetarange(head.metaRangeId)
    const view = await ctx.staging.view(this.#tokens(cur.value))
    const amount = Math.max(1, Math.min(MAX_PAGE, opts.amount ?? MAX_PAGE))
    const after = opts.after ?? ''
    const entries: DiffEntry[] = []
    let hasMore = false
    for (const [p, e] of view.sorted()) {
      if (!p.startsWith(prefix) || (after !== '' && compareKeys(p, after) <= 0)) continue
      const old = await ctx.index.get(mr, p) ?? null
      if (e === null && old === null) continue
      if (entries.length >= amount) { hasMore = true; break }
      entries.push(this.#diffEntry(p, old, e))
    }
    return { entries, hasMore, nextAfter: entries[entries.length - 1]?.path ?? '' }
  }

  /**
   * lakeFS's merge: refused on a destination with uncommitted changes (LK_DIRTY_BRANCH) and when
   * the source brings nothing since the merge base (LK_NOTHING_TO_COMMIT, unless allowEmpty);
   * otherwise always a new merge commit with parents [destination head, source] (only the
   * destination with `squash`), the message (default "Merge '<source>' into '<dest>'"), the
   * metadata and `.lakefs.merge.strategy` — never a fast-forward, so the message and metadata are
   * kept exactly as on lakeFS.
   */
  async merge (repo: string, source: string, dest: string, opts: MergeOptions = {}): Promise<MergeResult> {
    const ctx = await this.#repo(repo)
    const strategy = opts.strategy ?? 'fail'
    if (!['fail', 'source-wins', 'dest-wins'].includes(strategy)) throw new LkError('LK_USAGE', `unknown merge strategy ${JSON.stringify(strategy)}`)
    const metadata = validMetadata(opts.metadata)
    const src = (await this.#resolve(ctx, source)).commit
    const ref = this.#branchRef(ctx, dest)
    const what = `merge ${source} into ${dest}`
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#requireBranch(ctx, dest)
      await this.#refuseDirty(ctx, dest, cur.value, what)
      const head = await ctx.commits.read(cur.value.commitId)
      const baseId = await mergeBase(ctx.commits, src.id, head.id)
      const baseMr = baseId === undefined ? undefined : (await ctx.commits.read(baseId)).metaRangeId
      const mr = await this.#mergeTrees(ctx, head.metaRangeId, src.metaRangeId, baseMr, strategy, what, opts.allowEmpty === true)
      const commit = await this.#writeCommit(ctx, opts.squash === true ? [head] : [head, src], mr, {
        message: opts.message === undefined || opts.message === '' ? `Merge '${source}' into '${dest}'` : opts.message,
        metadata: { ...metadata, [MERGE_STRATEGY_KEY]: strategy === 'fail' ? 'default' : strategy },
        ...(opts.committer === undefined ? {} : { committer: opts.committer }),
      })
      if (await ref.cas(cur.seq, { ...cur.value, commitId: commit.id })) return { commitId: commit.id as CommitId }
      await this.#backoff(attempt, 'merge')
    }
  }

  /**
   * A new commit on `branch` that undoes the changes `ref` made against its parent (`parentNumber`,
   * 1-based, required for a merge commit): lakeFS's revertBranch. Conflicts with later changes of
   * the branch are LK_MERGE_CONFLICT, path by path; a revert that changes nothing is
   * LK_NOTHING_TO_COMMIT unless allowEmpty.
   */
  async revert (repo: string, branch: string, ref: string, opts: RevertOptions = {}): Promise<CommitInfo> {
    const ctx = await this.#repo(repo)
    const metadata = validMetadata(opts.metadata)
    const target = (await this.#resolve(ctx, ref)).commit
    const pn = opts.parentNumber ?? 0
    if (!Number.isInteger(pn) || pn < 0) throw new LkError('LK_USAGE', `revert: the parent number must be a positive integer, not ${JSON.stringify(opts.parentNumber)}`)
    if (target.parents.length > 1 && pn === 0) {
      throw new LkError('LK_USAGE', `revert ${ref}: must specify 1-based parent number for reverting merge commit (it has ${target.parents.length} parents: --parent 1 undoes what the merge brought in)`, { details: { status: 409, parents: target.parents } })
    }
    if (pn > target.parents.length) throw new LkError('LK_USAGE', `revert ${ref}: given commit does not have the given parent number: parent ${pn} (it has ${target.parents.length})`, { details: { parents: target.parents } })
    const parentId = target.parents[pn === 0 ? 0 : pn - 1]
    const parentMr = parentId === undefined ? EMPTY_METARANGE_ID : (await ctx.commits.read(parentId)).metaRangeId
    const what = `revert ${ref} on ${branch}`
    const bref = this.#branchRef(ctx, branch)
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#requireBranch(ctx, branch)
      await this.#refuseDirty(ctx, branch, cur.value, what)
      const head = await ctx.commits.read(cur.value.commitId)
      // merge the parent's tree onto the head, with the reverted commit as the merge base
      const mr = await this.#mergeTrees(ctx, head.metaRangeId, parentMr, target.metaRangeId, 'fail', what, opts.allowEmpty === true)
      if (mr === head.metaRangeId && opts.allowEmpty !== true) throw new LkError('LK_NOTHING_TO_COMMIT', `${what}: no changes (the branch no longer has what ${ref} changed)`, { details: { ref, branch } })
      const commit = await this.#writeCommit(ctx, [head], mr, {
        message: opts.message === undefined || opts.message === '' ? `Revert ${ref}` : opts.message,
        metadata,
        ...(opts.committer === undefined ? {} : { committer: opts.committer }),
      })
      if (await bref.cas(cur.seq, { ...cur.value, commitId: commit.id })) return this.#commitInfo(commit)
      await this.#backoff(attempt, 'revert')
    }
  }

  /**
   * Replays the changes `ref` made against its parent (`parentNumber`, 1-based, required for a
   * merge commit) as a new commit on `branch`: lakeFS's cherryPick. Message and metadata are the
   * picked commit's (unless given), plus `cherry-pick-origin` and `cherry-pick-committer`.
   */
  async cherryPick (repo: string, branch: string, ref: string, opts: CherryPickOptions = {}): Promise<CommitInfo> {
    const ctx = await this.#repo(repo)
    if (opts.metadata !== undefined) validMetadata(opts.metadata)
    const target = (await this.#resolve(ctx, ref)).commit
    if (opts.parentNumber === undefined && target.parents.length > 1) {
      throw new LkError('LK_USAGE', `cherry-pick ${ref}: must specify 1-based parent number for cherry-picking merge commit (it has ${target.parents.length} parents)`, { details: { parents: target.parents } })
    }
    const pn = opts.parentNumber ?? 1
    if (!Number.isInteger(pn) || pn < 1) throw new LkError('LK_USAGE', `cherry-pick: the parent number must be a positive integer, not ${JSON.stringify(opts.parentNumber)}`)
    if (pn > target.parents.length) throw new LkError('LK_USAGE', `cherry-pick ${ref}: given commit does not have the given parent number: parent ${pn} (it has ${target.parents.length})`, { details: { parents: target.parents } })
    const parentMr = (await ctx.commits.read(target.parents[pn - 1]!)).metaRangeId
    const what = `cherry-pick ${ref} onto ${branch}`
    const bref = this.#branchRef(ctx, branch)
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#requireBranch(ctx, branch)
      await this.#refuseDirty(ctx, branch, cur.value, what)
      const head = await ctx.commits.read(cur.value.commitId)
      const mr = await this.#mergeTrees(ctx, head.metaRangeId, target.metaRangeId, parentMr, 'fail', what, false)
      const commit = await this.#writeCommit(ctx, [head], mr, {
        message: opts.message === undefined || opts.message === '' ? target.message : opts.message,
        metadata: { ...(opts.metadata ?? Object.fromEntries(target.metadata)), 'cherry-pick-origin': target.id, 'cherry-pick-committer': target.committer },
        ...(opts.committer === undefined ? {} : { committer: opts.committer }),
      })
      if (await bref.cas(cur.seq, { ...cur.value, commitId: commit.id })) return this.#commitInfo(commit)
      await this.#backoff(attempt, 'cherry-pick')
    }
  }

  /**
   * Moves `branch` to the commit `ref` resolves to (lakeFS's hardResetBranch). Like lakeFS, the
   * uncommitted changes stay staged on top of the new head (`resetBranch` drops them); refused
   * while a commit of the branch is in flight.
   */
  async hardReset (repo: string, branch: string, ref: string): Promise<RefInfo> {
    const ctx = await this.#repo(repo)
    const bref = this.#branchRef(ctx, branch)
    for (let attempt = 0; ; attempt++) {
      const cur = await this.#requireBranch(ctx, branch)
      if (inflightAlive(cur.value.inflight)) throw new LkError('LK_DIRTY_BRANCH', `hard reset of ${branch}: a commit of the branch is in flight: uncommitted changes (dirty branch)`, { details: { branch } })
      // resolved under the update, as lakeFS does: a reset to branch~1 racing a commit stays serialisable
      const target = (await this.#resolve(ctx, ref)).commit
      if (await bref.cas(cur.seq, { ...cur.value, commitId: target.id })) return { name: branch, commitId: target.id as CommitId }
      await this.#backoff(attempt, 'hard reset')
    }
  }

  /** the merge base of two refs (lakeFS's findMergeBase); LK_REF_NOT_FOUND when the histories are unrelated */
  async findMergeBase (repo: string, source: string, dest: string): Promise<{ base: CommitId, source: CommitId, dest: CommitId }> {
    const ctx = await this.#repo(repo)
    const s = (await this.#resolve(ctx, source)).commit
    const d = (await this.#resolve(ctx, dest)).commit
    const base = await mergeBase(ctx.commits, s.id, d.id)
    if (base === undefined) throw new LkError('LK_REF_NOT_FOUND', `no merge base: ${source} and ${dest} share no commit`, { details: { source, dest } })
    return { base: base as CommitId, source: s.id as CommitId, dest: d.id as CommitId }
  }

  /** LK_DIRTY_BRANCH when the branch has staged changes, or sealed ones of a commit in flight */
  async #refuseDirty (ctx: RepoCtx, branch: string, state: BranchState, what: string): Promise<void> {
    const view = await ctx.staging.view(this.#tokens(state))
    if (view.map.size > 0 || inflightAlive(state.inflight)) {
      throw new LkError('LK_DIRTY_BRANCH', `${what}: ${branch}: uncommitted changes (dirty branch)`, { details: { branch, staged: view.map.size } })
    }
  }

  /**
   * The tree of a three-way merge of `src` onto `dest` over `base` (metarange ids; EMPTY_METARANGE_ID
   * for none), as graveler's committed manager: LK_NOTHING_TO_COMMIT when the source brings no
   * change since the base (unless allowEmpty), the source's tree when the destination did not
   * change, else the destination with the source's changes (conflicts per strategy).
   */
  async #mergeTrees (ctx: RepoCtx, dest: string, src: string, base: string | undefined, strategy: MergeStrategy, what: string, allowEmpty: boolean): Promise<string> {
    const read = async (id: string | undefined): Promise<Metarange> => id === undefined || id === EMPTY_METARANGE_ID ? EMPTY_METARANGE : await ctx.index.readMetarange(id)
    const baseMr = await read(base)
    const srcMr = await read(src)
    if (!allowEmpty && (src === base || (await diffIndexes(ctx.index, baseMr, srcMr).next()).done === true)) {
      throw new LkError('LK_NOTHING_TO_COMMIT', `${what}: no changes (the source brings nothing new since the merge base)`, { details: { base: base ?? null } })
    }
    if (dest === base) return src === EMPTY_METARANGE_ID ? await ctx.index.writeMetarange(EMPTY_METARANGE) : src
    const destMr = await read(dest)
    const changes = await this.#threeWay(ctx, baseMr, srcMr, destMr, strategy)
    if (changes.length === 0) return dest
    return (await applyChanges(ctx.index, destMr, [changes])).metarangeId
  }

  /** the changes to bring onto dest: source's changes since base, conflicts per strategy */
  async #threeWay (ctx: RepoCtx, base: Metarange, src: Metarange, dest: Metarange, strategy: MergeStrategy): Promise<IndexChange[]> {
    const srcDiff = diffIndexes(ctx.index, base, src)
    const destDiff = diffIndexes(ctx.index, base, dest)
    let s = await srcDiff.next()
    let d = await destDiff.next()
    const changes: IndexChange[] = []
    const conflicts: string[] = []
    while (s.done !== true) {
      const c = d.done === true ? -1 : compareKeys(s.value.path, d.value.path)
      if (c > 0) { d = await destDiff.next(); continue }
      if (c < 0) {
        changes.push({ path: s.value.path, entry: s.value.right })
      } else if (!sameIdentity(s.value.right, d.done === true ? null : d.value.right)) {
        if (strategy === 'fail') conflicts.push(s.value.path)
        else if (strategy === 'source-wins') changes.push({ path: s.value.path, entry: s.value.right })
      }
      if (c === 0) d = await destDiff.next()
      s = await srcDiff.next()
    }
    if (conflicts.length > 0) {
      throw new LkError('LK_MERGE_CONFLICT', `conflict found: ${conflicts.length} path(s) changed on both sides: ${conflicts.slice(0, 5).join(', ')}${conflicts.length > 5 ? ', ...' : ''}`, { details: { conflicts } })
    }
    return changes
  }

  // ---- integrity ----

  /**
   * Reads every ref of a repository and everything reachable from it (commits, metaranges,
   * ranges, blob presence), checking each file against its hash. Returns counts; throws
   * LK_STORE_CORRUPT on the first problem. Used by tests after crashes, and by `fsck`.
   */
  async verify (repo: string): Promise<{ commits: number, ranges: number, entries: number, refs: number }> {
    const ctx = await this.#repo(repo)
    const heads: string[] = []
    let refs = 0
    for (const b of await this.listBranches(repo, { showHidden: true })) { heads.push(b.commitId); refs++ }
    for (const t of await this.listTags(repo)) { heads.push(t.commitId); refs++ }
    const seenCommits = new Set<string>()
    const seenRanges = new Set<string>()
    const seenBlobs = new Set<string>()
    let entries = 0
    const stack = [...heads]
    for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
      if (seenCommits.has(id)) continue
      seenCommits.add(id)
      const c = await ctx.commits.tryRead(id)
      if (c === undefined) throw new LkError('LK_STORE_CORRUPT', `commit ${id} is referenced but missing`)
      stack.push(...c.parents)
      const mr = await ctx.index.readMetarange(c.metaRangeId)
      let prev: string | undefined
      for (const r of mr.ranges) {
        if (prev !== undefined && compareKeys(r.min, prev) <= 0) throw new LkError('LK_STORE_CORRUPT', `metarange ${c.metaRangeId} is not sorted`)
        prev = r.max
        if (seenRanges.has(r.id)) continue
        seenRanges.add(r.id)
        const es = await ctx.index.readRange(r.id)
        if (es.length !== r.count || es[0]?.path !== r.min || es[es.length - 1]?.path !== r.max) throw new LkError('LK_STORE_CORRUPT', `range ${r.id} does not match its metarange entry`)
        entries += es.length
        for (const e of es) {
          if (seenBlobs.has(e.address)) continue
          if (!await this.blobs.has(e.address)) throw new LkError('LK_STORE_CORRUPT', `blob ${e.address} of ${e.path} is missing`)
          seenBlobs.add(e.address)
        }
      }
    }
    return { commits: seenCommits.size, ranges: seenRanges.size, entries, refs }
  }

  async close (): Promise<void> {
    await this.blobs.close()
  }
}

