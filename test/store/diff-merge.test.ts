// Diff between refs and three-way merge (conflicts, strategies, fast-forward) of the embedded
// store; and that a commit rewrites only the ranges its changes touch.

import t from 'tap'
import { B, P, R, T, buf, codeOf, collect, manualClock, tempStore } from '../support/store.js'
import type { LocalRemote } from '../../lib/remote/local.js'

const repo = R('repo1')

async function setup (t: { teardown (fn: () => unknown): void }): Promise<LocalRemote> {
  const clock = manualClock()
  const { remote } = await tempStore(t, { clock })
  const orig = clock.now
  // every call moves the clock a little so commit order is unambiguous
  ;(clock as { now: () => number }).now = () => { clock.advance(1000); return orig() }
  await remote.createRepo(repo)
  for (const p of ['a', 'b', 'c', 'd', 'dir/e', 'dir/f']) await remote.putObject(repo, B('main'), P(p), buf(`v0 ${p}`))
  await remote.commit(repo, B('main'), { message: 'base' })
  return remote
}

t.test('diff between refs: added, removed, changed; prefix; paging', async t => {
  const remote = await setup(t)
  const base = await remote.resolveRef(repo, 'main')
  await remote.putObject(repo, B('main'), P('a'), buf('v1 a'))
  await remote.putObject(repo, B('main'), P('dir/g'), buf('new'))
  await remote.deleteObjects(repo, B('main'), [P('c'), P('dir/e')])
  await remote.setObjectMetadata(repo, B('main'), P('d'), { tagged: 'yes' })
  const head = (await remote.commit(repo, B('main'), { message: 'changes' })).id
  const d = await remote.diff(repo, base, head)
  t.same(d.entries.map(e => [e.path, e.type]), [['a', 'changed'], ['c', 'removed'], ['d', 'changed'], ['dir/e', 'removed'], ['dir/g', 'added']])
  t.equal(d.entries.find(e => e.path === 'dir/g')?.size, 3)
  t.same((await remote.diff(repo, head, base)).entries.map(e => [e.path, e.type]), [['a', 'changed'], ['c', 'added'], ['d', 'changed'], ['dir/e', 'added'], ['dir/g', 'removed']])
  t.same((await remote.diff(repo, base, 'main', { prefix: 'dir/' })).entries.map(e => e.path), ['dir/e', 'dir/g'])
  const p1 = await remote.diff(repo, base, head, { amount: 2 })
  t.same(p1.entries.map(e => e.path), ['a', 'c'])
  t.equal(p1.hasMore, true)
  const p2 = await remote.diff(repo, base, head, { amount: 2, after: p1.nextAfter })
  t.same(p2.entries.map(e => e.path), ['d', 'dir/e'])
  const p3 = await remote.diff(repo, base, head, { amount: 2, after: p2.nextAfter })
  t.same(p3.entries.map(e => e.path), ['dir/g'])
  t.equal(p3.hasMore, false)
  t.same((await remote.diff(repo, head, head)).entries, [])
  t.equal(await codeOf(remote.diff(repo, base, 'nope')), 'LK_REF_NOT_FOUND')
})

t.test('merge: always a merge commit (as lakeFS), three-way, conflicts and strategies', async t => {
  const remote = await setup(t)
  const base = await remote.resolveRef(repo, 'main')
  await remote.createBranch(repo, B('feat'), 'main')
  await remote.putObject(repo, B('feat'), P('f1'), buf('feature'))
  const f1 = (await remote.commit(repo, B('feat'), { message: 'feat 1' })).id
  // main has not moved: lakeFS still writes a merge commit [main, feat] with the source's tree
  const ff = await remote.merge(repo, 'feat', B('main'))
  t.not(ff.commitId, f1)
  const ffc = await remote.getCommit(repo, ff.commitId)
  t.same(ffc.parents, [base, f1])
  t.same(ffc.metadata, { '.lakefs.merge.strategy': 'default' })
  t.equal(ffc.message, "Merge 'feat' into 'main'")
  t.equal(ffc.metaRangeId, (await remote.getCommit(repo, f1)).metaRangeId, 'the source tree, unchanged')
  // merging again: nothing new is refused with lakeFS's "no changes", nothing moves
  t.equal(await codeOf(remote.merge(repo, 'feat', B('main'))), 'LK_NOTHING_TO_COMMIT')
  t.equal(await remote.resolveRef(repo, 'main'), ff.commitId)

  // diverged, no overlap: a merge commit with two parents
  await remote.putObject(repo, B('feat'), P('a'), buf('feat a'))
  await remote.deleteObjects(repo, B('feat'), [P('b')])
  const f2 = (await remote.commit(repo, B('feat'), { message: 'feat 2' })).id
  await remote.putObject(repo, B('main'), P('c'), buf('main c'))
  await remote.putObject(repo, B('main'), P('same'), buf('same on both'))
  const m1 = (await remote.commit(repo, B('main'), { message: 'main 1' })).id
  await remote.putObject(repo, B('feat'), P('same'), buf('same on both'))
  await remote.commit(repo, B('feat'), { message: 'feat same' })
  const r = await remote.merge(repo, 'feat', B('main'), { message: 'merge feat', metadata: { why: 'test' } })
  const mc = await remote.getCommit(repo, r.commitId)
  t.same(mc.parents, [m1, await remote.resolveRef(repo, 'feat')], 'dest head first, then source')
  t.same(mc.metadata, { why: 'test', '.lakefs.merge.strategy': 'default' })
  const read = async (ref: string, p: string): Promise<string> => (await remote.readRange(repo, await remote.statObject(repo, ref, P(p)), 0, 100)).toString()
  t.equal(await read('main', 'a'), 'feat a')
  t.equal(await read('main', 'c'), 'main c')
  t.equal(await codeOf(remote.statObject(repo, 'main', P('b'))), 'LK_OBJECT_NOT_FOUND')
  t.equal(await read('main', 'f1'), 'feature')
  t.equal(await read('main', 'same'), 'same on both', 'identical change on both sides is no conflict')
  // the log walks the merge's both parents, newest first
  const msgs = (await collect(remote.log(repo, 'main'))).map(c => c.message)
  t.same(msgs, ['merge feat', 'feat same', 'main 1', 'feat 2', "Merge 'feat' into 'main'", 'feat 1', 'base', 'Repository created'])
  t.ok(f2)

  // conflicts: both sides change the same paths differently (change/change, change/delete)
  await remote.createBranch(repo, B('x'), 'main')
  await remote.putObject(repo, B('x'), P('c'), buf('x c'))
  await remote.putObject(repo, B('x'), P('d'), buf('x d'))
  await remote.putObject(repo, B('x'), P('dir/e'), buf('x e'))
  await remote.putObject(repo, B('x'), P('x-only'), buf('x only'))
  await remote.commit(repo, B('x'), { message: 'x' })
  await remote.putObject(repo, B('main'), P('c'), buf('main c2'))
  await remote.deleteObjects(repo, B('main'), [P('d')])
  await remote.putObject(repo, B('main'), P('main-only'), buf('main only'))
  const mainHead = (await remote.commit(repo, B('main'), { message: 'main 2' })).id
  const err = await remote.merge(repo, 'x', B('main')).then(() => undefined, (e: unknown) => e as { code: string, details: { conflicts: string[] } })
  t.equal(err?.code, 'LK_MERGE_CONFLICT')
  t.same(err?.details.conflicts, ['c', 'd'])
  t.equal(await remote.resolveRef(repo, 'main'), mainHead, 'a failed merge moves nothing')

  await remote.createBranch(repo, B('main-copy'), 'main')
  const sw = await remote.merge(repo, 'x', B('main'), { strategy: 'source-wins' })
  t.equal(await read(sw.commitId, 'c'), 'x c')
  t.equal(await read(sw.commitId, 'd'), 'x d')
  t.equal(await read(sw.commitId, 'dir/e'), 'x e')
  t.equal(await read(sw.commitId, 'x-only'), 'x only')
  t.equal(await read(sw.commitId, 'main-only'), 'main only')
  const dw = await remote.merge(repo, 'x', B('main-copy'), { strategy: 'dest-wins' })
  t.equal(await read(dw.commitId, 'c'), 'main c2')
  t.equal(await codeOf(remote.statObject(repo, dw.commitId, P('d'))), 'LK_OBJECT_NOT_FOUND')
  t.equal(await read(dw.commitId, 'dir/e'), 'x e', 'non-conflicting source changes still merge')
  t.equal(await read(dw.commitId, 'x-only'), 'x only')

  // into a tag or a commit: refused, nothing changes
  await remote.createTag(repo, T('v1'), base)
  t.equal(await codeOf(remote.merge(repo, 'x', B('v1'))), 'LK_NOT_A_BRANCH')
  t.equal(await codeOf(remote.merge(repo, 'x', B(base))), 'LK_NOT_A_BRANCH')
  t.equal(await codeOf(remote.merge(repo, 'x', B('main~1'))), 'LK_NOT_A_BRANCH')
  t.equal(await codeOf(remote.merge(repo, 'nope', B('main'))), 'LK_REF_NOT_FOUND')
  t.equal(await remote.resolveRef(repo, 'v1'), base)
  // merging a tag or commit into a branch works
  await remote.createBranch(repo, B('old'), base)
  const fromTag = await remote.merge(repo, 'v1', B('old'), { allowEmpty: true })
  t.same((await remote.getCommit(repo, fromTag.commitId)).parents, [base, base], 'allowEmpty: a merge commit even with nothing new')
  const fromMain = await remote.merge(repo, 'main', B('old'))
  t.same((await remote.getCommit(repo, fromMain.commitId)).parents, [fromTag.commitId, await remote.resolveRef(repo, 'main')])
})

t.test('a commit rewrites only the ranges its changes touch; diff skips shared ranges', async t => {
  const { remote } = await tempStore(t, { fsync: false })
  await remote.createRepo(repo)
  const blob = await remote.putObject(repo, B('main'), P('seed'), buf('x'))
  await remote.resetBranch(repo, B('main'), { type: 'all' })
  function * entries (): Generator<{ path: string, checksum: string, size: number }> {
    for (let i = 0; i < 50_000; i++) yield { path: `f/${String(i).padStart(6, '0')}`, checksum: blob.checksum, size: 1 }
  }
  const bulk = await remote.commitSortedEntries(repo, B('main'), entries(), { message: 'bulk' })
  t.equal(bulk.stats.count, 50_000)
  const ranges = bulk.stats.rangesWritten
  t.ok(ranges >= 10 && ranges <= 15, `50k entries in ${ranges} ranges`)
  await remote.putObject(repo, B('main'), P('f/025000'), buf('changed'))
  await remote.deleteObjects(repo, B('main'), [P('f/000010')])
  const small = await remote.commitSortedEntries(repo, B('main'), [{ path: 'f/049999x', checksum: blob.checksum, size: 1 }], { message: 'one more' })
  t.ok(small.stats.rangesWritten <= 2 && small.stats.rangesReused >= ranges - 2, `append: ${JSON.stringify(small.stats)}`)
  const c = await remote.commit(repo, B('main'), { message: 'two changes' })
  // insertions in the middle rewrite the touched range only, not every range after it
  const ins = await remote.commitSortedEntries(repo, B('main'), [10, 11, 12].map(i => ({ path: `f/010000-${i}`, checksum: blob.checksum, size: 1 })), { message: 'insert' })
  t.ok(ins.stats.rangesWritten <= 2, `insert: ${JSON.stringify(ins.stats)}`)
  const ins2 = await remote.commitSortedEntries(repo, B('main'), [{ path: 'f/030000-1', checksum: blob.checksum, size: 1 }], { message: 'insert 2' })
  t.ok(ins2.stats.rangesWritten <= 2, `insert: ${JSON.stringify(ins2.stats)}`)
  t.equal((await remote.listObjects(repo, B('main'), { prefix: 'f/010000' })).entries.length, 4)
  await remote.resetBranch(repo, B('main'), { type: 'all' })
  const undo = await remote.commitChanges(repo, B('main'), ['f/010000-10', 'f/010000-11', 'f/010000-12', 'f/030000-1'].map(p => ({ op: 'delete' as const, path: P(p) })), { base: ins2.id, message: 'undo' })
  t.equal(await remote.resolveRef(repo, 'main'), undo.id)
  const d = await remote.diff(repo, bulk.id, undo.id)
  t.same(d.entries.map(e => [e.path, e.type]), [['f/000010', 'removed'], ['f/025000', 'changed'], ['f/049999x', 'added']])
  t.equal((await remote.verify(repo)).entries > 0, true)
  // unsorted bulk input is refused and moves nothing
  t.equal(await codeOf(remote.commitSortedEntries(repo, B('main'), [{ path: 'b', checksum: blob.checksum, size: 1 }, { path: 'a', checksum: blob.checksum, size: 1 }], { message: 'x' })), 'LK_USAGE')
  t.equal(await codeOf(remote.commitSortedEntries(repo, B('main'), [{ path: 'b', checksum: 'e'.repeat(64), size: 1 }], { message: 'x' })), 'LK_OBJECT_NOT_FOUND')
  t.equal(await remote.resolveRef(repo, 'main'), undo.id)
  t.ok(c)
})
