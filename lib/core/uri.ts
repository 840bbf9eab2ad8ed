// lakefs://<repo>/<ref>[/<path>] URIs, as lakectl writes them.

import { LkError } from './errors.js'
import { type RepoName, type RefExpr, type ObjectPath, repoName, refExpr, pathPrefix } from './ids.js'

export interface LakefsUri {
  repo: RepoName
  /** undefined for a repository URI (lakefs://repo) */
  ref: RefExpr | undefined
  /** '' when the URI names no path; may end with '/' for a prefix */
  path: ObjectPath
}

const PREFIX = 'lakefs://'

export function parseUri (s: string, want: { ref?: 'required' | 'forbidden' | 'optional', path?: 'forbidden' | 'optional' | 'required' } = {}): LakefsUri {
  if (!s.startsWith(PREFIX)) throw new LkError('LK_BAD_URI', `not a lakefs:// URI: ${JSON.stringify(s)}`)
  const rest = s.slice(PREFIX.length)
  const firstSlash = rest.indexOf('/')
  const repoPart = firstSlash === -1 ? rest : rest.slice(0, firstSlash)
  const afterRepo = firstSlash === -1 ? '' : rest.slice(firstSlash + 1)
  if (repoPart === '') throw new LkError('LK_BAD_URI', `URI ${JSON.stringify(s)} names no repository`)
  const repo = repoName(repoPart)
  // a ref may contain '/' only in branch names; like lakectl, the ref is the first segment
  const refSlash = afterRepo.indexOf('/')
  const refPart = refSlash === -1 ? afterRepo : afterRepo.slice(0, refSlash)
  const pathPart = refSlash === -1 ? '' : afterRepo.slice(refSlash + 1)
  // lakefs://repo//path would otherwise name a path with no ref
  if (refPart === '' && pathPart !== '') throw new LkError('LK_BAD_URI', `URI ${JSON.stringify(s)} names a path but no ref: write lakefs://${repoPart}/<ref>/<path>`)
  const ref = refPart === '' ? undefined : refExpr(refPart)
  const refWant = want.ref ?? 'required'
  if (refWant === 'required' && ref === undefined) throw new LkError('LK_BAD_URI', `URI ${JSON.stringify(s)} names no ref: write lakefs://${repo}/<branch-or-ref>`)
  if (refWant === 'forbidden' && ref !== undefined) throw new LkError('LK_BAD_URI', `URI ${JSON.stringify(s)} must name only a repository: write lakefs://${repo}`)
  const path = pathPrefix(pathPart)
  const pathWant = want.path ?? 'optional'
  if (pathWant === 'forbidden' && path !== '') throw new LkError('LK_BAD_URI', `URI ${JSON.stringify(s)} must not name a path`)
  if (pathWant === 'required' && (path === '' || path.endsWith('/'))) throw new LkError('LK_BAD_URI', `URI ${JSON.stringify(s)} must name an object path`)
  return { repo, ref, path }
}

export function formatUri (u: { repo: string, ref?: string | undefined, path?: string | undefined }): string {
  let s = PREFIX + u.repo
  if (u.ref !== undefined) s += '/' + u.ref
  if (u.ref !== undefined && u.path !== undefined && u.path !== '') s += '/' + u.path
  return s
}
