// Rewriting and tracing history: revert, cherry-pick, branch reset (soft: drop uncommitted
// changes; --hard: move the branch). Each is lakeFS's operation of the same name, answered by the
// embedded store or by a lakeFS server alike.

import { LkError } from '../../core/errors.js'
import { type BranchName, type RefExpr, type RepoName, existingRefName, refExpr } from '../../core/ids.js'
import { parseUri } from '../../core/uri.js'
import type { CommitInfo, Metadata } from '../../remote/types.js'
import { optBool, optInt, optMetadata, optStr, record, str } from '../check.js'
import { parseTarget, type RemoteTarget } from '../target.js'
import { defineMethod } from './define.js'

interface Targeted { target?: RemoteTarget }

/** lakefs://repo/<branch> (a branch: the one written) */
function branchUri (s: string): { repo: RepoName, branch: BranchName } {
  const u = parseUri(s, { ref: 'required', path: 'forbidden' })
  return { repo: u.repo, branch: existingRefName(u.ref ?? '', 'branch') as BranchName }
}

/** the commit to revert or pick: a ref of the branch's repository, as a commit id, ref expression or lakefs:// URI */
function commitRef (s: string, repo: RepoName): RefExpr {
  if (s.startsWith('lakefs://')) {
    const u = parseUri(s, { ref: 'required', path: 'forbidden' })
    if (u.repo !== repo) throw new LkError('LK_USAGE', `the commit must be of ${repo}, got lakefs://${u.repo}`)
    return u.ref as RefExpr
  }
  return refExpr(s)
}

export const revert = defineMethod<
  Targeted & { uri: string, commit: string, message?: string, metadata?: Metadata, parent?: number, allowEmpty?: boolean },
  { target: RemoteTarget, repo: RepoName, branch: BranchName, commit: RefExpr, message: string | undefined, metadata: Metadata | undefined, parent: number | undefined, allowEmpty: boolean },
  CommitInfo
>({
  name: 'revert',
  title: 'Undo a commit on a branch',
  help: 'Adds a commit to lakefs://repo/<branch> that undoes what the given commit changed against its parent (lakeFS revertBranch); history is kept. A merge commit needs --parent N (1-based: 1 undoes what the merge brought in). Paths the branch changed again since are conflicts, listed path by path; nothing changes then. Refused while the branch has uncommitted changes.',
  parse: (raw) => {
    const p = record(raw, 'params')
    const { repo, branch } = branchUri(str(p, 'uri', 'params'))
    return {
      target: parseTarget(p.target),
      repo,
      branch,
      commit: commitRef(str(p, 'commit', 'params'), repo),
      message: optStr(p, 'message', 'params'),
      metadata: optMetadata(p, 'metadata', 'params'),
      parent: optInt(p, 'parent', 'params', 1),
      allowEmpty: optBool(p, 'allowEmpty', 'params') ?? false,
    }
  },
})

export const cherryPick = defineMethod<
  Targeted & { uri: string, commit: string, message?: string, parent?: number },
  { target: RemoteTarget, repo: RepoName, branch: BranchName, commit: RefExpr, message: string | undefined, parent: number | undefined },
  CommitInfo
>({
  name: 'cherry-pick',
  title: 'Replay a commit on a branch',
  help: 'Adds a commit to lakefs://repo/<branch> with the changes the given commit made against its parent (lakeFS cherryPick): promote one experiment\'s result without merging the rest. The new commit keeps the picked one\'s message and metadata, plus cherry-pick-origin and cherry-pick-committer. A merge commit needs --parent N. Conflicts are listed path by path. Refused while the branch has uncommitted changes.',
  parse: (raw) => {
    const p = record(raw, 'params')
    const { repo, branch } = branchUri(str(p, 'uri', 'params'))
    return {
      target: parseTarget(p.target),
      repo,
      branch,
      commit: commitRef(str(p, 'commit', 'params'), repo),
      message: optStr(p, 'message', 'params'),
      parent: optInt(p, 'parent', 'params', 1),
    }
  },
})

export interface ResetResult {
  branch: string
  /** the commit the branch points at afterwards */
  commitId: string
  /** true: the uncommitted changes were dropped; false: the branch was moved (--hard), its uncommitted changes kept */
  dropped: boolean
}

export const branchReset = defineMethod<
  Targeted & { uri: string, hard?: string },
  { target: RemoteTarget, repo: RepoName, branch: BranchName, hard: RefExpr | undefined },
  ResetResult
>({
  name: 'branch.reset',
  title: 'Drop a branch\'s uncommitted changes, or move it',
  help: 'Without --hard: drops every uncommitted change of lakefs://repo/<branch> (lakeFS resetBranch); commits are untouched. With --hard <ref>: points the branch at that ref\'s commit (lakeFS hardResetBranch), dropping the commits after it from the branch (they stay reachable by id, tags and other branches); as in lakeFS, uncommitted changes stay staged on top, so reset without --hard first to drop them too.',
  parse: (raw) => {
    const p = record(raw, 'params')
    const { repo, branch } = branchUri(str(p, 'uri', 'params'))
    const hard = optStr(p, 'hard', 'params')
    return { target: parseTarget(p.target), repo, branch, hard: hard === undefined ? undefined : commitRef(hard, repo) }
  },
})
