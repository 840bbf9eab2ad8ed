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
/**
 * an object key the store accepts (objectKey: lakeFS's rule); objectPath narrows it to keys that
 * map to relative file paths (no leading '/', no '.', '..' or empty segments), which is what
 * mounts and sync create
 */
export type ObjectPath = Brand<string, 'ObjectPath'>
/** content checksum used as the cache and blob key (hex sha256 for the embedded store) */
export type Checksum = Brand<string, 'Checksum'>

// lakeFS's own rules (pkg/validator, pkg/graveler/validate.go), so a name the embedded store
// accepts is one a real lakeFS accepts too: moving a team to lakeFS changes nothing.
const REPO_RE = /^[a-z0-9][a-z0-9-]{2,62}$/
/** lakeFS's ReValidBranchID, `^\w[-\w]*$` with Go's ASCII \w */
const BRANCH_RE = /^[A-Za-z0-9_][-A-Za-z0-9_]*$/
const COMMIT_RE = /^[0-9a-f]{64}$/
/** the names lk-mount accepted before it followed lakeFS: still readable and deletable, never created */
const LEGACY_REF_RE = /^[A-Za-z0-9_][A-Za-z0-9_\-./]{0,255}$/

export const REPO_RULE = 'repository names are 3-63 characters of a-z, 0-9 and "-", starting with a letter or digit'
export const BRANCH_RULE = 'branch names are letters, digits, "_" and "-", starting with a letter, digit or "_" (lakeFS: ^\\w[-\\w]*$), e.g. exp-lr-0_1 rather than exp-lr-0.1'
export const TAG_RULE = 'tag names have no spaces, control characters, "/", "..", "@{" or any of ^:?*[\\, are not "@", and do not end in "." or ".lock"'

export function repoName (s: string): RepoName {
  if (!REPO_RE.test(s)) throw new LkError('LK_BAD_NAME', `invalid repository name ${JSON.stringify(s)}: ${REPO_RULE}`, { details: { name: s, rule: REPO_RULE } })
  return s as RepoName
}

export const isBranchName = (s: string): boolean => typeof s === 'string' && BRANCH_RE.test(s)

// eslint-disable-next-line no-control-regex
const TAG_BAD = /[\x00-\x20\x7f^:?*[\\/]|\.\.|@\{/

export const isTagName = (s: string): boolean =>
  typeof s === 'string' && s !== '' && s !== '@' && !s.endsWith('.') && !s.endsWith('.lock') && !TAG_BAD.test(s) && !s.includes('~')

/** a branch name as lakeFS accepts it (what createBranch and createRepo's default branch take) */
export function branchName (s: string): BranchName {
  if (!isBranchName(s)) throw new LkError('LK_BAD_NAME', `invalid branch name ${JSON.stringify(s)}: ${BRANCH_RULE}`, { details: { name: s, rule: BRANCH_RULE } })
  return s as BranchName
}

/** a tag name as lakeFS accepts it (git's check-ref-format, minus '/'); '~' is left out here because it starts a ref expression */
export function tagName (s: string): TagName {
  if (!isTagName(s)) throw new LkError('LK_BAD_NAME', `invalid tag name ${JSON.stringify(s)}: ${TAG_RULE}`, { details: { name: s, rule: TAG_RULE } })
  return s as TagName
}

/**
 * The name of an existing branch or tag: a lakeFS name, or one that earlier versions of lk-mount
 * created (`feature/x`, `exp-lr-0.1`), so old refs can still be read, merged from and deleted.
 */
export function existingRefName (s: string, kind = 'ref'): string {
  if (isTagName(s) || (LEGACY_REF_RE.test(s) && !s.includes('..') && !s.endsWith('/') && !s.endsWith('.') && !s.includes('//') && !s.endsWith('.lock'))) return s
  throw new LkError('LK_BAD_NAME', `invalid ${kind} name ${JSON.stringify(s)}: ${kind === 'tag' ? TAG_RULE : BRANCH_RULE}`, { details: { name: s } })
}

/** A ref expression: a name or commit id followed by any number of `~N`, `~` and `^` suffixes. */
export function refExpr (s: string): RefExpr {
  const m = /^(.*?)((?:~\d*|\^)*)$/.exec(s)
  const base = m?.[1] ?? ''
  existingRefName(base, 'ref')
  return s as RefExpr
}

export const isCommitId = (s: string): s is CommitId => COMMIT_RE.test(s)

export function commitId (s: string): CommitId {
  if (!COMMIT_RE.test(s)) throw new LkError('LK_BAD_NAME', `invalid commit id ${JSON.stringify(s)}`)
  return s as CommitId
}

/**
 * An object key as lakeFS accepts it: any non-empty string of at most 1024 bytes (lakeFS's
 * ValidatePath), so `dir/` markers and `a//b` can be stored and read. A NUL byte is refused: it
 * cannot travel in a URL query or a file name. Keys a mount or sync cannot map to a file
 * (`isMappablePath` false) are hidden there, never written outside their root.
 */
export function objectKey (s: string): ObjectPath {
  if (typeof s !== 'string' || s === '') throw new LkError('LK_BAD_PATH', 'invalid path "": empty')
  if (s.includes('\0')) throw new LkError('LK_BAD_PATH', `invalid path ${JSON.stringify(s)}: contains a NUL byte`)
  if (Buffer.byteLength(s) > 1024) throw new LkError('LK_BAD_PATH', `invalid path ${JSON.stringify(s.slice(0, 40))}...: longer than 1024 bytes`)
  return s as ObjectPath
}

/** whether a key maps to a relative file path: no leading '/', no empty, '.' or '..' segment */
export function isMappablePath (s: string): boolean {
  try { objectPath(s); return true } catch { return false }
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

/** A listing prefix over keys (lakeFS's rule): '' or any string without NUL, at most 1024 bytes. */
export function keyPrefix (s: string): ObjectPath {
  if (s === '') return s as ObjectPath
  return objectKey(s)
}
