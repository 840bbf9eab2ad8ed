// Every Remote method through LakefsRemote → (spec-checking proxy) → lk-mount serve → embedded
// store, on 127.0.0.1 ports; every request the client sent and every response the server gave is
// validated against the lakeFS OpenAPI spec.

import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { LkError } from '../../lib/core/errors.js'
import { LakefsRemote } from '../../lib/remote/lakefs.js'
import { LocalRemote } from '../../lib/remote/local.js'
import type { ObjectStat } from '../../lib/remote/types.js'
import { startServer } from '../../lib/server/server.js'
import { startSpecProxy } from '../support/lakefs-spec.js'
import { B, P, R, T, C, buf, codeOf, collect } from '../support/store.js'

const AK = 'AKIAIOSFODNN7EXAMPLE'
const SK = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'

t.test('the lakeFS client against lk-mount serve, checked against the spec', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-lakefs-e2e-'))
  const store = await LocalRemote.open({ dir: join(dir, 'store') })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: AK, secretAccessKey: SK })
  const proxy = await startSpecProxy(server.url)
  const client = new LakefsRemote({ endpoint: proxy.endpoint, accessKeyId: AK, secretAccessKey: SK, timeoutMs: 10_000, retries: 1, backoffMs: 10 })
  t.teardown(async () => {
    await client.close()
    await proxy.close()
    await server.close()
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })
  const repo = R('images')

  t.notMatch(client.description, SK, 'description has no secret')

  // healthcheck without credentials, everything else with
  t.equal((await fetch(`${server.endpoint}/healthcheck`)).status, 204)
  t.equal((await fetch(`${server.endpoint}/repositories`)).status, 401)

  // repositories
  const created = await client.createRepo(repo, { defaultBranch: B('main') })
  t.equal(created.name, repo)
  t.equal(created.defaultBranch, 'main')
  t.match(created.storageNamespace, /^local:\/\//, 'storage namespace derived from the server default prefix')
  t.same((await client.getRepo(repo)).name, repo)
  t.same((await client.listRepos()).map(r => r.name), ['images'])
  t.equal(await codeOf(client.createRepo(repo)), 'LK_REPO_EXISTS')

  const main = await client.resolveRef(repo, 'main')
  t.match(main, /^[0-9a-f]{64}$/)
  t.equal(await client.refKind(repo, 'main'), 'branch')

  // objects: buffer, file and stream content; content type and user metadata
  const s1 = await client.putObject(repo, B('main'), P('train/a.txt'), buf('hello world'), { contentType: 'text/plain', metadata: { Label: 'Cat', 'x-y': '1' } })
  t.equal(s1.size, 11)
  t.equal(s1.contentType, 'text/plain')
  t.same(s1.metadata, { Label: 'Cat', 'x-y': '1' })
  const big = Buffer.alloc(3 * 1024 * 1024 + 17)
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251
  const bigFile = join(dir, 'big.bin')
  await writeFile(bigFile, big)
  const sha = createHash('sha256').update(big).digest('hex')
  const s2 = await client.putObject(repo, B('main'), P('train/big.bin'), { kind: 'file', file: bigFile, size: big.length, sha256: sha })
  t.equal(s2.size, big.length)
  await client.putObject(repo, B('main'), P('train/sub/c.txt'), { kind: 'stream', stream: Readable.from([Buffer.from('str'), Buffer.from('eam')]) })
  await client.putObject(repo, B('main'), P('val/d.txt'), buf('d'))
  // regression (found by the conformance suite): an empty body used to hang the upload
  const emptyFile = join(dir, 'empty')
  await writeFile(emptyFile, '')
  t.equal((await client.putObject(repo, B('main'), P('empty/buffer'), { kind: 'buffer', data: Buffer.alloc(0) })).size, 0)
  t.equal((await client.putObject(repo, B('main'), P('empty/file'), { kind: 'file', file: emptyFile, size: 0, sha256: createHash('sha256').digest('hex') })).size, 0)
  t.equal((await client.putObject(repo, B('main'), P('empty/stream'), { kind: 'stream', stream: Readable.from([Buffer.alloc(0)]) })).size, 0)
  await client.deleteObjects(repo, B('main'), [P('empty/buffer'), P('empty/file'), P('empty/stream')])

  // staged changes are visible by the branch
  const staged = await client.diffStaged(repo, B('main'))
  t.same(staged.entries.map(e => [e.path, e.type]), [['train/a.txt', 'added'], ['train/big.bin', 'added'], ['train/sub/c.txt', 'added'], ['val/d.txt', 'added']])

  const c1 = await client.commit(repo, B('main'), { message: 'first data', metadata: { run: '42' } })
  t.equal(c1.message, 'first data')
  t.equal(c1.metadata.run, '42')
  t.same(c1.parents, [main])
  t.equal(await codeOf(client.commit(repo, B('main'), { message: 'nothing' })), 'LK_NOTHING_TO_COMMIT')
  t.same((await client.getCommit(repo, c1.id)).id, c1.id)
  t.equal(await client.resolveRef(repo, 'main'), c1.id)
  t.equal(await client.refKind(repo, c1.id), 'commit')

  // stat and list by commit id
  const st = await client.statObject(repo, c1.id, P('train/a.txt'))
  t.equal(st.checksum, s1.checksum)
  t.same(st.metadata, { Label: 'Cat', 'x-y': '1' })
  t.equal(await codeOf(client.statObject(repo, c1.id, P('train/missing'))), 'LK_OBJECT_NOT_FOUND')

  const top = await client.listObjects(repo, c1.id, { delimiter: '/' })
  t.same(top.entries.map(e => e.type === 'prefix' ? e.path : e.stat.path), ['train/', 'val/'])
  const train = await client.listObjects(repo, c1.id, { prefix: 'train/', delimiter: '/' })
  t.same(train.entries.map(e => [e.type, e.type === 'prefix' ? e.path : e.stat.path]), [['object', 'train/a.txt'], ['object', 'train/big.bin'], ['prefix', 'train/sub/']])
  // paging with amount/after
  const seen: string[] = []
  let after = ''
  for (;;) {
    const p = await client.listObjects(repo, c1.id, { amount: 1, after })
    seen.push(...p.entries.map(e => e.type === 'object' ? e.stat.path : e.path))
    if (!p.hasMore) break
    after = p.nextAfter
  }
  t.same(seen, ['train/a.txt', 'train/big.bin', 'train/sub/c.txt', 'val/d.txt'])

  // ranged reads through the API (no presign on a local blob store)
  const bigStat = (await client.listObjects(repo, c1.id, { prefix: 'train/big' })).entries[0]
  t.equal(bigStat?.type, 'object')
  const bs = (bigStat as { stat: ObjectStat }).stat
  t.same(await client.readRange(repo, bs, 0, 10), big.subarray(0, 10))
  t.same(await client.readRange(repo, bs, 1_000_000, 2_500_000), big.subarray(1_000_000, 2_500_000))
  t.same(await client.readRange(repo, bs, big.length - 5, big.length + 100), big.subarray(big.length - 5), 'a range past the end returns what there is')
  t.equal((await client.readRange(repo, bs, big.length, big.length + 1)).length, 0)
  const whole = await client.readRange(repo, bs, 0, big.length)
  t.ok(whole.equals(big), 'whole object round-trips')
  const cStat = await client.statObject(repo, c1.id, P('train/sub/c.txt'))
  t.equal((await client.readRange(repo, cStat, 0, 100)).toString(), 'stream')

  // two paths with the same bytes share a physical address in the embedded store: each still
  // reads through its own ref and path (deleting one does not break reading the other)
  await client.putObject(repo, B('main'), P('dup/one'), buf('same bytes'))
  await client.putObject(repo, B('main'), P('dup/two'), buf('same bytes'))
  const one = await client.statObject(repo, 'main', P('dup/one'))
  const two = await client.statObject(repo, 'main', P('dup/two'))
  t.equal(one.physicalAddress, two.physicalAddress)
  await client.deleteObjects(repo, B('main'), [P('dup/two')])
  t.equal((await client.readRange(repo, one, 0, 100)).toString(), 'same bytes')
  await client.resetBranch(repo, B('main'), { type: 'prefix', path: P('dup/') })

  // metadata update (staged)
  await client.setObjectMetadata(repo, B('main'), P('val/d.txt'), { k: 'v' })
  t.same((await client.statObject(repo, 'main', P('val/d.txt'))).metadata, { k: 'v' })
  await client.resetBranch(repo, B('main'), { type: 'object', path: P('val/d.txt') })
  t.same((await client.statObject(repo, 'main', P('val/d.txt'))).metadata, {}, 'reset of one object drops its staged change')

  // branches and tags
  const feat = await client.createBranch(repo, B('feature-x'), 'main')
  t.equal(feat.commitId, c1.id)
  t.equal(await codeOf(client.createBranch(repo, B('feature-x'), 'main')), 'LK_BRANCH_EXISTS')
  t.same((await client.listBranches(repo)).map(b => b.name).sort(), ['feature-x', 'main'])
  const tag = await client.createTag(repo, T('v1'), c1.id)
  t.equal(tag.commitId, c1.id)
  t.equal(await codeOf(client.createTag(repo, T('v1'), 'main')), 'LK_TAG_EXISTS')
  t.equal(await client.refKind(repo, 'v1'), 'tag')
  t.same((await client.listTags(repo)).map(x => x.name), ['v1'])

  // change on the feature branch, diff, merge
  await client.putObject(repo, B('feature-x'), P('train/a.txt'), buf('hello feature'))
  await client.deleteObjects(repo, B('feature-x'), [P('val/d.txt'), P('val/never-existed')])
  const cf = await client.commit(repo, B('feature-x'), { message: 'feature work' })
  const d = await client.diff(repo, 'main', 'feature-x')
  t.same(d.entries.map(e => [e.path, e.type]), [['train/a.txt', 'changed'], ['val/d.txt', 'removed']])
  const dPrefix = await client.diff(repo, c1.id, cf.id, { prefix: 'val/' })
  t.same(dPrefix.entries.map(e => e.path), ['val/d.txt'])

  // a conflicting change on main: merge fails, then source-wins resolves it
  await client.putObject(repo, B('main'), P('train/a.txt'), buf('hello main'))
  const cm = await client.commit(repo, B('main'), { message: 'main work' })
  t.equal(await codeOf(client.merge(repo, 'feature-x', B('main'))), 'LK_MERGE_CONFLICT')
  const merged = await client.merge(repo, 'feature-x', B('main'), { strategy: 'source-wins', message: 'merge feature', metadata: { why: 'test' } })
  const mc = await client.getCommit(repo, merged.commitId)
  t.same(mc.parents.slice().sort(), [cm.id, cf.id].sort())
  const aNow = await client.statObject(repo, 'main', P('train/a.txt'))
  t.equal((await client.readRange(repo, aNow, 0, 100)).toString(), 'hello feature')

  // log, newest first, paged across requests
  const log = await collect(client.log(repo, 'main'))
  t.equal(log[0]?.id, merged.commitId)
  t.ok(log.some(c => c.id === c1.id) && log.some(c => c.id === cf.id))
  t.equal((await collect(client.log(repo, 'main', { amount: 2 }))).length, 2)

  // commitChanges: clean on top of a moved head, conflict when a touched path moved
  const base = await client.resolveRef(repo, 'main')
  await client.putObject(repo, B('main'), P('other/e.txt'), buf('e'))
  const moved = await client.commit(repo, B('main'), { message: 'someone else' })
  const cc = await client.commitChanges(repo, B('main'), [
    { op: 'put', path: P('out/result.txt'), content: buf('result'), contentType: 'text/plain', metadata: { epoch: '3' } },
    { op: 'delete', path: P('train/sub/c.txt') },
  ], { base, message: 'mount commit', metadata: { 'lk-mount.base': base } })
  t.same(cc.parents, [moved.id], 'committed on top of the moved head')
  t.equal(cc.metadata['lk-mount.base'], base)
  const out = await client.statObject(repo, cc.id, P('out/result.txt'))
  t.same(out.metadata, { epoch: '3' })
  t.equal(await codeOf(client.statObject(repo, cc.id, P('train/sub/c.txt'))), 'LK_OBJECT_NOT_FOUND')
  const conflict = await client.commitChanges(repo, B('main'), [{ op: 'put', path: P('other/e.txt'), content: buf('mine') }], { base, message: 'stale' }).catch((e: unknown) => e)
  t.ok(conflict instanceof LkError)
  t.equal((conflict as LkError).code, 'LK_CONFLICT')
  t.same((conflict as LkError).details?.conflicts, ['other/e.txt'])
  t.same((await client.diffStaged(repo, B('main'))).entries, [], 'a refused commitChanges leaves nothing staged')
  // someone else's uncommitted changes on the branch: refused, theirs untouched
  await client.putObject(repo, B('main'), P('foreign/staged.txt'), buf('not mine'))
  const headNow = await client.resolveRef(repo, 'main')
  const foreign = await client.commitChanges(repo, B('main'), [{ op: 'put', path: P('out/mine.txt'), content: buf('mine') }], { base: headNow, message: 'mine' }).catch((e: unknown) => e)
  t.equal((foreign as LkError).code, 'LK_CONFLICT')
  t.equal((foreign as LkError).details?.staged, true)
  t.same((await client.diffStaged(repo, B('main'))).entries.map(e => e.path), ['foreign/staged.txt'], 'their staged change is still there, ours was never staged')
  await client.resetBranch(repo, B('main'), { type: 'prefix', path: P('foreign/') })
  t.same((await client.diffStaged(repo, B('main'))).entries, [], 'prefix reset')

  // reset all, delete tag and branch, unknown names
  await client.putObject(repo, B('main'), P('tmp/x'), buf('x'))
  await client.resetBranch(repo, B('main'), { type: 'all' })
  t.same((await client.diffStaged(repo, B('main'))).entries, [])
  await client.deleteTag(repo, T('v1'))
  t.same(await client.listTags(repo), [])
  await client.deleteBranch(repo, B('feature-x'))
  t.equal(await codeOf(client.deleteBranch(repo, B('main'))), 'LK_DEFAULT_BRANCH')
  t.equal(await codeOf(client.resolveRef(repo, 'nope')), 'LK_REF_NOT_FOUND')
  t.equal(await codeOf(client.getCommit(repo, C('0'.repeat(64)))), 'LK_REF_NOT_FOUND')
  t.equal(await codeOf(client.getRepo(R('nope-repo'))), 'LK_REPO_NOT_FOUND')
  t.equal(await codeOf(client.listObjects(R('nope-repo'), 'main')), 'LK_REPO_NOT_FOUND')
  t.equal(await codeOf(client.putObject(repo, B('no-such-branch'), P('a'), buf('a'))), 'LK_REF_NOT_FOUND')

  await client.deleteRepo(repo)
  t.same(await client.listRepos(), [])

  t.same(proxy.violations, [], 'every request and response matched the lakeFS spec')
  const ops = [...proxy.operations.entries()].map(([op, statuses]) => `${op}:${[...statuses].sort().join('/')}`).sort()
  t.comment(`operations exercised: ${ops.join(' ')}`)
})
