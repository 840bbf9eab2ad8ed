// Repositories, refs, objects, staging, commits and bad input of the embedded store, through
// LocalRemote, on real files.

import t from 'tap'
import { readdir, writeFile, readFile } from 'node:fs/promises'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { createHash } from 'node:crypto'
import { B, C, P, R, T, buf, codeOf, collect, manualClock, tempStore } from '../support/store.js'
import type { ListPage } from '../../lib/remote/types.js'

const repo = R('repo1')
const names = (p: ListPage): string[] => p.entries.map(e => (e.type === 'prefix' ? e.path : e.stat.path))

/** every file under a directory with its content, to assert "nothing changed" */
async function snapshot (dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else out.set(path.relative(dir, p), (await readFile(p)).toString('base64'))
    }
  }
  await walk(dir)
  return out
}

t.test('repositories', async t => {
  const { remote } = await tempStore(t)
  const info = await remote.createRepo(repo, { defaultBranch: B('trunk') })
  t.equal(info.defaultBranch, 'trunk')
  t.equal(await codeOf(remote.createRepo(repo)), 'LK_REPO_EXISTS')
  t.equal(await codeOf(remote.getRepo(R('nope-repo'))), 'LK_REPO_NOT_FOUND')
  t.equal(await codeOf(remote.createRepo(R('Bad_Name'))), 'LK_BAD_NAME')
  await remote.createRepo(R('repo0'))
  t.same((await remote.listRepos()).map(r => r.name), ['repo0', 'repo1'])
  // the initial empty commit
  const log = await collect(remote.log(repo, 'trunk'))
  t.equal(log.length, 1)
  t.same(log[0]?.parents, [])
  t.same(names(await remote.listObjects(repo, 'trunk')), [])
  await remote.deleteRepo(R('repo0'))
  t.equal(await codeOf(remote.getRepo(R('repo0'))), 'LK_REPO_NOT_FOUND')
  t.same((await remote.listRepos()).map(r => r.name), ['repo1'])
  // created again after deletion: a fresh repository
  await remote.createRepo(R('repo0'))
  t.same(names(await remote.listObjects(R('repo0'), 'main')), [])
})

t.test('objects, staging and commits', async t => {
  const clock = manualClock()
  const { dir, remote } = await tempStore(t, { clock })
  await remote.createRepo(repo)
  const st = await remote.putObject(repo, B('main'), P('data/a.txt'), buf('alpha'), { contentType: 'text/plain', metadata: { k: 'v' }, mtime: 1234 })
  t.equal(st.checksum, createHash('sha256').update('alpha').digest('hex'))
  t.same({ size: st.size, mtime: st.mtime, contentType: st.contentType, metadata: st.metadata }, { size: 5, mtime: 1234, contentType: 'text/plain', metadata: { k: 'v' } })
  // the same bytes on another path (and another branch later) are stored once
  await remote.putObject(repo, B('main'), P('data/copy.txt'), buf('alpha'))
  const tmpFile = path.join(dir, 'upload.bin')
  await writeFile(tmpFile, 'from a file')
  const fileSha = createHash('sha256').update('from a file').digest('hex')
  await remote.putObject(repo, B('main'), P('data/file.bin'), { kind: 'file', file: tmpFile, size: 11, sha256: fileSha })
  await remote.putObject(repo, B('main'), P('data/stream.bin'), { kind: 'stream', stream: Readable.from([Buffer.from('str'), Buffer.from('eam')]) })
  t.equal((await remote.statObject(repo, 'main', P('data/stream.bin'))).size, 6)
  t.equal(await codeOf(remote.putObject(repo, B('main'), P('data/bad.bin'), { kind: 'file', file: tmpFile, size: 11, sha256: 'f'.repeat(64) })), 'LK_USAGE')
  const blobs = (await readdir(path.join(dir, 'blobs'), { recursive: true })).filter(n => /[0-9a-f]{64}$/.test(n))
  t.equal(blobs.length, 3, 'alpha stored once')

  // staged writes are visible by branch, not by the head commit
  const head0 = await remote.resolveRef(repo, 'main')
  t.equal(await codeOf(remote.statObject(repo, head0, P('data/a.txt'))), 'LK_OBJECT_NOT_FOUND')
  const diffStaged = await remote.diffStaged(repo, B('main'))
  t.same(diffStaged.entries.map(e => [e.path, e.type]), [['data/a.txt', 'added'], ['data/copy.txt', 'added'], ['data/file.bin', 'added'], ['data/stream.bin', 'added']])

  clock.advance(1000)
  const c1 = await remote.commit(repo, B('main'), { message: 'add data', metadata: { run: '42' }, committer: 'tester' })
  t.same(c1.parents, [head0])
  t.equal(c1.committer, 'tester')
  t.same(c1.metadata, { run: '42' })
  t.same(await remote.getCommit(repo, c1.id), c1)
  t.equal((await remote.diffStaged(repo, B('main'))).entries.length, 0, 'staging emptied')
  t.equal(await codeOf(remote.commit(repo, B('main'), { message: 'nothing' })), 'LK_NOTHING_TO_COMMIT')
  const empty = await remote.commit(repo, B('main'), { message: 'empty', allowEmpty: true })
  t.equal(empty.metaRangeId, c1.metaRangeId)
  const rs = await remote.statObject(repo, c1.id, P('data/a.txt'))
  t.equal((await remote.readRange(repo, rs, 0, 100)).toString(), 'alpha')
  t.equal((await remote.readRange(repo, rs, 2, 4)).toString(), 'ph')
  t.equal((await remote.readRange(repo, rs, 5, 9)).length, 0)

  // deletes (tombstones) and overwrites shadow the head
  await remote.deleteObjects(repo, B('main'), [P('data/copy.txt'), P('never/was.txt')])
  await remote.putObject(repo, B('main'), P('data/a.txt'), buf('alpha2'))
  t.equal(await codeOf(remote.statObject(repo, 'main', P('data/copy.txt'))), 'LK_OBJECT_NOT_FOUND')
  t.same(names(await remote.listObjects(repo, 'main', { prefix: 'data/' })), ['data/a.txt', 'data/file.bin', 'data/stream.bin'])
  t.same(names(await remote.listObjects(repo, c1.id, { prefix: 'data/' })), ['data/a.txt', 'data/copy.txt', 'data/file.bin', 'data/stream.bin'])
  t.same((await remote.diffStaged(repo, B('main'))).entries.map(e => [e.path, e.type]), [['data/a.txt', 'changed'], ['data/copy.txt', 'removed']])
  await remote.setObjectMetadata(repo, B('main'), P('data/file.bin'), { owner: 'me' })
  t.same((await remote.statObject(repo, 'main', P('data/file.bin'))).metadata, { owner: 'me' })
  t.equal(await codeOf(remote.setObjectMetadata(repo, B('main'), P('data/none'), {})), 'LK_OBJECT_NOT_FOUND')
  const c2 = await remote.commit(repo, B('main'), { message: 'second' })
  t.same(names(await remote.listObjects(repo, c2.id, { prefix: 'data/' })), ['data/a.txt', 'data/file.bin', 'data/stream.bin'])
  t.equal((await remote.readRange(repo, await remote.statObject(repo, 'main', P('data/a.txt')), 0, 10)).toString(), 'alpha2')

  // log newest first, amount
  t.same((await collect(remote.log(repo, 'main'))).map(c => c.message), ['second', 'empty', 'add data', 'Repository created'])
  t.same((await collect(remote.log(repo, 'main', { amount: 2 }))).map(c => c.message), ['second', 'empty'])
})

t.test('listing: delimiter, after, paging, staged overlay', async t => {
  const { remote } = await tempStore(t)
  await remote.createRepo(repo)
  const all = ['a/1', 'a/2', 'a/b/3', 'a/b/4', 'a/c/5', 'b', 'c/6', 'é/7', '😀/8', '\uffff/9']
  for (const p of all) await remote.putObject(repo, B('main'), P(p), buf(p))
  await remote.commit(repo, B('main'), { message: 'tree' })
  // byte order (UTF-8): U+FFFF before the astral emoji
  t.same(names(await remote.listObjects(repo, 'main')), ['a/1', 'a/2', 'a/b/3', 'a/b/4', 'a/c/5', 'b', 'c/6', 'é/7', '\uffff/9', '😀/8'])
  t.same(names(await remote.listObjects(repo, 'main', { delimiter: '/' })), ['a/', 'b', 'c/', 'é/', '\uffff/', '😀/'])
  t.same(names(await remote.listObjects(repo, 'main', { prefix: 'a/', delimiter: '/' })), ['a/1', 'a/2', 'a/b/', 'a/c/'])
  t.same(names(await remote.listObjects(repo, 'main', { prefix: 'a/b' })), ['a/b/3', 'a/b/4'])
  // paging with delimiter: prefixes are not repeated across pages
  const seen: string[] = []
  let after = ''
  for (let i = 0; i < 10; i++) {
    const page = await remote.listObjects(repo, 'main', { prefix: 'a/', delimiter: '/', after, amount: 1 })
    seen.push(...names(page))
    if (!page.hasMore) break
    after = page.nextAfter
  }
  t.same(seen, ['a/1', 'a/2', 'a/b/', 'a/c/'])
  const p2 = await remote.listObjects(repo, 'main', { amount: 3 })
  t.same(names(p2), ['a/1', 'a/2', 'a/b/3'])
  t.equal(p2.hasMore, true)
  const p3 = await remote.listObjects(repo, 'main', { after: p2.nextAfter, amount: 1000 })
  t.equal(p3.hasMore, false)
  t.same(names(p3), ['a/b/4', 'a/c/5', 'b', 'c/6', 'é/7', '\uffff/9', '😀/8'])
  const exact = await remote.listObjects(repo, 'main', { amount: 10 })
  t.equal(exact.hasMore, false, 'exactly one page')
  // staged puts and tombstones merge into listings by branch
  await remote.deleteObjects(repo, B('main'), [P('a/b/3'), P('a/b/4')])
  await remote.putObject(repo, B('main'), P('a/0'), buf('new'))
  await remote.putObject(repo, B('main'), P('a/b5'), buf('new'))
  t.same(names(await remote.listObjects(repo, 'main', { prefix: 'a/', delimiter: '/' })), ['a/0', 'a/1', 'a/2', 'a/b5', 'a/c/'])
  t.same(names(await remote.listObjects(repo, 'main', { prefix: 'a/', amount: 2, after: 'a/1' })), ['a/2', 'a/b5'])
  t.equal(await codeOf(remote.listObjects(repo, 'main', { prefix: 'a\0' })), 'LK_BAD_PATH')
})

t.test('branches, tags and ref expressions', async t => {
  const clock = manualClock()
  const { remote } = await tempStore(t, { clock })
  await remote.createRepo(repo)
  const ids: string[] = [await remote.resolveRef(repo, 'main')]
  for (let i = 1; i <= 4; i++) {
    clock.advance(1000)
    await remote.putObject(repo, B('main'), P(`f${i}`), buf(String(i)))
    ids.push((await remote.commit(repo, B('main'), { message: `c${i}` })).id)
  }
  t.equal(await remote.resolveRef(repo, 'main~'), ids[3])
  t.equal(await remote.resolveRef(repo, 'main~1'), ids[3])
  t.equal(await remote.resolveRef(repo, 'main^'), ids[3])
  t.equal(await remote.resolveRef(repo, 'main~2^'), ids[1])
  t.equal(await remote.resolveRef(repo, 'main~0'), ids[4])
  t.equal(await remote.resolveRef(repo, 'main~4'), ids[0])
  t.equal(await codeOf(remote.resolveRef(repo, 'main~5')), 'LK_REF_NOT_FOUND')
  t.equal(await remote.resolveRef(repo, ids[2]!.slice(0, 8)), ids[2])
  t.equal(await remote.resolveRef(repo, `${ids[2]!.slice(0, 10)}~1`), ids[1])
  t.equal(await codeOf(remote.resolveRef(repo, 'nosuchref')), 'LK_REF_NOT_FOUND')
  t.equal(await codeOf(remote.resolveRef(repo, 'abcdef0')), 'LK_REF_NOT_FOUND')

  // branches are O(1) and independent; staging is per branch
  const fb = await remote.createBranch(repo, B('feature-x'), 'main~1')
  t.equal(fb.commitId, ids[3])
  t.equal(await codeOf(remote.createBranch(repo, B('feature-x'), 'main')), 'LK_BRANCH_EXISTS')
  t.equal(await codeOf(remote.createBranch(repo, B('other'), 'nope')), 'LK_REF_NOT_FOUND')
  await remote.putObject(repo, B('feature-x'), P('only-feature'), buf('x'))
  t.equal(await codeOf(remote.statObject(repo, 'main', P('only-feature'))), 'LK_OBJECT_NOT_FOUND')
  t.same((await remote.listBranches(repo)).map(b => [b.name, b.commitId]), [['feature-x', ids[3]], ['main', ids[4]]])
  t.equal(await remote.refKind(repo, 'feature-x'), 'branch')
  t.equal(await remote.refKind(repo, 'feature-x~1'), 'commit')

  // tags are immutable names; writes to them are refused
  await remote.createTag(repo, T('v1'), 'main~2')
  t.equal(await remote.resolveRef(repo, 'v1'), ids[2])
  t.equal(await remote.resolveRef(repo, 'v1^'), ids[1])
  t.equal(await codeOf(remote.createTag(repo, T('v1'), 'main')), 'LK_TAG_EXISTS')
  t.equal(await remote.refKind(repo, 'v1'), 'tag')
  t.equal(await remote.refKind(repo, ids[4]!), 'commit')
  t.same((await remote.listTags(repo)).map(x => x.name), ['v1'])
  t.equal(await codeOf(remote.putObject(repo, B('v1'), P('x'), buf('x'))), 'LK_NOT_A_BRANCH')
  t.equal(await codeOf(remote.commit(repo, B(ids[4]!), { message: 'x', allowEmpty: true })), 'LK_NOT_A_BRANCH')
  t.equal(await codeOf(remote.putObject(repo, B('main~1'), P('x'), buf('x'))), 'LK_NOT_A_BRANCH')
  t.equal(await codeOf(remote.putObject(repo, B('ghost'), P('x'), buf('x'))), 'LK_REF_NOT_FOUND')
  await remote.deleteTag(repo, T('v1'))
  t.equal(await codeOf(remote.resolveRef(repo, 'v1')), 'LK_REF_NOT_FOUND')
  t.equal(await codeOf(remote.deleteTag(repo, T('v1'))), 'LK_REF_NOT_FOUND')

  // deleting branches
  t.equal(await codeOf(remote.deleteBranch(repo, B('main'))), 'LK_DEFAULT_BRANCH')
  await remote.deleteBranch(repo, B('feature-x'))
  t.equal(await codeOf(remote.resolveRef(repo, 'feature-x')), 'LK_REF_NOT_FOUND')
  t.equal(await codeOf(remote.deleteBranch(repo, B('feature-x'))), 'LK_REF_NOT_FOUND')
  // a re-created branch starts with an empty staging area
  await remote.createBranch(repo, B('feature-x'), 'main')
  t.equal(await codeOf(remote.statObject(repo, 'feature-x', P('only-feature'))), 'LK_OBJECT_NOT_FOUND')

  // commit ids are hashes of the canonical encoding: same inputs, same id
  const c = await remote.getCommit(repo, C(ids[1]!))
  t.equal(c.message, 'c1')
  t.equal(await codeOf(remote.getCommit(repo, C('0'.repeat(64)))), 'LK_REF_NOT_FOUND')
})

t.test('reset: all, one object, a prefix', async t => {
  const { remote } = await tempStore(t)
  await remote.createRepo(repo)
  await remote.putObject(repo, B('main'), P('keep/a'), buf('committed'))
  await remote.commit(repo, B('main'), { message: 'base' })
  const stage = async (): Promise<void> => {
    await remote.putObject(repo, B('main'), P('keep/a'), buf('staged'))
    await remote.putObject(repo, B('main'), P('dir/x'), buf('x'))
    await remote.putObject(repo, B('main'), P('dir/y'), buf('y'))
    await remote.putObject(repo, B('main'), P('top'), buf('t'))
  }
  const staged = async (): Promise<string[]> => (await remote.diffStaged(repo, B('main'))).entries.map(e => e.path)
  await stage()
  await remote.resetBranch(repo, B('main'), { type: 'object', path: P('keep/a') })
  t.same(await staged(), ['dir/x', 'dir/y', 'top'])
  t.equal((await remote.readRange(repo, await remote.statObject(repo, 'main', P('keep/a')), 0, 100)).toString(), 'committed')
  await remote.resetBranch(repo, B('main'), { type: 'prefix', path: P('dir/') })
  t.same(await staged(), ['top'])
  // a put after a prefix reset is staged again
  await remote.putObject(repo, B('main'), P('dir/z'), buf('z'))
  t.same(await staged(), ['dir/z', 'top'])
  await remote.resetBranch(repo, B('main'), { type: 'all' })
  t.same(await staged(), [])
  await stage()
  await remote.resetBranch(repo, B('main'), { type: 'prefix', path: P('') })
  t.same(await staged(), [])
  t.equal(await codeOf(remote.commit(repo, B('main'), { message: 'x' })), 'LK_NOTHING_TO_COMMIT')
})

t.test('commitChanges: atomic, conflict-checked against base, staging untouched', async t => {
  const { dir, remote } = await tempStore(t)
  await remote.createRepo(repo)
  const base = await remote.resolveRef(repo, 'main')
  await remote.putObject(repo, B('main'), P('staged-only'), buf('s'))
  const c1 = await remote.commitChanges(repo, B('main'), [
    { op: 'put', path: P('out/a'), content: buf('A'), metadata: { m: '1' }, contentType: 'text/plain', mtime: 77 },
    { op: 'put', path: P('out/b'), content: buf('B') },
  ], { base, message: 'run 1', metadata: { 'lk-mount.base': base } })
  t.same(c1.parents, [base])
  t.same(names(await remote.listObjects(repo, c1.id)), ['out/a', 'out/b'])
  t.same((await remote.statObject(repo, c1.id, P('out/a'))).metadata, { m: '1' })
  t.same((await remote.diffStaged(repo, B('main'))).entries.map(e => e.path), ['staged-only'], 'staging kept')
  // another writer, based on the old base, touching other paths: committed on top of the head
  const c2 = await remote.commitChanges(repo, B('main'), [{ op: 'put', path: P('out/c'), content: buf('C') }], { base, message: 'run 2' })
  t.same(c2.parents, [c1.id])
  t.same(names(await remote.listObjects(repo, 'main~0')), ['out/a', 'out/b', 'out/c'])
  // same paths changed since base: conflict, nothing changes
  const before = await snapshot(path.join(dir, 'repos'))
  const err = await remote.commitChanges(repo, B('main'), [
    { op: 'put', path: P('out/a'), content: buf('A2') },
    { op: 'delete', path: P('out/c') },
    { op: 'put', path: P('out/new'), content: buf('n') },
  ], { base, message: 'run 3' }).then(() => ({ code: 'ok', details: { conflicts: [] } }), (e: unknown) => e as { code: string, details: { conflicts: string[] } })
  t.equal(err.code, 'LK_CONFLICT')
  t.same(err.details.conflicts, ['out/a', 'out/c'])
  t.equal(await remote.resolveRef(repo, 'main'), c2.id)
  const after = await snapshot(path.join(dir, 'repos'))
  t.same([...after.keys()].filter(k => !before.has(k) && !k.includes('/index/') && !k.includes('/commits/')), [], 'no ref or staging changed')
  // deletes; based on the current head there is no conflict
  const c3 = await remote.commitChanges(repo, B('main'), [{ op: 'delete', path: P('out/a') }], { base: c2.id, message: 'rm' })
  t.same(names(await remote.listObjects(repo, c3.id)), ['out/b', 'out/c'])
  // bad input changes nothing
  t.equal(await codeOf(remote.commitChanges(repo, B('main'), [{ op: 'put', path: P(''), content: buf('x') }], { base: c3.id, message: 'bad' })), 'LK_BAD_PATH')
  t.equal(await codeOf(remote.commitChanges(repo, B('main'), [{ op: 'put', path: P('a\0b'), content: buf('x') }], { base: c3.id, message: 'bad' })), 'LK_BAD_PATH')
  t.equal(await codeOf(remote.commitChanges(repo, B('main'), [], { base: C('f'.repeat(64)), message: 'bad' })), 'LK_REF_NOT_FOUND')
  t.equal(await codeOf(remote.commitChanges(repo, B('v0'), [], { base: c3.id, message: 'bad' })), 'LK_REF_NOT_FOUND')
  t.equal(await codeOf(remote.commitChanges(repo, B('main'), [{ op: 'put', path: P('ok'), content: buf('x'), metadata: { '': 'v' } }], { base: c3.id, message: 'bad' })), 'LK_BAD_METADATA')
  t.equal(await remote.resolveRef(repo, 'main'), c3.id)
})

t.test('bad input changes nothing', async t => {
  const { dir, remote } = await tempStore(t)
  await remote.createRepo(repo)
  await remote.putObject(repo, B('main'), P('a'), buf('a'))
  await remote.commit(repo, B('main'), { message: 'a' })
  await remote.createTag(repo, T('v1'), 'main')
  const before = await snapshot(dir)
  const attempts: Array<[string, () => Promise<unknown>]> = [
    ['LK_REPO_NOT_FOUND', async () => await remote.putObject(R('nope-repo'), B('main'), P('x'), buf('x'))],
    ['LK_REPO_NOT_FOUND', async () => await remote.listObjects(R('nope-repo'), 'main')],
    ['LK_REF_NOT_FOUND', async () => await remote.listObjects(repo, 'nope')],
    // keys follow lakeFS (any non-empty key of at most 1024 bytes): only those are refused
    ['LK_BAD_PATH', async () => await remote.putObject(repo, B('main'), P(''), buf('x'))],
    ['LK_BAD_PATH', async () => await remote.putObject(repo, B('main'), P('x'.repeat(1025)), buf('x'))],
    ['LK_BAD_PATH', async () => await remote.putObject(repo, B('main'), P('nul\0byte'), buf('x'))],
    ['LK_BAD_PATH', async () => await remote.deleteObjects(repo, B('main'), [P('a'), P('')])],
    ['LK_BAD_NAME', async () => await remote.createBranch(repo, B('bad..name'), 'main')],
    ['LK_BAD_NAME', async () => await remote.createBranch(repo, B('exp-lr-0.1'), 'main')],
    ['LK_BAD_NAME', async () => await remote.createBranch(repo, B('feature/x'), 'main')],
    ['LK_BAD_NAME', async () => await remote.createTag(repo, T('v/1'), 'main')],
    ['LK_BAD_NAME', async () => await remote.resolveRef(repo, 'a b')],
    ['LK_BRANCH_EXISTS', async () => await remote.createBranch(repo, B('main'), 'main')],
    ['LK_TAG_EXISTS', async () => await remote.createTag(repo, T('v1'), 'main')],
    ['LK_NOT_A_BRANCH', async () => await remote.merge(repo, 'main', B('v1'))],
    ['LK_NOT_A_BRANCH', async () => await remote.resetBranch(repo, B('v1'), { type: 'all' })],
    ['LK_NOT_A_BRANCH', async () => await remote.deleteObjects(repo, B('v1'), [P('a')])],
    ['LK_BAD_METADATA', async () => await remote.putObject(repo, B('main'), P('m'), buf('x'), { metadata: { k: 1 as unknown as string } })],
    ['LK_BAD_METADATA', async () => await remote.commit(repo, B('main'), { message: 'x', allowEmpty: true, metadata: { '': 'x' } })],
    ['LK_DEFAULT_BRANCH', async () => await remote.deleteBranch(repo, B('main'))],
    ['LK_NOTHING_TO_COMMIT', async () => await remote.commit(repo, B('main'), { message: 'nothing' })],
    ['LK_REPO_EXISTS', async () => await remote.createRepo(repo)],
    ['LK_USAGE', async () => await remote.merge(repo, 'v1', B('main'), { strategy: 'bogus' as 'fail' })],
  ]
  for (const [want, f] of attempts) t.equal(await codeOf(f()), want, want)
  const after = await snapshot(dir)
  t.same([...after.keys()].sort(), [...before.keys()].sort(), 'no file added or removed')
  for (const [k, v] of before) if (after.get(k) !== v) t.fail(`${k} changed`)
})

t.test('regression (model test): staged entries after the end of the committed index are listed', async t => {
  const { remote } = await tempStore(t)
  await remote.createRepo(repo)
  await remote.putObject(repo, B('main'), P('a'), buf('a'))
  t.same(names(await remote.listObjects(repo, 'main')), ['a'])
  await remote.commit(repo, B('main'), { message: 'a' })
  await remote.putObject(repo, B('main'), P('b'), buf('b'))
  t.same(names(await remote.listObjects(repo, 'main')), ['a', 'b'])
})

t.test('writes during a commit go to a fresh staging token and are never lost', async t => {
  const { remote } = await tempStore(t, { rangeTarget: 4 })
  await remote.createRepo(repo)
  for (let i = 0; i < 20; i++) await remote.putObject(repo, B('main'), P(`before/${i}`), buf(String(i)))
  const committing = remote.commit(repo, B('main'), { message: 'sealed' })
  const writes = Promise.all(Array.from({ length: 20 }, async (_, i) => await remote.putObject(repo, B('main'), P(`during/${i}`), buf(String(i)))))
  const [c] = await Promise.all([committing, writes])
  const inCommit = new Set(names(await remote.listObjects(repo, c.id)))
  for (let i = 0; i < 20; i++) t.ok(inCommit.has(`before/${i}`), `before/${i} committed`)
  const staged = new Set((await remote.diffStaged(repo, B('main'))).entries.map(e => e.path as string))
  for (let i = 0; i < 20; i++) t.ok(inCommit.has(`during/${i}`) || staged.has(`during/${i}`), `during/${i} committed or still staged`)
  t.equal(names(await remote.listObjects(repo, 'main')).length, 40, 'the branch shows everything')
  if (staged.size > 0) await remote.commit(repo, B('main'), { message: 'rest' })
  t.equal(names(await remote.listObjects(repo, await remote.resolveRef(repo, 'main'))).length, 40)
})

t.test('a staging commit waits for one in flight, then LK_LOCKED', async t => {
  const { dir, remote } = await tempStore(t, { commitWaitMs: 300 })
  await remote.createRepo(repo)
  await remote.putObject(repo, B('main'), P('x'), buf('x'))
  // forge a live commit in flight: this very process (alive) holds it
  const { RefDir, encodeRefName } = await import('../../lib/store/refs.js')
  const ref = new RefDir<Record<string, unknown>>(path.join(dir, 'repos', repo, 'refs', 'branches', encodeRefName('main')), { fsync: false })
  const cur = await ref.read()
  t.ok(await ref.cas(cur.seq, { ...cur.value, inflight: { pid: process.pid, host: (await import('node:os')).hostname(), at: Date.now(), nonce: 'forged' } }))
  const t0 = Date.now()
  t.equal(await codeOf(remote.commit(repo, B('main'), { message: 'x' })), 'LK_LOCKED')
  t.ok(Date.now() - t0 >= 250, 'it waited')
  // commitChanges does not wait for staging commits
  const base = await remote.resolveRef(repo, 'main')
  t.equal(await codeOf(remote.commitChanges(repo, B('main'), [{ op: 'put', path: P('y'), content: buf('y') }], { base, message: 'y' })), 'ok')
  // a dead owner is taken over at once
  const cur2 = await ref.read()
  t.ok(await ref.cas(cur2.seq, { ...cur2.value, inflight: { pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), at: Date.now(), nonce: 'dead' } }))
  const c = await remote.commit(repo, B('main'), { message: 'taken over' })
  t.same(names(await remote.listObjects(repo, c.id)), ['x', 'y'])
})

t.test('a damaged index file is reported as LK_STORE_CORRUPT', async t => {
  const { dir, remote } = await tempStore(t)
  await remote.createRepo(repo)
  await remote.putObject(repo, B('main'), P('x'), buf('x'))
  const c = await remote.commit(repo, B('main'), { message: 'x' })
  const rangeFiles = (await readdir(path.join(dir, 'repos', repo, 'index', 'ranges'), { recursive: true })).filter(n => /[0-9a-f]{64}$/.test(n))
  t.equal(rangeFiles.length, 1)
  const f = path.join(dir, 'repos', repo, 'index', 'ranges', rangeFiles[0]!)
  await writeFile(f, (await readFile(f, 'utf8')).replace('"x"', '"y"'))
  const fresh = await (await import('../../lib/remote/local.js')).LocalRemote.open({ dir })
  t.teardown(async () => { await fresh.close() })
  t.equal(await codeOf(fresh.listObjects(repo, c.id)), 'LK_STORE_CORRUPT')
  t.equal(await codeOf(fresh.verify(repo)), 'LK_STORE_CORRUPT')
})
