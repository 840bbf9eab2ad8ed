// Repositories, branches and tags. Names arrive as lakefs:// URIs or plain names and are checked
// with the lib/core constructors before a handler sees them.

import type { BranchName, RepoName, TagName } from '../../core/ids.js'
import { branchName, repoName, tagName } from '../../core/ids.js'
import { parseUri, type LakefsUri } from '../../core/uri.js'
import type { RefInfo, RepoInfo } from '../../remote/types.js'
import { optStr, record, str } from '../check.js'
import { parseTarget, type RemoteTarget } from '../target.js'
import { defineMethod } from './define.js'

interface Targeted { target?: RemoteTarget }

export const repoCreate = defineMethod<
  Targeted & { name: string, defaultBranch?: string, storageNamespace?: string },
  { target: RemoteTarget, name: RepoName, defaultBranch: BranchName, storageNamespace: string | undefined },
  RepoInfo
>({
  name: 'repo.create',
  title: 'Create a repository',
  help: 'Creates a repository with one branch (the default branch, "main" unless given) holding an empty initial commit.',
  parse: (raw) => {
    const p = record(raw, 'params')
    return {
      target: parseTarget(p.target),
      name: repoName(str(p, 'name', 'params')),
      defaultBranch: branchName(optStr(p, 'defaultBranch', 'params') ?? 'main'),
      storageNamespace: optStr(p, 'storageNamespace', 'params'),
    }
  },
})

export const repoList = defineMethod<Targeted, { target: RemoteTarget }, RepoInfo[]>({
  name: 'repo.list',
  title: 'List repositories',
  help: 'Lists the repositories of the store, sorted by name.',
  parse: (raw) => ({ target: parseTarget(record(raw, 'params').target) }),
})

/** lakefs://repo/<name> where <name> must be a plain branch or tag name */
function refNameUri (s: string, kind: 'branch' | 'tag'): { repo: RepoName, name: string } {
  const u = parseUri(s, { ref: 'required', path: 'forbidden' })
  const name = kind === 'branch' ? branchName(u.ref ?? '') : tagName(u.ref ?? '')
  return { repo: u.repo, name }
}

export const branchCreate = defineMethod<
  Targeted & { uri: string, source: string },
  { target: RemoteTarget, repo: RepoName, name: BranchName, source: LakefsUri },
  RefInfo
>({
  name: 'branch.create',
  title: 'Create a branch',
  help: 'Creates lakefs://repo/<name> pointing at the commit of --source (any ref of the same repository). O(1): no data is copied.',
  parse: (raw) => {
    const p = record(raw, 'params')
    const { repo, name } = refNameUri(str(p, 'uri', 'params'), 'branch')
    const source = parseUri(str(p, 'source', 'params'), { ref: 'required', path: 'forbidden' })
    return { target: parseTarget(p.target), repo, name: name as BranchName, source }
  },
})

export const branchList = defineMethod<
  Targeted & { uri: string },
  { target: RemoteTarget, repo: RepoName },
  Array<RefInfo & { default: boolean }>
>({
  name: 'branch.list',
  title: 'List branches',
  help: 'Lists the branches of lakefs://repo with the commit each points at.',
  parse: (raw) => {
    const p = record(raw, 'params')
    const u = parseUri(str(p, 'uri', 'params'), { ref: 'forbidden', path: 'forbidden' })
    return { target: parseTarget(p.target), repo: u.repo }
  },
})

export const branchDelete = defineMethod<
  Targeted & { uri: string },
  { target: RemoteTarget, repo: RepoName, name: BranchName },
  { deleted: string }
>({
  name: 'branch.delete',
  title: 'Delete a branch',
  help: 'Deletes lakefs://repo/<name> (not the default branch). Commits stay reachable from other refs.',
  parse: (raw) => {
    const p = record(raw, 'params')
    const { repo, name } = refNameUri(str(p, 'uri', 'params'), 'branch')
    return { target: parseTarget(p.target), repo, name: name as BranchName }
  },
})

export const tagCreate = defineMethod<
  Targeted & { uri: string, ref: string },
  { target: RemoteTarget, repo: RepoName, name: TagName, ref: LakefsUri },
  RefInfo
>({
  name: 'tag.create',
  title: 'Create a tag',
  help: 'Creates the tag lakefs://repo/<tag> at the commit the given ref resolves to. Tags never move.',
  parse: (raw) => {
    const p = record(raw, 'params')
    const { repo, name } = refNameUri(str(p, 'uri', 'params'), 'tag')
    const ref = parseUri(str(p, 'ref', 'params'), { ref: 'required', path: 'forbidden' })
    return { target: parseTarget(p.target), repo, name: name as TagName, ref }
  },
})

export const tagList = defineMethod<
  Targeted & { uri: string },
  { target: RemoteTarget, repo: RepoName },
  RefInfo[]
>({
  name: 'tag.list',
  title: 'List tags',
  help: 'Lists the tags of lakefs://repo with their commits.',
  parse: (raw) => {
    const p = record(raw, 'params')
    const u = parseUri(str(p, 'uri', 'params'), { ref: 'forbidden', path: 'forbidden' })
    return { target: parseTarget(p.target), repo: u.repo }
  },
})
