// lk-mount serve answers as lakeFS answers (learnt from lakeFS's controller and graveler), raw
// HTTP through the spec-checking proxy, one assertion per incompatibility found by running
// lakeFS's own Python clients against it (test/lakefs/sdk.test.ts runs those clients; this test
// needs nothing but Node).

import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '../../lib/core/log.js'
import { LocalRemote } from '../../lib/remote/local.js'
import { startServer } from '../../lib/server/server.js'
import { startSpecProxy } from '../support/lakefs-spec.js'

const AK = 'AKCOMPAT'
const SK = 'compat-secret'
const AUTH = 'Basic ' + Buffer.from(`${AK}:${SK}`).toString('base64')

t.test('serve answers like lakeFS', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-serve-compat-'))
  const store = await LocalRemote.open({ dir, fsync: false })
  const logged: Array<{ level: string, msg: string }> = []
  const logger = createLogger({ json: true, level: 'warn', write: l => { logged.push(JSON.parse(l) as { level: string, msg: string }) } })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: AK, secretAccessKey: SK, logger })
  const proxy = await startSpecProxy(server.url)
  t.teardown(async () => { await proxy.close(); await server.close(); await store.close(); await rm(dir, { recursive: true, force: true }) })
  const call = async (method: string, path: string, init: { body?: string | Buffer, headers?: Record<string, string>, json?: unknown } = {}): Promise<Response> => {
    const headers: Record<string, string> = { authorization: AUTH, ...init.headers }
    let body: string | Buffer | undefined = init.body
    if (init.json !== undefined) { body = JSON.stringify(init.json); headers['content-type'] = 'application/json' }
    return await fetch(proxy.endpoint + path, { method, headers, ...(body === undefined ? {} : { body }) })
  }
  const j = async (r: Response): Promise<any> => await r.json() // eslint-disable-line @typescript-eslint/no-explicit-any
  const put = async (branch: string, path: string, data: string, headers: Record<string, string> = {}): Promise<Response> =>
    await call('POST', `/repositories/rep1/branches/${branch}/objects?path=${encodeURIComponent(path)}`, { body: Buffer.from(data), headers: { 'content-type': 'application/octet-stream', ...headers } })
  const commit = async (branch: string, message: string, extra: Record<string, unknown> = {}): Promise<any> => await j(await call('POST', `/repositories/rep1/branches/${branch}/commits`, { json: { message, ...extra } })) // eslint-disable-line @typescript-eslint/no-explicit-any

  // repositories: storage_id is "" and validated; metadata served; bare refused loudly
  const repo = await call('POST', '/repositories', { json: { name: 'rep1', storage_namespace: 'local://rep1' } })
  t.equal((await j(repo)).storage_id, '')
  t.equal((await call('POST', '/repositories', { json: { name: 'rep2', storage_namespace: 'local://rep2', storage_id: 'other' } })).status, 400, 'unknown storage_id')
  t.equal((await call('POST', '/repositories?bare=true', { json: { name: 'rep3', storage_namespace: 'local://rep3' } })).status, 501, 'bare repositories: not served, not ignored')
  const md = await call('GET', '/repositories/rep1/metadata')
  t.same([md.status, await j(md)], [200, {}])
  t.equal((await call('GET', '/repositories/nope/metadata')).status, 404)
  const exists = await call('POST', '/repositories', { json: { name: 'rep1', storage_namespace: 'local://rep1' } })
  t.same([exists.status, (await j(exists)).message.startsWith('not unique')], [409, true], "lakeFS's wording")

  // booleans as Go's strconv.ParseBool reads them (the Python SDK sends True/False)
  await put('main', 'a.csv', 'a,b\n')
  for (const v of ['True', 'False', 'TRUE', 't', 'F', '1', '0', 'true']) {
    t.equal((await call('GET', `/repositories/rep1/refs/main/objects/stat?path=a.csv&presign=${v}&user_metadata=${v}`)).status, 200, `presign=${v}`)
  }
  // not through the proxy: the spec rightly calls this request malformed
  const badBool = await fetch(server.endpoint + '/repositories/rep1/refs/main/objects/stat?path=a.csv&presign=yes', { headers: { authorization: AUTH } })
  t.same([badBool.status, /ParseBool/.test((await j(badBool)).message)], [400, true])

  // uploads: MD5 checksums, lowercased X-Lakefs-Meta-*, X-Lakefs-Internal-* as ::lakefs::, local:// addresses
  const up = await j(await put('main', 'm.txt', 'meta', { 'X-Lakefs-Meta-Owner': 'Team-A', 'X-Lakefs-Internal-Mode': '644' }))
  t.equal(up.checksum, createHash('md5').update('meta').digest('hex'), 'the MD5 hex (S3 ETag), as lakeFS')
  t.same(up.metadata, { owner: 'Team-A', '::lakefs::mode': '644' })
  const st = await j(await call('GET', '/repositories/rep1/refs/main/objects/stat?path=m.txt'))
  t.match(st.physical_address, /^local:\/\/\//, 'a local:// URI, not a server path')
  t.equal((await call('GET', '/repositories/rep1/refs/main/objects?path=m.txt')).headers.get('etag'), `"${up.checksum}"`)
  t.equal((await put('main', 'x', 'x', { 'if-match': '"abc"' })).status, 501, 'If-Match: not implemented, as in open-source lakeFS')
  t.equal((await put('main', 'a.csv', 'x', { 'if-none-match': '*' })).status, 412)
  // keys with empty segments, and directory markers
  t.equal((await put('main', 'dir/', '')).status, 201)
  t.equal((await put('main', 'a//b', 'x')).status, 201)
  t.equal((await call('GET', '/repositories/rep1/refs/main/objects/stat?path=dir/')).status, 200)
  t.equal((await call('GET', '/repositories/rep1/refs/main/objects/stat?path=none/')).status, 404)

  // commits: the authenticated user commits; no changes is 400 "no changes"
  const c1 = await commit('main', 'first')
  t.equal(c1.committer, AK)
  const none = await call('POST', '/repositories/rep1/branches/main/commits', { json: { message: 'again' } })
  t.same([none.status, /no changes/.test((await j(none)).message)], [400, true])

  // branches: hidden ones listed only with show_hidden; the default one cannot be deleted (403)
  t.equal((await call('POST', '/repositories/rep1/branches', { json: { name: 'tx-1', source: 'main', hidden: true } })).status, 201)
  t.same((await j(await call('GET', '/repositories/rep1/branches'))).results.map((b: { id: string }) => b.id), ['main'])
  t.same((await j(await call('GET', '/repositories/rep1/branches?show_hidden=True'))).results.map((b: { id: string }) => b.id), ['main', 'tx-1'])
  t.equal((await call('POST', '/repositories/rep1/branches', { json: { name: 'exp-lr-0.1', source: 'main' } })).status, 400, "not a lakeFS branch name")
  const dup = await call('POST', '/repositories/rep1/branches', { json: { name: 'tx-1', source: 'main' } })
  t.same([dup.status, /^branch already exists/.test((await j(dup)).message)], [409, true])
  const del = await call('DELETE', '/repositories/rep1/branches/main')
  t.same([del.status, /cannot delete repository default branch/.test((await j(del)).message)], [403, true])

  // merge: dirty destination, a merge commit even when the destination did not move, no changes
  t.equal((await call('POST', '/repositories/rep1/branches', { json: { name: 'dev', source: 'main' } })).status, 201)
  await put('dev', 'dev.txt', 'd')
  const d1 = await commit('dev', 'dev work')
  await put('main', 'staged.txt', 's')
  const dirty = await call('POST', '/repositories/rep1/refs/dev/merge/main', { json: {} })
  t.same([dirty.status, /dirty branch/.test((await j(dirty)).message)], [400, true])
  t.equal((await call('PUT', '/repositories/rep1/branches/main', { json: { type: 'reset' } })).status, 204)
  const m = await j(await call('POST', '/repositories/rep1/refs/dev/merge/main', { json: { message: 'merge dev', metadata: { k: 'v' } } }))
  const mc = await j(await call('GET', `/repositories/rep1/commits/${String(m.reference)}`))
  t.same([mc.parents, mc.message, mc.metadata, mc.committer], [[c1.id, d1.id], 'merge dev', { k: 'v', '.lakefs.merge.strategy': 'default' }, AK])
  const nothing = await call('POST', '/repositories/rep1/refs/dev/merge/main', { json: {} })
  t.same([nothing.status, /no changes/.test((await j(nothing)).message)], [400, true])
  t.equal((await call('POST', '/repositories/rep1/refs/dev/merge/main', { json: { allow_empty: true } })).status, 200)
  const base = await j(await call('GET', '/repositories/rep1/refs/dev/merge/main'))
  t.same([base.base_commit_id, base.source_commit_id], [d1.id, d1.id], 'findMergeBase')

  // log: limit, objects; diff: removed entries have size_bytes 0, delimiter
  t.same((await j(await call('GET', '/repositories/rep1/refs/main/commits?amount=1&limit=true'))).pagination.has_more, false)
  t.same((await j(await call('GET', '/repositories/rep1/refs/main/commits?objects=dev.txt'))).results.map((c: { id: string }) => c.id), [d1.id])
  const diff = await j(await call('GET', '/repositories/rep1/refs/main/diff/main~3?type=two_dot'))
  t.ok(diff.results.every((d: { size_bytes?: number }) => typeof d.size_bytes === 'number'), 'every object entry has a size')
  t.ok(diff.results.some((d: { type: string, size_bytes: number }) => d.type === 'removed' && d.size_bytes === 0))
  const delim = await j(await call('GET', '/repositories/rep1/refs/main~3/diff/main?type=two_dot&delimiter=/'))
  t.ok(delim.results.every((d: { path: string, path_type: string }) => d.path_type === 'common_prefix' ? /^[^/]*\/$/.test(d.path) : !d.path.includes('/')), 'one level only')
  t.ok(delim.results.some((d: { path: string, type: string }) => d.path === 'a/' && d.type === 'prefix_changed'), 'a//b rolls up under a/')

  // revert, cherry-pick, hard reset
  const rv = await call('POST', '/repositories/rep1/branches/main/revert', { json: { ref: d1.id, parent_number: 0 } })
  t.equal(rv.status, 204)
  t.equal((await call('GET', '/repositories/rep1/refs/main/objects/stat?path=dev.txt')).status, 404)
  t.equal((await call('POST', '/repositories/rep1/branches/main/revert', { json: { ref: m.reference, parent_number: 0 } })).status, 409, 'a merge commit needs a parent number (lakeFS: 409)')
  const cp = await call('POST', '/repositories/rep1/branches/main/cherry-pick', { json: { ref: d1.id } })
  t.equal(cp.status, 201)
  t.equal((await j(cp)).metadata['cherry-pick-origin'], d1.id)
  t.equal((await call('PUT', `/repositories/rep1/branches/dev/hard_reset?ref=${String(c1.id)}`)).status, 204)
  t.equal((await j(await call('GET', '/repositories/rep1/branches/dev'))).commit_id, c1.id)

  // 501 is an answer, not a server failure: warned, never logged as an error
  t.same(logged.filter(l => l.level === 'error'), [])
  t.ok(logged.some(l => l.level === 'warn' && l.msg === 'not implemented'))
  t.same(proxy.violations, [], 'every exchange kept to the lakeFS spec')
})
