// The embedded store keeps lakeFS's semantics for what rewrites and traces history, so moving a
// team from the embedded store to a real lakeFS changes nothing: merges always write a merge
// commit and refuse "no changes" and a dirty destination; revert, cherry-pick, hard reset, merge
// base; log filters (objects, prefixes, since, first parent, stop at); hidden branches; lakeFS's
// name rules; keys with empty segments; MD5 checksums kept beside the sha256 content address.

import t from 'tap'
import { createHash } from 'node:crypto'
import { B, P, R, T, buf, codeOf, collect, manualClock, tempStore } from '../support/store.js'
import type { LocalRemote } from '../../lib/remote/local.js'

const repo = R('hist')

async function setup (t: { teardown (fn: () => unknown): void }): Promise<{ remote: LocalRemote, clock: ReturnType<typeof manualClock> }> {
  const clock = manualClock()
  const { remote } = await tempStore(t, { clock, fsync: false })
  const orig = clock.now
  // every call moves the clock a second so commit order (and since) is unambiguous
  ;(clock as { now: () => number }).now = () => { clock.advance(1000); return orig() }
  await remote.createRepo(repo)
  return { remote, clock }
}

const commitPuts = async (remote: LocalRemote, branch: string, files: Record<string, string | null>, message: string): Promise<string> => {
  for (const [p, v] of Object.entries(files)) {
    if (v === null) await remote.deleteObjects(repo, B(branch), [P(p)])
    else await remote.putObject(repo, B(branch), P(p), buf(v))
  }
  return (await remote.commit(repo, B(branch), { message })).id
}

const read = async (remote: LocalRemote, ref: string, p: string): Promise<string | undefined> => {
  try {
    return (await remote.readRange(repo, await remote.statObject(repo, ref, P(p)), 0, 1000)).toString()
  } catch { return undefined }
}

t.test('merge: refused on a dirty destination and with no changes; allowEmpty and squash', async t => {
  const { remote } = await setup(t)
  const c0 = await commitPuts(remote, 'main', { a: '1' }, 'c0')
  await remote.createBranch(repo, B('dev'), 'main')
  const d1 = await commitPuts(remote, 'dev', { b: '2' }, 'd1')
  await remote.putObject(repo, B('main'), P('staged'), buf('x'))
  t.equal(await codeOf(remote.merge(repo, 'dev', B('main'))), 'LK_DIRTY_BRANCH', 'uncommitted changes on the destination')
  t.equal(await remote.resolveRef(repo, 'main'), c0)
  await remote.resetBranch(repo, B('main'), { type: 'all' })
  const sq = await remote.merge(repo, 'dev', B('main'), { squash: true })
  t.same((await remote.getCommit(repo, sq.commitId)).parents, [c0], 'squash: the destination only')
  t.equal(await read(remote, 'main', 'b'), '2')
  // dev's commit is not an ancestor of main after a squash: merging it again finds b on both sides
  const again = await remote.merge(repo, 'dev', B('main'))
  t.same((await remote.getCommit(repo, again.commitId)).parents, [sq.commitId, d1])
  t.equal(await codeOf(remote.merge(repo, 'dev', B('main'))), 'LK_NOTHING_TO_COMMIT')
  const empty = await remote.merge(repo, 'dev', B('main'), { allowEmpty: true, message: 'record it' })
  const ec = await remote.getCommit(repo, empty.commitId)
  t.same([ec.message, ec.parents, ec.metadata], ['record it', [again.commitId, d1], { '.lakefs.merge.strategy': 'default' }])
})

t.test('revert: undoes one commit, refuses conflicts, merges need a parent number', async t => {
  const { remote } = await setup(t)
  const c1 = await commitPuts(remote, 'main', { 'train/a': 'a1', labels: 'l1' }, 'c1')
  const c2 = await commitPuts(remote, 'main', { 'train/b': 'bad' }, 'bad drop')
  const c3 = await commitPuts(remote, 'main', { labels: 'l2' }, 'relabel')
  const rv = await remote.revert(repo, B('main'), c2, { metadata: { why: 'bad' }, committer: 'alice' })
  t.same([rv.message, rv.parents, rv.metadata, rv.committer], [`Revert ${c2}`, [c3], { why: 'bad' }, 'alice'])
  t.equal(await read(remote, 'main', 'train/b'), undefined)
  t.equal(await read(remote, 'main', 'labels'), 'l2')
  t.equal(await codeOf(remote.revert(repo, B('main'), c2)), 'LK_NOTHING_TO_COMMIT', 'already undone')
  t.equal((await remote.revert(repo, B('main'), c2, { allowEmpty: true })).parents[0], rv.id)
  const before = await remote.resolveRef(repo, 'main')
  const err = await remote.revert(repo, B('main'), c1).then(() => undefined, (e: unknown) => e as { code: string, details: { conflicts: string[] } })
  t.same([err?.code, err?.details.conflicts], ['LK_MERGE_CONFLICT', ['labels']], 'changed again since: a conflict, path by path')
  t.equal(await remote.resolveRef(repo, 'main'), before, 'nothing moved')
  t.equal(await codeOf(remote.revert(repo, B('main'), c3, { parentNumber: 2 })), 'LK_USAGE', 'parent out of range')

  await remote.createBranch(repo, B('dev'), 'main')
  await commitPuts(remote, 'dev', { 'dev/x': 'x' }, 'dev x')
  const m = await remote.merge(repo, 'dev', B('main'))
  t.equal(await codeOf(remote.revert(repo, B('main'), m.commitId)), 'LK_USAGE', 'a merge commit needs a parent number')
  await remote.revert(repo, B('main'), m.commitId, { parentNumber: 1 })
  t.equal(await read(remote, 'main', 'dev/x'), undefined, 'revert against the first parent undoes the merge')
  await remote.putObject(repo, B('main'), P('s'), buf('s'))
  t.equal(await codeOf(remote.revert(repo, B('main'), c3)), 'LK_DIRTY_BRANCH')
})

t.test('cherry-pick: replays one commit with its message and metadata, plus its origin', async t => {
  const { remote } = await setup(t)
  await commitPuts(remote, 'main', { base: 'b' }, 'base')
  await remote.createBranch(repo, B('exp'), 'main')
  await remote.putObject(repo, B('exp'), P('result'), buf('r'))
  const e1 = (await remote.commit(repo, B('exp'), { message: 'result', metadata: { lr: '0_1' }, committer: 'bob' })).id
  await commitPuts(remote, 'exp', { scratch: 's' }, 'scratch')
  const cp = await remote.cherryPick(repo, B('main'), e1, { committer: 'carol' })
  t.same([cp.message, cp.metadata, cp.committer, cp.parents.length], ['result', { lr: '0_1', 'cherry-pick-origin': e1, 'cherry-pick-committer': 'bob' }, 'carol', 1])
  t.equal(await read(remote, 'main', 'result'), 'r')
  t.equal(await read(remote, 'main', 'scratch'), undefined)
  const over = await remote.cherryPick(repo, B('main'), 'exp', { message: 'promote scratch', metadata: { k: 'v' } })
  t.same([over.message, over.metadata.k, over.metadata['cherry-pick-origin']], ['promote scratch', 'v', await remote.resolveRef(repo, 'exp')])
  await commitPuts(remote, 'main', { result: 'main changed it' }, 'main result')
  await remote.createBranch(repo, B('exp2'), 'exp~1')
  const e2 = await commitPuts(remote, 'exp2', { result: 'exp2 changed it' }, 'exp2 result')
  t.equal(await codeOf(remote.cherryPick(repo, B('main'), e2)), 'LK_MERGE_CONFLICT')
  const root = (await collect(remote.log(repo, 'main'))).at(-1)?.id ?? ''
  t.equal(await codeOf(remote.cherryPick(repo, B('main'), root)), 'LK_USAGE', 'the first commit has no parent to pick against')
})

t.test('hard reset moves the branch and keeps its staging; merge base', async t => {
  const { remote } = await setup(t)
  const c1 = await commitPuts(remote, 'main', { a: '1' }, 'c1')
  const c2 = await commitPuts(remote, 'main', { b: '2' }, 'c2')
  await remote.putObject(repo, B('main'), P('staged'), buf('s'))
  t.same(await remote.hardReset(repo, B('main'), 'main~1'), { name: 'main', commitId: c1 })
  t.equal(await read(remote, 'main', 'b'), undefined)
  t.equal(await read(remote, 'main', 'staged'), 's', 'uncommitted changes stay staged, as in lakeFS')
  t.equal(await read(remote, c2, 'b'), '2', 'the dropped commit stays readable by id')
  t.equal(await codeOf(remote.hardReset(repo, B('main'), 'nope')), 'LK_REF_NOT_FOUND')
  await remote.createBranch(repo, B('dev'), c1)
  const d = await commitPuts(remote, 'dev', { d: 'd' }, 'dev')
  t.same(await remote.findMergeBase(repo, 'dev', 'main'), { base: c1, source: d, dest: c1 })
})

t.test('log: objects, prefixes, since, first parent, stop at', async t => {
  const { remote } = await setup(t)
  const c1 = await commitPuts(remote, 'main', { 'train/a': '1', labels: 'l1' }, 'c1')
  const c2 = await commitPuts(remote, 'main', { 'train/b': '2' }, 'c2')
  await remote.createBranch(repo, B('dev'), 'main')
  const d1 = await commitPuts(remote, 'dev', { labels: 'l2' }, 'd1')
  const c3 = await commitPuts(remote, 'main', { other: 'o' }, 'c3')
  const m = (await remote.merge(repo, 'dev', B('main'))).commitId
  const ids = async (opts: Parameters<LocalRemote['log']>[2]): Promise<string[]> => (await collect(remote.log(repo, 'main', opts))).map(c => c.id)
  t.same(await ids({ objects: ['labels'] }), [d1, c1], 'merge commits never match, as in lakeFS')
  t.same(await ids({ prefixes: ['train/'] }), [c2, c1])
  t.same(await ids({ objects: ['other'], prefixes: ['train/'] }), [c3, c2, c1])
  t.same(await ids({ objects: ['labels'], amount: 1 }), [d1])
  t.same(await ids({ firstParent: true }).then(l => l.slice(0, 3)), [m, c3, c2], 'the first parent only')
  t.notOk((await ids({ firstParent: true })).includes(d1))
  const c2date = (await remote.getCommit(repo, c2 as never)).creationDate
  t.same(await ids({ since: c2date }), [m, c3, d1, c2], 'commits older than since are left out')
  t.same(await ids({ stopAt: c3 }), [m, c3])
  t.equal(await codeOf(collect(remote.log(repo, 'main', { objects: [''.padEnd(1025, 'x')] }))), 'LK_BAD_PATH')
})

t.test('hidden branches, lakeFS names, keys with empty segments, MD5 checksums', async t => {
  const { remote } = await setup(t)
  await remote.createBranch(repo, B('tx-1f2e'), 'main', { hidden: true })
  t.same((await remote.listBranches(repo)).map(b => b.name), ['main'], 'hidden branches are not listed')
  t.same((await remote.listBranches(repo, { showHidden: true })).map(b => b.name), ['main', 'tx-1f2e'])
  t.equal(await remote.refKind(repo, 'tx-1f2e'), 'branch', 'but they are branches')
  t.equal(await codeOf(remote.createBranch(repo, B('exp-lr-0.1'), 'main')), 'LK_BAD_NAME')
  t.equal(await codeOf(remote.createTag(repo, T('v/1'), 'main')), 'LK_BAD_NAME')
  await remote.createTag(repo, T('v1.0'), 'main')
  for (const k of ['dir/', 'a//b', 'x/./y']) await remote.putObject(repo, B('main'), P(k), buf(k))
  t.equal((await remote.statObject(repo, 'main', P('dir/'))).size, 4, 'a directory marker is an object')
  t.equal(await codeOf(remote.statObject(repo, 'main', P('none/'))), 'LK_OBJECT_NOT_FOUND')
  const st = await remote.statObject(repo, 'main', P('a//b'))
  t.equal(st.checksum, createHash('sha256').update('a//b').digest('hex'), 'the content address stays sha256')
  t.equal(st.etag, createHash('md5').update('a//b').digest('hex'), 'what lakeFS reports: the MD5 hex')
  const c = await remote.commit(repo, B('main'), { message: 'odd keys' })
  t.equal((await remote.statObject(repo, c.id, P('a//b'))).etag, st.etag, 'kept in the committed index')
})
