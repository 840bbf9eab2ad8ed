// The lakeFS API operations the server implements, one handler per (method, path) of the spec
// (operationId in each entry), over the `Remote` contract. Shapes come from the generated types;
// every id, ref and path is validated here before it reaches the store.
//
// Where real lakeFS differs from its spec the server follows lakeFS (noted at the handler):
// updateObjectUserMetadata answers 204, not the spec's 201. Query booleans are parsed as lakeFS
// parses them (Go's strconv.ParseBool: the generated Python SDK sends `True`/`False`); the
// committer of commits, merges, reverts and cherry-picks is the authenticated user, as in lakeFS.

import { createHash, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import type { components } from '../lakefs-api/schema.js'
import { LkError } from '../core/errors.js'
import { type BranchName, type ObjectPath, type RepoName, branchName, existingRefName, isCommitId, keyPrefix, objectKey, refExpr, repoName, tagName } from '../core/ids.js'
import type { CommitInfo, Content, DiffEntry, LogOptions, Metadata, MergeStrategy, ObjectStat, Remote, RepoInfo, RefInfo } from '../remote/types.js'
import { readJson, receiveMultipart, receiveRaw, type ReceivedFile } from './body.js'

type S = components['schemas']

export interface Presigner {
  /** a presigned GET URL for the blob at a physical address, or undefined if it cannot sign it */
  presignGet (physicalAddress: string, expiresInSec: number): Promise<string | undefined>
  /** a fresh staging location (s3://...) for one upload and a presigned PUT URL to it */
  stagingLocation (repo: string, branch: string, path: string, expiresInSec: number): Promise<{ physicalAddress: string, url: string }>
  /**
   * reads a staged upload to link it into the store: into memory when it is at most `maxBytes`
   * long, else into `file`
   */
  readStaged (physicalAddress: string, file: string, maxBytes: number): Promise<{ kind: 'buffer', data: Buffer } | { kind: 'file' }>
  /** removes a staged upload (once its bytes are in the store) */
  dropStaged (physicalAddress: string): Promise<void>
  /** the staged upload's key in the store's blob store (same bucket and prefix), to link it where it lies */
  blobKeyOf (physicalAddress: string): string
}

/** staged uploads up to this size are linked from memory (no temporary file, one hash) */
const LINK_IN_MEMORY = 8 * 1024 * 1024

export interface Ctx {
  req: IncomingMessage
  res: ServerResponse
  params: Record<string, string>
  query: URLSearchParams
  method: string
}

export interface Reply { status: number, body?: unknown }

export interface Handler {
  method: string
  segments: string[]
  operationId: string
  auth?: boolean
  /** a reply to send as JSON, or undefined when the handler wrote the response itself */
  run (ctx: Ctx): Promise<Reply | undefined>
}

interface Deps {
  remote: Remote
  tmpDir: string
  presigner: Presigner | undefined
  blockstoreType: string
  defaultNamespacePrefix: string
  /** lifetime of presigned URLs handed out */
  presignSeconds: number
  /** the one user there is (getCurrentUser) */
  accessKeyId: string
}

const MAX_PAGE = 1000
const DEFAULT_PAGE = 100
const READ_CHUNK = 8 * 1024 * 1024

// ------------------------------------------------------------------------------------------------
// parameters

const bad = (msg: string): LkError => new LkError('LK_USAGE', msg)

function amountOf (q: URLSearchParams): number {
  const raw = q.get('amount')
  if (raw === null || raw === '') return DEFAULT_PAGE
  const n = Number(raw)
  if (!Number.isInteger(n) || n < -1) throw bad(`amount must be an integer between -1 and ${MAX_PAGE}`)
  // lakeFS: -1 means the default; above the maximum is clamped to it
  return n === -1 || n === 0 ? DEFAULT_PAGE : Math.min(n, MAX_PAGE)
}

// Go's strconv.ParseBool, which lakeFS's generated server uses for every boolean parameter
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True'])
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False'])

export function parseBool (v: string, name: string): boolean {
  if (TRUE.has(v)) return true
  if (FALSE.has(v)) return false
  throw bad(`Invalid format for parameter ${name}: strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax (use true or false)`)
}

function boolOf (q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name)
  if (v === null || v === '') return dflt
  return parseBool(v, name)
}

/** a JSON body's optional boolean */
function boolField (o: Record<string, unknown>, key: string): boolean {
  const v = o[key]
  if (v === undefined || v === null) return false
  if (typeof v !== 'boolean') throw bad(`"${key}" must be a boolean`)
  return v
}

function pathParam (q: URLSearchParams): ObjectPath {
  const p = q.get('path')
  if (p === null) throw bad('query parameter "path" is required')
  return objectKey(p)
}

function refParam (s: string | undefined): string {
  if (s === undefined) throw bad('missing ref')
  return isCommitId(s) ? s : refExpr(s)
}

const repoParam = (c: Ctx): RepoName => repoName(c.params.repository ?? '')
// an existing branch: lakeFS's name rule, or one lk-mount created before it followed it
const branchParam = (c: Ctx, name = 'branch'): BranchName => existingRefName(c.params[name] ?? '', 'branch') as BranchName

function obj (body: unknown, what: string): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw bad(`${what}: the body must be a JSON object`)
  return body as Record<string, unknown>
}

function str (o: Record<string, unknown>, key: string, required: true): string
function str (o: Record<string, unknown>, key: string, required?: false): string | undefined
function str (o: Record<string, unknown>, key: string, required = false): string | undefined {
  const v = o[key]
  if (v === undefined || v === null) { if (required) throw bad(`"${key}" is required`); return undefined }
  if (typeof v !== 'string') throw bad(`"${key}" must be a string`)
  return v
}

function metadataOf (v: unknown, key: string): Metadata | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(`"${key}" must be an object of strings`)
  const out: Metadata = {}
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw bad(`"${key}.${k}" must be a string`)
    if (k === '') throw new LkError('LK_BAD_METADATA', `"${key}" has an empty key`)
    out[k] = val
  }
  return out
}

/** a revert's or cherry-pick's commit_overrides: {message?, metadata?} */
function overridesOf (b: Record<string, unknown>): { message?: string, metadata?: Metadata } {
  if (b.commit_overrides === undefined || b.commit_overrides === null) return {}
  const o = obj(b.commit_overrides, 'commit_overrides')
  const out: { message?: string, metadata?: Metadata } = {}
  const message = str(o, 'message')
  if (message !== undefined && message !== '') out.message = message
  const metadata = metadataOf(o.metadata, 'commit_overrides.metadata')
  if (metadata !== undefined) out.metadata = metadata
  return out
}

// ------------------------------------------------------------------------------------------------
// shapes

function pagination (count: number, hasMore: boolean, nextOffset: string): S['Pagination'] {
  return { has_more: hasMore, next_offset: hasMore ? nextOffset : '', results: count, max_per_page: MAX_PAGE }
}

/** lakeFS-style paging of an in-memory sorted list by a string key */
function page<T> (items: T[], key: (t: T) => string, q: URLSearchParams): { results: T[], pagination: S['Pagination'] } {
  const prefix = q.get('prefix') ?? ''
  const after = q.get('after') ?? ''
  const amount = amountOf(q)
  const sorted = items.filter(i => key(i).startsWith(prefix) && key(i) > after).sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)
  const results = sorted.slice(0, amount)
  const last = results[results.length - 1]
  return { results, pagination: pagination(results.length, sorted.length > amount, last === undefined ? '' : key(last)) }
}

// one storage, no id: lakeFS's storage_id is "" for a single-storage installation
const repoJson = (r: RepoInfo): S['Repository'] => ({ id: r.name, creation_date: r.creationDate, default_branch: r.defaultBranch, storage_namespace: r.storageNamespace, storage_id: '', read_only: false })
const refJson = (r: RefInfo): S['Ref'] => ({ id: r.name, commit_id: r.commitId })
const commitJson = (c: CommitInfo): S['Commit'] => ({ id: c.id, parents: c.parents, committer: c.committer, message: c.message, creation_date: c.creationDate, meta_range_id: c.metaRangeId, metadata: c.metadata })

/** where lakeFS would say the bytes are: an s3:// URI as it is, a local blob file as a local:// URI */
const physicalAddressOf = (a: string): string => a.startsWith('/') ? `local://${a}` : a

async function statJson (d: Deps, s: ObjectStat, opts: { presign: boolean, userMetadata: boolean }): Promise<S['ObjectStats']> {
  // lakeFS's checksum: the MD5 hex of an upload (its S3 ETag), the client's for a link; the
  // store's sha256 only for entries that never had one (bulk imports, older stores)
  const o: S['ObjectStats'] = { path: s.path, path_type: 'object', physical_address: physicalAddressOf(s.physicalAddress), checksum: s.etag ?? s.checksum, size_bytes: s.size, mtime: s.mtime, content_type: s.contentType }
  if (opts.userMetadata) o.metadata = s.metadata
  if (opts.presign && d.presigner !== undefined) {
    const url = await d.presigner.presignGet(s.physicalAddress, d.presignSeconds)
    if (url !== undefined) {
      o.physical_address = url
      o.physical_address_expiry = Math.floor(Date.now() / 1000) + d.presignSeconds
    }
  }
  return o
}

function diffJson (e: DiffEntry): S['Diff'] {
  // lakeFS reports a size for every object entry (0 for a removed one)
  return { type: e.type, path: e.path, path_type: 'object', size_bytes: e.size ?? 0 }
}

/**
 * lakeFS's diff with a delimiter: entries below the first delimiter after the prefix roll up
 * into one `prefix_changed` common prefix (no size), in path order, paged by path.
 */
async function delimitedDiff (run: (opts: { prefix: string, after: string, amount: number }) => Promise<{ entries: DiffEntry[], hasMore: boolean, nextAfter: string }>, prefix: string, delimiter: string, after: string, amount: number): Promise<{ results: S['Diff'][], hasMore: boolean }> {
  const results: S['Diff'][] = []
  let cursor = after
  for (;;) {
    const p = await run({ prefix, after: cursor, amount: MAX_PAGE })
    for (const e of p.entries) {
      const i = e.path.indexOf(delimiter, prefix.length)
      const cp = i < 0 ? undefined : e.path.slice(0, i + delimiter.length)
      if (cp !== undefined) {
        if (after !== '' && cp <= after) continue
        if (results[results.length - 1]?.path === cp) continue
        if (results.length === amount) return { results, hasMore: true }
        results.push({ type: 'prefix_changed', path: cp, path_type: 'common_prefix' })
      } else {
        if (results.length === amount) return { results, hasMore: true }
        results.push(diffJson(e))
      }
    }
    if (!p.hasMore) return { results, hasMore: false }
    cursor = p.nextAfter
  }
}

// ------------------------------------------------------------------------------------------------
// helpers over Remote

async function findRef (list: RefInfo[], name: string, kind: string): Promise<RefInfo> {
  const r = list.find(b => b.name === name)
  if (r === undefined) throw new LkError('LK_REF_NOT_FOUND', `${kind} not found: ${name}`)
  return r
}

/** the merge base of two commits over the Remote's log: the newest ancestor of `right` that is also one of `left` */
async function mergeBase (remote: Remote, repo: RepoName, left: string, right: string): Promise<string> {
  const ancestors = new Set<string>()
  for await (const c of remote.log(repo, left)) ancestors.add(c.id)
  for await (const c of remote.log(repo, right)) if (ancestors.has(c.id)) return c.id
  throw new LkError('LK_REF_NOT_FOUND', `no common ancestor between ${left} and ${right}`)
}

/** Range header → [start, end) or 'unsatisfiable'; undefined for no (or a multi-range) header */
function parseRange (h: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (h === undefined) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim())
  if (m === null) return undefined // multi-range or malformed: serve the whole object, as HTTP allows
  const [, a = '', b = ''] = m
  if (a === '' && b === '') return undefined
  if (a === '') {
    const n = Number(b)
    if (n === 0) return 'unsatisfiable'
    return [Math.max(0, size - n), size]
  }
  const start = Number(a)
  if (start >= size) return 'unsatisfiable'
  const end = b === '' ? size : Math.min(size, Number(b) + 1)
  if (end <= start) return 'unsatisfiable'
  return [start, end]
}

/**
 * lakeFS user metadata travels in headers on uploads: X-Lakefs-Meta-<key> is `<key>` and
 * X-Lakefs-Internal-<key> is `::lakefs::<key>`, keys lowercased (HTTP header names have no case)
 * and the first value kept, as lakeFS does
 */
function headerMetadata (req: IncomingMessage): Metadata {
  const out: Metadata = {}
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = (req.rawHeaders[i] ?? '').toLowerCase()
    let key: string | undefined
    if (k.startsWith('x-lakefs-meta-')) key = k.slice('x-lakefs-meta-'.length)
    else if (k.startsWith('x-lakefs-internal-')) key = '::lakefs::' + k.slice('x-lakefs-internal-'.length)
    if (key !== undefined && key !== '' && !(key in out)) out[key] = req.rawHeaders[i + 1] ?? ''
  }
  return out
}

async function withUpload<T> (d: Deps, c: Ctx, fn: (file: string, got: ReceivedFile) => Promise<T>): Promise<T> {
  const file = join(d.tmpDir, `upload-${randomUUID()}`)
  try {
    const type = c.req.headers['content-type'] ?? ''
    let got: ReceivedFile
    if (/^multipart\/form-data/i.test(type)) {
      const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(type)
      const b = boundary?.[1] ?? boundary?.[2]
      if (b === undefined) throw bad('multipart/form-data without a boundary')
      got = await receiveMultipart(c.req, b.trim(), file)
    } else {
      got = await receiveRaw(c.req, file)
      // the raw body's own type is the object's, as in lakeFS (octet-stream is the default)
      if (type !== '') got.contentType = type
    }
    return await fn(file, got)
  } finally {
    await rm(file, { force: true })
  }
}

// ------------------------------------------------------------------------------------------------
// the table

export function routes (d: Deps): Handler[] {
  // staging writes from parallel uploads go straight to the store, which orders them itself
  // (test/store/staging-concurrency.test.ts)
  const r = d.remote
  const exists = async (repo: RepoName, branch: BranchName, path: ObjectPath): Promise<boolean> => await existsOn(r, repo, branch, path)
  const table: Handler[] = []
  const add = (method: string, path: string, operationId: string, run: Handler['run'], auth = true): void => {
    table.push({ method, segments: path.split('/').filter(s => s !== ''), operationId, run, auth })
  }

  const storageConfig = (): S['StorageConfig'] => ({
    blockstore_type: d.blockstoreType,
    blockstore_namespace_example: d.blockstoreType === 's3' ? 's3://example-bucket/' : 'local://example-repo',
    blockstore_namespace_ValidityRegex: '^(local|s3)://',
    default_namespace_prefix: d.defaultNamespacePrefix,
    pre_sign_support: d.presigner !== undefined,
    pre_sign_support_ui: false,
    import_support: false,
    import_validity_regex: '^$',
    pre_sign_multipart_upload: false,
  })

  add('GET', 'healthcheck', 'healthCheck', async () => ({ status: 204 }), false)
  add('GET', 'config', 'getConfig', async () => ({ status: 200, body: { version_config: { version: 'lk-mount-serve-0.1.0' }, storage_config: storageConfig(), storage_config_list: [storageConfig()] } satisfies S['Config'] }))
  add('GET', 'config/storage', 'getStorageConfig', async () => ({ status: 200, body: storageConfig() }))
  add('GET', 'config/version', 'getLakeFSVersion', async () => ({ status: 200, body: { version: 'lk-mount-serve-0.1.0' } satisfies S['VersionConfig'] }))

  // lakectl (doctor, and some commands) asks who it is: the one configured key
  const started = Math.floor(Date.now() / 1000)
  add('GET', 'user', 'getCurrentUser', async () => ({ status: 200, body: { user: { id: d.accessKeyId, creation_date: started } } satisfies S['CurrentUser'] }))

  // repositories
  add('GET', 'repositories', 'listRepositories', async c => {
    const search = c.query.get('search') ?? ''
    const repos = (await r.listRepos()).filter(x => x.name.includes(search))
    const p = page(repos, x => x.name, c.query)
    return { status: 200, body: { results: p.results.map(repoJson), pagination: p.pagination } satisfies S['RepositoryList'] }
  })
  add('POST', 'repositories', 'createRepository', async c => {
    const b = obj(await readJson(c.req), 'create repository')
    const name = repoName(str(b, 'name', true))
    // a bare repository (no initial commit, no branch) is what lakeFS's restore fills: not here
    if (boolOf(c.query, 'bare')) throw new LkError('LK_UNSUPPORTED', 'bare repositories (for refs restore) are not supported by lk-mount serve')
    const storageId = str(b, 'storage_id')
    if (storageId !== undefined && storageId !== '') throw bad(`storage id: invalid value: ${JSON.stringify(storageId)} (this server has one storage, whose id is "")`)
    const ns = str(b, 'storage_namespace')
    const def = str(b, 'default_branch')
    const opts: { defaultBranch?: BranchName, storageNamespace?: string } = {}
    if (def !== undefined && def !== '') opts.defaultBranch = branchName(def)
    // lakeFS requires a namespace; lakectl derives it from the default prefix, and so do we when it is omitted
    opts.storageNamespace = ns !== undefined && ns !== '' ? ns : (d.defaultNamespacePrefix.endsWith('/') ? d.defaultNamespacePrefix : d.defaultNamespacePrefix + '/') + name
    return { status: 201, body: repoJson(await r.createRepo(name, opts)) }
  })
  add('GET', 'repositories/:repository', 'getRepository', async c => ({ status: 200, body: repoJson(await r.getRepo(repoParam(c))) }))
  add('DELETE', 'repositories/:repository', 'deleteRepository', async c => { await r.deleteRepo(repoParam(c)); return { status: 204 } })
  // lk-mount keeps no repository metadata: an existing repository has none (setRepositoryMetadata is not served)
  add('GET', 'repositories/:repository/metadata', 'getRepositoryMetadata', async c => { await r.getRepo(repoParam(c)); return { status: 200, body: {} } })

  // branches
  add('GET', 'repositories/:repository/branches', 'listBranches', async c => {
    const p = page(await r.listBranches(repoParam(c), { showHidden: boolOf(c.query, 'show_hidden') }), x => x.name, c.query)
    return { status: 200, body: { results: p.results.map(refJson), pagination: p.pagination } satisfies S['RefList'] }
  })
  add('POST', 'repositories/:repository/branches', 'createBranch', async c => {
    const repo = repoParam(c)
    const b = obj(await readJson(c.req), 'create branch')
    const ref = await r.createBranch(repo, branchName(str(b, 'name', true)), refParam(str(b, 'source', true)), { hidden: boolField(b, 'hidden') })
    // lakeFS answers the new branch's commit id as text
    c.res.writeHead(201, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(ref.commitId) }).end(ref.commitId)
    return undefined
  })
  add('GET', 'repositories/:repository/branches/:branch', 'getBranch', async c => {
    const repo = repoParam(c)
    return { status: 200, body: refJson(await findRef(await r.listBranches(repo, { showHidden: true }), branchParam(c), 'branch')) }
  })
  add('DELETE', 'repositories/:repository/branches/:branch', 'deleteBranch', async c => { await r.deleteBranch(repoParam(c), branchParam(c)); return { status: 204 } })
  add('PUT', 'repositories/:repository/branches/:branch', 'resetBranch', async c => {
    const repo = repoParam(c)
    const branch = branchParam(c)
    const b = obj(await readJson(c.req), 'reset branch')
    const type = str(b, 'type', true)
    const path = str(b, 'path')
    if (type === 'reset') await r.resetBranch(repo, branch, { type: 'all' })
    else if (type === 'object') await r.resetBranch(repo, branch, { type: 'object', path: objectKey(path ?? '') })
    else if (type === 'common_prefix') await r.resetBranch(repo, branch, { type: 'prefix', path: keyPrefix(path ?? '') })
    else throw bad('"type" must be one of object, common_prefix, reset')
    return { status: 204 }
  })
  add('PUT', 'repositories/:repository/branches/:branch/hard_reset', 'hardResetBranch', async c => {
    const ref = c.query.get('ref')
    if (ref === null || ref === '') throw bad('query parameter "ref" is required')
    await r.hardReset(repoParam(c), branchParam(c), refParam(ref))
    return { status: 204 }
  })
  add('POST', 'repositories/:repository/branches/:branch/revert', 'revertBranch', async c => {
    const repo = repoParam(c)
    const branch = branchParam(c)
    const b = obj(await readJson(c.req), 'revert')
    const parent = b.parent_number
    if (typeof parent !== 'number' || !Number.isInteger(parent) || parent < 0) throw bad('"parent_number" is required: 0 for a commit with one parent, the 1-based parent of a merge commit')
    const o = overridesOf(b)
    await r.revert(repo, branch, refParam(str(b, 'ref', true)), {
      parentNumber: parent,
      allowEmpty: boolField(b, 'allow_empty') || boolField(b, 'force'),
      committer: d.accessKeyId,
      ...(o.message === undefined ? {} : { message: o.message }),
      ...(o.metadata === undefined ? {} : { metadata: o.metadata }),
    })
    return { status: 204 }
  })
  add('POST', 'repositories/:repository/branches/:branch/cherry-pick', 'cherryPick', async c => {
    const repo = repoParam(c)
    const branch = branchParam(c)
    const b = obj(await readJson(c.req), 'cherry-pick')
    const parent = b.parent_number
    if (parent !== undefined && parent !== null && (typeof parent !== 'number' || !Number.isInteger(parent) || parent < 1)) throw bad('"parent_number" must be a positive integer')
    const o = overridesOf(b)
    const commit = await r.cherryPick(repo, branch, refParam(str(b, 'ref', true)), {
      committer: d.accessKeyId,
      ...(typeof parent === 'number' ? { parentNumber: parent } : {}),
      ...(o.message === undefined ? {} : { message: o.message }),
      ...(o.metadata === undefined ? {} : { metadata: o.metadata }),
    })
    return { status: 201, body: commitJson(commit) }
  })

  // tags
  add('GET', 'repositories/:repository/tags', 'listTags', async c => {
    const p = page(await r.listTags(repoParam(c)), x => x.name, c.query)
    return { status: 200, body: { results: p.results.map(refJson), pagination: p.pagination } satisfies S['RefList'] }
  })
  add('POST', 'repositories/:repository/tags', 'createTag', async c => {
    const repo = repoParam(c)
    const b = obj(await readJson(c.req), 'create tag')
    return { status: 201, body: refJson(await r.createTag(repo, tagName(str(b, 'id', true)), refParam(str(b, 'ref', true)))) }
  })
  add('GET', 'repositories/:repository/tags/:tag', 'getTag', async c => {
    const repo = repoParam(c)
    return { status: 200, body: refJson(await findRef(await r.listTags(repo), existingRefName(c.params.tag ?? '', 'tag'), 'tag')) }
  })
  add('DELETE', 'repositories/:repository/tags/:tag', 'deleteTag', async c => { await r.deleteTag(repoParam(c), existingRefName(c.params.tag ?? '', 'tag') as ReturnType<typeof tagName>); return { status: 204 } })

  // commits and log
  add('POST', 'repositories/:repository/branches/:branch/commits', 'commit', async c => {
    const repo = repoParam(c)
    const branch = branchParam(c)
    if ((c.query.get('source_metarange') ?? '') !== '') throw new LkError('LK_UNSUPPORTED', 'commit from a source metarange is not supported by lk-mount serve')
    const b = obj(await readJson(c.req), 'commit')
    const metadata = metadataOf(b.metadata, 'metadata') ?? {}
    const commit = await r.commit(repo, branch, { message: str(b, 'message', true), metadata, allowEmpty: b.allow_empty === true, committer: d.accessKeyId })
    return { status: 201, body: commitJson(commit) }
  })
  add('GET', 'repositories/:repository/commits/:commitId', 'getCommit', async c => {
    const repo = repoParam(c)
    // lakeFS resolves any ref here, not only full ids
    const id = await r.resolveRef(repo, refParam(c.params.commitId))
    return { status: 200, body: commitJson(await r.getCommit(repo, id)) }
  })
  add('GET', 'repositories/:repository/refs/:ref/commits', 'logCommits', async c => {
    const repo = repoParam(c)
    const ref = refParam(c.params.ref)
    const opts: LogOptions = {
      objects: c.query.getAll('objects').filter(v => v !== '').map(v => objectKey(v)),
      prefixes: c.query.getAll('prefixes').filter(v => v !== '').map(v => keyPrefix(v)),
      firstParent: boolOf(c.query, 'first_parent'),
    }
    const since = c.query.get('since')
    if (since !== null && since !== '') {
      const t = Date.parse(since)
      if (Number.isNaN(t)) throw bad(`Invalid format for parameter since: ${JSON.stringify(since)} is not an RFC 3339 date-time`)
      opts.since = t / 1000
    }
    const stopAt = c.query.get('stop_at')
    if (stopAt !== null && stopAt !== '') opts.stopAt = refParam(stopAt)
    const after = c.query.get('after') ?? ''
    const amount = amountOf(c.query)
    // limit: stop at `amount` instead of looking one further for has_more (lakeFS's `limit`)
    const limit = boolOf(c.query, 'limit')
    const results: S['Commit'][] = []
    let skipping = after !== ''
    let hasMore = false
    const afterId = skipping ? await r.resolveRef(repo, refParam(after)).catch(() => after) : ''
    for await (const commit of r.log(repo, ref, opts)) {
      if (skipping) { if (commit.id === afterId) skipping = false; continue }
      if (results.length === amount) { hasMore = true; break }
      results.push(commitJson(commit))
      if (limit && results.length === amount) break
    }
    const last = results[results.length - 1]
    return { status: 200, body: { results, pagination: pagination(results.length, hasMore, last?.id ?? '') } satisfies S['CommitList'] }
  })

  // diff and merge
  const diffList = async (c: Ctx, run: (opts: { prefix: string, after: string, amount: number }) => Promise<{ entries: DiffEntry[], hasMore: boolean, nextAfter: string }>): Promise<Reply> => {
    const prefix = keyPrefix(c.query.get('prefix') ?? '')
    const after = c.query.get('after') ?? ''
    const amount = amountOf(c.query)
    const delimiter = c.query.get('delimiter') ?? ''
    if (delimiter !== '') {
      const p = await delimitedDiff(run, prefix, delimiter, after, amount)
      const last = p.results[p.results.length - 1]
      return { status: 200, body: { results: p.results, pagination: pagination(p.results.length, p.hasMore, last?.path ?? '') } satisfies S['DiffList'] }
    }
    const p = await run({ prefix, after, amount })
    return { status: 200, body: { results: p.entries.map(diffJson), pagination: pagination(p.entries.length, p.hasMore, p.nextAfter) } satisfies S['DiffList'] }
  }
  add('GET', 'repositories/:repository/refs/:leftRef/diff/:rightRef', 'diffRefs', async c => {
    const repo = repoParam(c)
    const left = refParam(c.params.leftRef)
    const right = refParam(c.params.rightRef)
    const type = c.query.get('type') ?? 'three_dot'
    if (type !== 'two_dot' && type !== 'three_dot') throw bad('"type" must be two_dot or three_dot')
    // three_dot (lakeFS's default): what right changed since the merge base of the two
    const base = type === 'three_dot' ? await mergeBase(r, repo, left, right) : left
    return await diffList(c, async o => await r.diff(repo, base, right, o))
  })
  add('GET', 'repositories/:repository/branches/:branch/diff', 'diffBranch', async c => {
    const repo = repoParam(c)
    const branch = branchParam(c)
    return await diffList(c, async o => await r.diffStaged(repo, branch, o))
  })
  add('POST', 'repositories/:repository/refs/:sourceRef/merge/:destinationBranch', 'mergeIntoBranch', async c => {
    const repo = repoParam(c)
    const source = refParam(c.params.sourceRef)
    const dest = branchParam(c, 'destinationBranch')
    const b = obj((await readJson(c.req)) ?? {}, 'merge')
    const strategy = str(b, 'strategy')
    if (strategy !== undefined && strategy !== '' && strategy !== 'source-wins' && strategy !== 'dest-wins') throw bad('"strategy" must be source-wins or dest-wins')
    const opts: { strategy?: MergeStrategy, message?: string, metadata?: Metadata, allowEmpty: boolean, squash: boolean, committer: string } = {
      allowEmpty: boolField(b, 'allow_empty') || boolField(b, 'force'),
      squash: boolField(b, 'squash_merge'),
      committer: d.accessKeyId,
    }
    if (strategy !== undefined && strategy !== '') opts.strategy = strategy as MergeStrategy
    const message = str(b, 'message')
    if (message !== undefined && message !== '') opts.message = message
    const metadata = metadataOf(b.metadata, 'metadata')
    if (metadata !== undefined) opts.metadata = metadata
    try {
      const res = await r.merge(repo, source, dest, opts)
      return { status: 200, body: { reference: res.commitId } satisfies S['MergeResult'] }
    } catch (e) {
      // the spec's 409 body is a MergeResult, real lakeFS sends an Error: this satisfies both
      if (e instanceof LkError && (e.code === 'LK_MERGE_CONFLICT' || e.code === 'LK_CONFLICT')) return { status: 409, body: { message: e.message, reference: '' } }
      throw e
    }
  })
  add('GET', 'repositories/:repository/refs/:sourceRef/merge/:destinationBranch', 'findMergeBase', async c => {
    const repo = repoParam(c)
    const m = await r.findMergeBase(repo, refParam(c.params.sourceRef), refParam(c.params.destinationBranch))
    return { status: 200, body: { base_commit_id: m.base, source_commit_id: m.source, destination_commit_id: m.dest } satisfies S['FindMergeBaseResult'] }
  })

  // objects
  add('GET', 'repositories/:repository/refs/:ref/objects/ls', 'listObjects', async c => {
    const repo = repoParam(c)
    const ref = refParam(c.params.ref)
    const presign = boolOf(c.query, 'presign')
    const userMetadata = boolOf(c.query, 'user_metadata', true)
    const p = await r.listObjects(repo, ref, { prefix: keyPrefix(c.query.get('prefix') ?? ''), delimiter: c.query.get('delimiter') ?? '', after: c.query.get('after') ?? '', amount: amountOf(c.query) })
    const results: S['ObjectStats'][] = []
    for (const e of p.entries) {
      // a common prefix is an ObjectStats with only path and path_type meaningful
      results.push(e.type === 'prefix'
        ? { path: e.path, path_type: 'common_prefix', physical_address: '', checksum: '', mtime: 0 }
        : await statJson(d, e.stat, { presign, userMetadata }))
    }
    return { status: 200, body: { results, pagination: pagination(results.length, p.hasMore, p.nextAfter) } satisfies S['ObjectStatsList'] }
  })
  add('GET', 'repositories/:repository/refs/:ref/objects/stat', 'statObject', async c => {
    const s = await r.statObject(repoParam(c), refParam(c.params.ref), pathParam(c.query))
    return { status: 200, body: await statJson(d, s, { presign: boolOf(c.query, 'presign'), userMetadata: boolOf(c.query, 'user_metadata', true) }) }
  })
  const getObject = async (c: Ctx): Promise<undefined> => {
    const repo = repoParam(c)
    const s = await r.statObject(repo, refParam(c.params.ref), pathParam(c.query))
    if (c.method === 'GET' && boolOf(c.query, 'presign') && d.presigner !== undefined) {
      const url = await d.presigner.presignGet(s.physicalAddress, d.presignSeconds)
      if (url !== undefined) { c.res.writeHead(302, { location: url }).end(); return undefined }
    }
    const etag = `"${s.etag ?? s.checksum}"`
    const common = { etag, 'last-modified': new Date(s.mtime * 1000).toUTCString(), 'accept-ranges': 'bytes', 'content-type': s.contentType }
    if (c.req.headers['if-none-match'] === etag) { c.res.writeHead(304, { etag }).end(); return undefined }
    const range = parseRange(c.req.headers.range, s.size)
    if (range === 'unsatisfiable') {
      const text = JSON.stringify({ message: `range not satisfiable for an object of ${s.size} bytes` })
      c.res.writeHead(416, { 'content-type': 'application/json', 'content-range': `bytes */${s.size}`, 'content-length': Buffer.byteLength(text) }).end(text)
      return undefined
    }
    const [start, end] = range ?? [0, s.size]
    const headers: Record<string, string | number> = { ...common, 'content-length': end - start }
    if (range !== undefined) headers['content-range'] = `bytes ${start}-${end - 1}/${s.size}`
    c.res.writeHead(range === undefined ? 200 : 206, headers)
    if (c.method === 'HEAD') { c.res.end(); return undefined }
    // stream in chunks: a big object never sits whole in memory
    for (let off = start; off < end; off += READ_CHUNK) {
      const buf = await r.readRange(repo, s, off, Math.min(end, off + READ_CHUNK))
      if (buf.length === 0) break
      if (!c.res.write(buf)) await new Promise<void>(resolve => { c.res.once('drain', resolve); c.res.once('close', resolve) })
      if (c.res.destroyed) return undefined
    }
    c.res.end()
    return undefined
  }
  add('GET', 'repositories/:repository/refs/:ref/objects', 'getObject', getObject)
  add('HEAD', 'repositories/:repository/refs/:ref/objects', 'headObject', getObject)
  add('POST', 'repositories/:repository/branches/:branch/objects', 'uploadObject', async c => {
    const repo = repoParam(c)
    const branch = branchParam(c)
    const path = pathParam(c.query)
    const metadata = headerMetadata(c.req)
    const ifNoneMatch = c.req.headers['if-none-match']
    // open-source lakeFS: If-Match is not implemented, If-None-Match only as "*" (never overwrite)
    if (c.req.headers['if-match'] !== undefined) throw new LkError('LK_UNSUPPORTED', 'If-Match on upload is not implemented (as in lakeFS); use If-None-Match: * to create without overwriting')
    if (ifNoneMatch !== undefined) {
      if (ifNoneMatch !== '*') throw new LkError('LK_UNSUPPORTED', "If-None-Match only supports '*'")
      if (await exists(repo, branch, path)) throw new LkError('LK_REF_MOVED', 'path already exists')
    }
    const stat = await withUpload(d, c, async (file, got) => await r.putObject(repo, branch, path, { kind: 'file', file, size: got.size, sha256: got.sha256 }, { contentType: got.contentType ?? 'application/octet-stream', metadata }))
    return { status: 201, body: await statJson(d, stat, { presign: false, userMetadata: true }) }
  })
  add('POST', 'repositories/:repository/branches/:branch/objects/copy', 'copyObject', async c => {
    const repo = repoParam(c)
    const branch = branchParam(c)
    const dest = objectKey(c.query.get('dest_path') ?? '')
    const b = obj(await readJson(c.req), 'copy object')
    const srcPath = objectKey(str(b, 'src_path', true))
    const srcRef = refParam(str(b, 'src_ref') ?? branch)
    const src = await r.statObject(repo, srcRef, srcPath)
    await findRef(await r.listBranches(repo, { showHidden: true }), branch, 'branch')
    // the store is content-addressed: the copy re-adds the same bytes under the same hash (no
    // new blob); through the Remote contract that means reading them once
    const file = join(d.tmpDir, `copy-${randomUUID()}`)
    try {
      const h = createHash('sha256')
      const out = createWriteStream(file)
      try {
        for (let off = 0; off < src.size; off += READ_CHUNK) {
          const chunk = await r.readRange(repo, src, off, Math.min(src.size, off + READ_CHUNK))
          if (chunk.length === 0) break
          h.update(chunk)
          if (!out.write(chunk)) await once(out, 'drain')
        }
      } finally {
        await new Promise<void>((resolve, reject) => { out.once('error', reject); out.end(resolve) })
      }
      const stat = await r.putObject(repo, branch, dest, { kind: 'file', file, size: src.size, sha256: h.digest('hex') }, { contentType: src.contentType, metadata: src.metadata })
      return { status: 201, body: await statJson(d, stat, { presign: false, userMetadata: true }) }
    } finally {
      await rm(file, { force: true })
    }
  })
  add('DELETE', 'repositories/:repository/branches/:branch/objects', 'deleteObject', async c => {
    await r.deleteObjects(repoParam(c), branchParam(c), [pathParam(c.query)])
    return { status: 204 }
  })
  add('POST', 'repositories/:repository/branches/:branch/objects/delete', 'deleteObjects', async c => {
    const repo = repoParam(c)
    const branch = branchParam(c)
    const b = obj(await readJson(c.req), 'delete objects')
    if (!Array.isArray(b.paths) || b.paths.some(p => typeof p !== 'string')) throw bad('"paths" must be an array of strings')
    if (b.paths.length > MAX_PAGE) throw bad(`at most ${MAX_PAGE} paths per request`)
    const errors: S['ObjectError'][] = []
    const valid: ObjectPath[] = []
    for (const p of b.paths as string[]) {
      try { valid.push(objectKey(p)) } catch (e) { errors.push({ status_code: 400, message: (e as Error).message, path: p }) }
    }
    if (valid.length > 0) await r.deleteObjects(repo, branch, valid)
    return { status: 200, body: { errors } satisfies S['ObjectErrorList'] }
  })
  add('PUT', 'repositories/:repository/branches/:branch/objects/stat/user_metadata', 'updateObjectUserMetadata', async c => {
    const repo = repoParam(c)
    const branch = branchParam(c)
    const path = pathParam(c.query)
    const b = obj(await readJson(c.req), 'update user metadata')
    const set = metadataOf(b.set, 'set')
    if (set === undefined) throw bad('"set" is required')
    await r.setObjectMetadata(repo, branch, path, set)
    // the spec says 201; real lakeFS answers 204 and so do we
    return { status: 204 }
  })

  // direct uploads to the blob store (only when blobs are on S3)
  add('GET', 'repositories/:repository/branches/:branch/staging/backing', 'getPhysicalAddress', async c => {
    const repo = repoParam(c)
    const branch = branchParam(c)
    const path = pathParam(c.query)
    if (d.presigner === undefined) throw new LkError('LK_UNSUPPORTED', 'direct uploads need blobs on S3 (lk-mount serve --blobs s3://...); use the upload API')
    await findRef(await r.listBranches(repo, { showHidden: true }), branch, 'branch')
    const loc = await d.presigner.stagingLocation(repo, branch, path, d.presignSeconds)
    const body: S['StagingLocation'] = { physical_address: loc.physicalAddress }
    if (boolOf(c.query, 'presign')) { body.presigned_url = loc.url; body.presigned_url_expiry = Math.floor(Date.now() / 1000) + d.presignSeconds }
    return { status: 200, body }
  })
  add('PUT', 'repositories/:repository/branches/:branch/staging/backing', 'linkPhysicalAddress', async c => {
    const repo = repoParam(c)
    const branch = branchParam(c)
    const path = pathParam(c.query)
    if (d.presigner === undefined) throw new LkError('LK_UNSUPPORTED', 'direct uploads need blobs on S3 (lk-mount serve --blobs s3://...)')
    const b = obj(await readJson(c.req), 'link physical address')
    const staging = obj(b.staging, 'link physical address: staging')
    const address = str(staging, 'physical_address', true)
    const presigner = d.presigner
    // validated before anything is read (only addresses this server handed out)
    const blobKey = presigner.blobKeyOf(address)
    const file = join(d.tmpDir, `link-${randomUUID()}`)
    try {
      // the store is content-addressed: bring the staged bytes in under their hash
      const got = await presigner.readStaged(address, file, LINK_IN_MEMORY)
      let size: number
      let content: Content
      if (got.kind === 'buffer') {
        size = got.data.length
        content = got
      } else {
        const h = await hashFile(file)
        size = h.size
        content = { kind: 'file', file, size, sha256: h.sha256 }
      }
      const declared = b.size_bytes
      if (typeof declared === 'number' && declared !== size) throw bad(`size_bytes ${declared} does not match the uploaded ${size} bytes`)
      const opts: { contentType?: string, metadata?: Metadata, mtime?: number, etag?: string } = {}
      // lakeFS records the checksum the client reports for a linked upload (the object store's ETag)
      const clientChecksum = str(b, 'checksum')
      if (clientChecksum !== undefined && clientChecksum !== '') opts.etag = clientChecksum
      const ct = str(b, 'content_type')
      if (ct !== undefined && ct !== '') opts.contentType = ct
      const md = metadataOf(b.user_metadata, 'user_metadata')
      if (md !== undefined) opts.metadata = md
      if (typeof b.mtime === 'number') opts.mtime = b.mtime
      if (r.putExisting !== undefined) {
        // the upload becomes the object's blob where it lies: the link moves no bytes (one read
        // to hash it; no second upload, no delete) — when the store's blobs are that bucket
        const sha256 = content.kind === 'buffer' ? createHash('sha256').update(content.data).digest('hex') : (content as { sha256: string }).sha256
        try {
          const stat = await r.putExisting(repo, branch, path, { address: blobKey, sha256, size, physicalAddress: address }, opts)
          return { status: 200, body: await statJson(d, stat, { presign: false, userMetadata: true }) }
        } catch (e) {
          if (!(e instanceof LkError && e.code === 'LK_UNSUPPORTED')) throw e
        }
      }
      const stat = await r.putObject(repo, branch, path, content, opts)
      // the bytes are in the store now: the staged copy goes without keeping the client waiting
      // (a copy left behind only costs space)
      presigner.dropStaged(address).catch(() => {})
      return { status: 200, body: await statJson(d, stat, { presign: false, userMetadata: true }) }
    } finally {
      await rm(file, { force: true })
    }
  })

  return table
}

/** whether a path exists on a branch (staging included) */
async function existsOn (r: Remote, repo: RepoName, branch: BranchName, path: ObjectPath): Promise<boolean> {
  try {
    await r.statObject(repo, branch, path)
    return true
  } catch (e) {
    if (e instanceof LkError && e.code === 'LK_OBJECT_NOT_FOUND') return false
    throw e
  }
}

async function hashFile (file: string): Promise<{ size: number, sha256: string }> {
  const h = createHash('sha256')
  let size = 0
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) { h.update(chunk); size += chunk.length }
  return { size, sha256: h.digest('hex') }
}
