// Branded identifiers, validated once at the edges (CLI arguments, control messages, remote
// responses). Inner layers take the branded types and trust them.

import { LkError } from './errors.js'

declare const brand: unique symbol
type Brand<T, B extends string> = T & { readonly [brand]: B }

export type RepoName = Brand<string, 'RepoName'>
/** a branch, tag, commit id or ref expression (`main~2`, `v1^`) as the user wrote it */
export type RefExpr = Brand<string, 'RefExpr'>
export type BranchName = Brand<string, 'BranchName'>
export type TagName = Brand<string, 'TagName'>
/** hex sha256 of a commit's canonical encoding */
export type CommitId = Brand<string, 'CommitId'>
/** a relative object path: no leading '/', no '.', '..' or empty segments, no NUL */
export type ObjectPath = Brand<string, 'ObjectPath'>
/** content checksum used as the cache and blob key (hex sha256 for the embedded store) */
export type Checksum = Brand<string, 'Checksum'>

const REPO_RE = /^[a-z0-9][a-z0-9-]{2,62}$/
const REF_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_\-./]{0,255}$/
const COMMIT_RE = /^[0-9a-f]{64}$/

export function repoName (s: string): RepoName {
  if (!REPO_RE.test(s)) throw new LkError('LK_BAD_NAME', `invalid repository name ${JSON.stringify(s)}`)
  return s as RepoName
}

function refName (s: string, kind: string): string {
  if (!REF_NAME_RE.test(s) || s.includes('..') || s.endsWith('/') || s.endsWith('.') || s.includes('//') || s.endsWith('.lock')) {
    throw new LkError('LK_BAD_NAME', `invalid ${kind} name ${JSON.stringify(s)}`)
  }
  return s
}

export const branchName = (s: string): BranchName => refName(s, 'branch') as BranchName
export const tagName = (s: string): TagName => refName(s, 'tag') as TagName

/** A ref expression: a name or commit id followed by any number of `~N`, `~` and `^` suffixes. */
export function refExpr (s: string): RefExpr {
  const m = /^(.*?)((?:~\d*|\^)*)$/.exec(s)
  const base = m?.[1] ?? ''
  refName(base, 'ref')
  return s as RefExpr
}

export const isCommitId = (s: string): s is CommitId => COMMIT_RE.test(s)

export function commitId (s: string): CommitId {
  if (!COMMIT_RE.test(s)) throw new LkError('LK_BAD_NAME', `invalid commit id ${JSON.stringify(s)}`)
  return s as CommitId
}

/**
 * Validates an object path. Paths are relative and normalised: no leading or trailing '/' (a
 * trailing '/' is allowed with `allowDirectory`, for prefixes), no '.', '..' or empty segments,
 * no NUL, at most 1024 bytes (lakeFS's limit).
 */
export function objectPath (s: string, opts: { allowDirectory?: boolean, allowEmpty?: boolean } = {}): ObjectPath {
  if (s === '' && opts.allowEmpty === true) return s as ObjectPath
  const bad = (why: string): never => { throw new LkError('LK_BAD_PATH', `invalid path ${JSON.stringify(s)}: ${why}`) }
  if (s === '') bad('empty')
  if (s.includes('\0')) bad('contains a NUL byte')
  if (Buffer.byteLength(s) > 1024) bad('longer than 1024 bytes')
  if (s.startsWith('/')) bad('starts with "/"')
  const body = opts.allowDirectory === true && s.endsWith('/') ? s.slice(0, -1) : s
  for (const seg of body.split('/')) {
    if (seg === '') bad('has an empty segment')
    if (seg === '.' || seg === '..') bad(`has a "${seg}" segment`)
  }
  return s as ObjectPath
}

/**
 * A listing prefix: '' or any string that would be a valid path prefix (may end with '/' or in
 * the middle of a segment). Empty segments are refused like in paths: a prefix with one could
 * never match a valid path, so it is a mistake worth reporting rather than an empty listing.
 */
export function pathPrefix (s: string): ObjectPath {
  if (s === '') return s as ObjectPath
  const bad = (why: string): never => { throw new LkError('LK_BAD_PATH', `invalid prefix ${JSON.stringify(s)}: ${why}`) }
  if (s.includes('\0')) bad('contains a NUL byte')
  if (Buffer.byteLength(s) > 1024) bad('longer than 1024 bytes')
  if (s.startsWith('/')) bad('starts with "/"')
  const segs = s.split('/')
  if (segs.some(seg => seg === '..' || seg === '.')) bad('has a "." or ".." segment')
  // the last segment is empty exactly when the prefix ends with '/', which is allowed
  if (segs.slice(0, -1).some(seg => seg === '')) bad('has an empty segment')
  return s as ObjectPath
}
