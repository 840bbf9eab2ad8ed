// lk-mount serve's API as other lakeFS clients (lakectl, the generated SDKs) use it, raw HTTP
// through the spec-checking proxy: multipart uploads, Range forms, HEAD, conditional GET, paging,
// refs by name where lakeFS accepts them, and the error answers (401, 400, 404, 416).

import t from 'tap'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LocalRemote } from '../../lib/remote/local.js'
import { startServer } from '../../lib/server/server.js'
import { startSpecProxy } from '../support/lakefs-spec.js'
import { B, R } from '../support/store.js'

const AK = 'AKRAW'
const SK = 'raw-secret'
const AUTH = 'Basic ' + Buffer.from(`${AK}:${SK}`).toString('base64')

t.test('raw API through the spec proxy', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-serve-api-'))
  const store = await LocalRemote.open({ dir })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: AK, secretAccessKey: SK })
  const proxy = await startSpecProxy(server.url)
  t.teardown(async () => { await proxy.close(); await server.close(); await store.close(); await rm(dir, { recursive: true, force: true }) })
  const api = proxy.endpoint
  const call = async (method: string, path: string, init: { body?: NonNullable<RequestInit['body']>, headers?: Record<string, string>, json?: unknown, auth?: string | null } = {}): Promise<Response> => {
    const headers: Record<string, string> = { ...init.headers }
    if (init.auth !== null) headers.authorization = init.auth ?? AUTH
    let body = init.body
    if (init.json !== undefined) { body = JSON.stringify(init.json); headers['content-type'] = 'application/json' }
    return await fetch(api + path, { method, headers, ...(body === undefined ? {} : { body }) })
  }
  const j = async (r: Response): Promise<any> => await r.json() // eslint-disable-line @typescript-eslint/no-explicit-any

  // authentication
  t.equal((await call('GET', '/repositories', { auth: null })).status, 401)
  t.equal((await call('GET', '/repositories', { auth: 'Basic ' + Buffer.from(`${AK}:wrong`).toString('base64') })).status, 401)
  t.equal((await call('GET', '/repositories', { auth: 'Bearer abc' })).status, 401)
  t.equal((await call('GET', '/healthcheck', { auth: null })).status, 204)
  const cfg = await j(await call('GET', '/config'))
  t.equal(cfg.storage_config.pre_sign_support, false)
  t.equal((await call('GET', '/config/storage')).status, 200)
  t.equal((await call('GET', '/config/version')).status, 200)

  // repositories: validation, paging
  t.equal((await call('POST', '/repositories', { json: { name: 'Bad_Name', storage_namespace: 'local://x' } })).status, 400)
  for (const name of ['repo-a', 'repo-b', 'repo-c']) t.equal((await call('POST', '/repositories', { json: { name, storage_namespace: `local://${name}` } })).status, 201)
  const p1 = await j(await call('GET', '/repositories?amount=2'))
  t.same(p1.results.map((r: { id: string }) => r.id), ['repo-a', 'repo-b'])
  t.equal(p1.pagination.has_more, true)
  const p2 = await j(await call('GET', `/repositories?amount=2&after=${String(p1.pagination.next_offset)}`))
  t.same(p2.results.map((r: { id: string }) => r.id), ['repo-c'])
  t.equal(p2.pagination.has_more, false)
  t.equal((await j(await call('GET', '/repositories?amount=5000'))).pagination.max_per_page, 1000, 'amount above the maximum is clamped')
  t.equal((await call('GET', '/repositories?amount=abc')).status, 400)
  t.equal((await call('GET', '/repositories/nope-repo')).status, 404)

  // multipart upload, as lakectl and the SDKs send it
  const form = new FormData()
  form.append('content', new Blob(['0123456789abcdef'], { type: 'text/csv' }), 'data.csv')
  const up = await call('POST', '/repositories/repo-a/branches/main/objects?path=dir/data.csv', { body: form, headers: { 'X-Lakefs-Meta-Owner': 'team-a' } })
  t.equal(up.status, 201)
  const upJson = await j(up)
  t.equal(upJson.size_bytes, 16)
  t.equal(upJson.content_type, 'text/csv')
  // header names are case-insensitive (fetch sends them lower-case): header-borne metadata keys
  // lose their case, which is why the lk-mount client sets metadata through its own endpoint
  t.same(upJson.metadata, { owner: 'team-a' })
  // a multipart body with other fields first and a boundary-like string inside the content
  const tricky = new FormData()
  tricky.append('note', 'ignored')
  const payload = 'line1\r\n--not-the-boundary\r\nline2'
  tricky.append('content', new Blob([payload]), 'x')
  t.equal((await call('POST', '/repositories/repo-a/branches/main/objects?path=dir/tricky', { body: tricky })).status, 201)
  const noContent = new FormData()
  noContent.append('other', 'x')
  t.equal((await call('POST', '/repositories/repo-a/branches/main/objects?path=dir/none', { body: noContent })).status, 400)
  // raw body (octet-stream)
  t.equal((await call('POST', '/repositories/repo-a/branches/main/objects?path=raw.bin', { body: Buffer.from('raw bytes'), headers: { 'content-type': 'application/octet-stream' } })).status, 201)
  t.equal((await call('POST', '/repositories/repo-a/branches/main/objects?path=a%00b', { body: Buffer.from('x'), headers: { 'content-type': 'application/octet-stream' } })).status, 400, 'a key with a NUL byte')
  t.equal((await call('POST', '/repositories/repo-a/branches/main/objects', { body: Buffer.from('x'), headers: { 'content-type': 'application/octet-stream' } })).status, 400, 'path is required')

  t.equal((await call('POST', '/repositories/repo-a/branches/main/commits', { json: { message: 'data', metadata: { k: 'v' } } })).status, 201)

  // reads: Range forms, HEAD, conditional GET
  const obj = '/repositories/repo-a/refs/main/objects?path=dir/data.csv'
  const full = await call('GET', obj)
  t.equal(full.status, 200)
  t.equal(await full.text(), '0123456789abcdef')
  const etag = full.headers.get('etag') ?? ''
  t.equal(etag, '"4032af8d61035123906e58e067140cc5"', "the MD5 hex, as lakeFS's ETag")
  const r1 = await call('GET', obj, { headers: { range: 'bytes=2-5' } })
  t.equal(r1.status, 206)
  t.equal(r1.headers.get('content-range'), 'bytes 2-5/16')
  t.equal(await r1.text(), '2345')
  t.equal(await (await call('GET', obj, { headers: { range: 'bytes=-3' } })).text(), 'def')
  t.equal(await (await call('GET', obj, { headers: { range: 'bytes=14-' } })).text(), 'ef')
  t.equal(await (await call('GET', obj, { headers: { range: 'bytes=10-999' } })).text(), 'abcdef')
  t.equal((await call('GET', obj, { headers: { range: 'bytes=16-20' } })).status, 416)
  t.equal((await call('GET', obj, { headers: { 'if-none-match': etag } })).status, 304)
  const head = await call('HEAD', obj)
  t.equal(head.status, 200)
  t.equal(head.headers.get('content-length'), '16')
  t.equal(await (await call('GET', '/repositories/repo-a/refs/main/objects?path=dir/tricky')).text(), payload, 'multipart parsing kept the content exactly')
  t.equal((await call('GET', '/repositories/repo-a/refs/main/objects?path=dir/missing')).status, 404)
  t.equal((await call('GET', '/repositories/repo-a/refs/nope/objects?path=dir/data.csv')).status, 404)

  // listing with delimiter, user_metadata=false, presign=true without a presigner
  const ls = await j(await call('GET', '/repositories/repo-a/refs/main/objects/ls?delimiter=/&user_metadata=false&presign=true'))
  t.same(ls.results.map((r: { path: string, path_type: string }) => [r.path, r.path_type]), [['dir/', 'common_prefix'], ['raw.bin', 'object']])
  const ls2 = await j(await call('GET', '/repositories/repo-a/refs/main/objects/ls?prefix=dir/&user_metadata=false'))
  t.equal(ls2.results[0].metadata, undefined)

  // commits by name, log paging
  for (let i = 0; i < 3; i++) {
    await call('POST', `/repositories/repo-a/branches/main/objects?path=n${i}`, { body: Buffer.from(String(i)), headers: { 'content-type': 'application/octet-stream' } })
    await call('POST', '/repositories/repo-a/branches/main/commits', { json: { message: `c${i}` } })
  }
  const byName = await j(await call('GET', '/repositories/repo-a/commits/main'))
  t.equal(byName.message, 'c2', 'getCommit resolves a branch name, as lakeFS does')
  const log1 = await j(await call('GET', '/repositories/repo-a/refs/main/commits?amount=2'))
  t.same(log1.results.map((c: { message: string }) => c.message), ['c2', 'c1'])
  const log2 = await j(await call('GET', `/repositories/repo-a/refs/main/commits?amount=2&after=${String(log1.pagination.next_offset)}`))
  t.same(log2.results.map((c: { message: string }) => c.message), ['c0', 'data'])
  const byObject = await j(await call('GET', '/repositories/repo-a/refs/main/commits?objects=n1&objects=n2'))
  t.same(byObject.results.map((c: { message: string }) => c.message), ['c2', 'c1'], 'log filtered by objects')

  // branches, tags, three-dot diff (the default)
  t.equal((await call('POST', '/repositories/repo-a/branches', { json: { name: 'dev', source: 'main' } })).status, 201)
  t.equal((await call('POST', '/repositories/repo-a/branches', { json: { name: '-bad', source: 'main' } })).status, 400)
  t.equal((await call('POST', '/repositories/repo-a/branches', { json: { name: 'dev2', source: 'nope' } })).status, 404)
  await call('POST', '/repositories/repo-a/branches/dev/objects?path=dev-only', { body: Buffer.from('d'), headers: { 'content-type': 'application/octet-stream' } })
  await call('POST', '/repositories/repo-a/branches/dev/commits', { json: { message: 'dev work' } })
  await call('POST', '/repositories/repo-a/branches/main/objects?path=main-only', { body: Buffer.from('m'), headers: { 'content-type': 'application/octet-stream' } })
  await call('POST', '/repositories/repo-a/branches/main/commits', { json: { message: 'main work' } })
  const three = await j(await call('GET', '/repositories/repo-a/refs/main/diff/dev'))
  t.same(three.results.map((d: { path: string, type: string }) => [d.path, d.type]), [['dev-only', 'added']], 'three_dot: only what dev changed since the merge base')
  const two = await j(await call('GET', '/repositories/repo-a/refs/main/diff/dev?type=two_dot'))
  t.same(two.results.map((d: { path: string, type: string }) => [d.path, d.type]), [['dev-only', 'added'], ['main-only', 'removed']])
  t.equal((await call('GET', '/repositories/repo-a/branches/dev')).status, 200)
  t.equal((await call('GET', '/repositories/repo-a/branches/nope')).status, 404)
  t.equal((await call('POST', '/repositories/repo-a/tags', { json: { id: 'v1', ref: 'dev' } })).status, 201)
  t.equal((await call('GET', '/repositories/repo-a/tags/v1')).status, 200)
  t.equal((await call('GET', '/repositories/repo-a/tags/nope')).status, 404)

  // deletes: single, bulk with an invalid path reported per path
  t.equal((await call('DELETE', '/repositories/repo-a/branches/main/objects?path=n0')).status, 204)
  const bulk = await j(await call('POST', '/repositories/repo-a/branches/main/objects/delete', { json: { paths: ['n1', '', 'never-there'] } }))
  t.same(bulk.errors.map((e: { path: string, status_code: number }) => [e.path, e.status_code]), [['', 400]])
  const diff = await j(await call('GET', '/repositories/repo-a/branches/main/diff'))
  t.same(diff.results.map((d: { path: string, type: string }) => [d.path, d.type]), [['n0', 'removed'], ['n1', 'removed']])

  // who am I (lakectl doctor), copy, create-only uploads
  const me = await j(await call('GET', '/user'))
  t.equal(me.user.id, AK)
  const cp = await call('POST', '/repositories/repo-a/branches/dev/objects/copy?dest_path=copied/data.csv', { json: { src_path: 'dir/data.csv', src_ref: 'main' } })
  t.equal(cp.status, 201)
  const cpJson = await j(cp)
  t.equal(cpJson.checksum, upJson.checksum, 'same content, same checksum')
  t.same(cpJson.metadata, { owner: 'team-a' }, 'metadata copied')
  t.equal(await (await call('GET', '/repositories/repo-a/refs/dev/objects?path=copied/data.csv')).text(), '0123456789abcdef')
  t.equal((await call('POST', '/repositories/repo-a/branches/dev/objects/copy?dest_path=x', { json: { src_path: 'nope' } })).status, 404)
  const createOnly = { 'content-type': 'application/octet-stream', 'if-none-match': '*' }
  t.equal((await call('POST', '/repositories/repo-a/branches/dev/objects?path=copied/data.csv', { body: Buffer.from('x'), headers: createOnly })).status, 412, 'If-None-Match: * on an existing path')
  t.equal((await call('POST', '/repositories/repo-a/branches/dev/objects?path=fresh.txt', { body: Buffer.from('x'), headers: createOnly })).status, 201)
  t.equal((await call('POST', '/repositories/repo-a/branches/dev/objects?path=fresh2.txt', { body: Buffer.from('x'), headers: { ...createOnly, 'if-none-match': '"abc"' } })).status, 501, "lakeFS: If-None-Match only supports '*'")

  // unknown operations and malformed bodies
  t.equal((await call('GET', '/no/such/thing')).status, 404)
  t.equal((await call('POST', '/repositories', { body: '{not json', headers: { 'content-type': 'application/json' } })).status, 400)
  t.equal((await call('GET', '/repositories/repo-a/branches/main/staging/backing?path=x')).status, 501, 'direct uploads need S3 blobs')

  // every response matched the spec; the requests that broke it are exactly the deliberately
  // invalid ones above (which also shows the checker catches them)
  t.same(proxy.violations.filter(v => !/ request: /.test(v) && !v.startsWith('GET /api/v1/no/such/thing')), [], 'every response matched the spec')
  t.same(proxy.violations.filter(v => / request: /.test(v)).map(v => v.replace(/ request: .*/, '')), [
    'POST /api/v1/repositories (createRepository)',
    'GET /api/v1/repositories (listRepositories)',
    'GET /api/v1/repositories (listRepositories)',
    'POST /api/v1/repositories/repo-a/branches/main/objects (uploadObject)',
    'POST /api/v1/repositories (createRepository)',
  ], 'the checker flagged the invalid requests and nothing else')
  t.ok(proxy.violations.some(v => v.startsWith('GET /api/v1/no/such/thing') && v.includes('no such operation')), 'and an operation the spec does not have')
})

t.test('an upload cut off mid-body leaves no temporary file and nothing staged', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-serve-abort-'))
  const tmp = join(dir, 'tmp')
  await mkdir(tmp)
  const store = await LocalRemote.open({ dir: join(dir, 'store') })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: AK, secretAccessKey: SK, tmpDir: tmp })
  t.teardown(async () => { await server.close(); await store.close(); await rm(dir, { recursive: true, force: true }) })
  await store.createRepo(R('cut-repo'))
  const url = new URL(`${server.endpoint}/repositories/cut-repo/branches/main/objects?path=partial.bin`)
  await new Promise<void>(resolve => {
    const req = request({ host: url.hostname, port: url.port, method: 'POST', path: url.pathname + url.search, headers: { authorization: AUTH, 'content-type': 'application/octet-stream', 'content-length': 10 * 1024 * 1024 } })
    req.on('error', () => { resolve() })
    req.write(Buffer.alloc(256 * 1024), () => { setTimeout(() => { req.destroy(); resolve() }, 100) })
  })
  // the server notices, cleans up, and keeps serving
  for (let i = 0; i < 50 && (await readdir(tmp)).length > 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
  t.same(await readdir(tmp), [], 'temporary upload file removed')
  t.same((await store.diffStaged(R('cut-repo'), B('main'))).entries, [], 'nothing staged')
  const ok = await fetch(`${server.endpoint}/repositories/cut-repo`, { headers: { authorization: AUTH } })
  t.equal(ok.status, 200)
})

t.test('parallel staging writes to one branch all land (the server orders them per branch)', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-serve-par-'))
  const store = await LocalRemote.open({ dir, fsync: false })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: AK, secretAccessKey: SK })
  t.teardown(async () => { await server.close(); await store.close(); await rm(dir, { recursive: true, force: true }) })
  await store.createRepo(R('par-repo'))
  const put = async (i: number): Promise<number> => (await fetch(`${server.endpoint}/repositories/par-repo/branches/main/objects?path=p/${i}`, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/octet-stream' }, body: Buffer.alloc(100 * i + 1, i) })).status
  const meta = async (i: number): Promise<number> => (await fetch(`${server.endpoint}/repositories/par-repo/branches/main/objects/stat/user_metadata?path=p/${i}`, { method: 'PUT', headers: { authorization: AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ set: { i: String(i) } }) })).status
  const n = 16
  t.same(await Promise.all(Array.from({ length: n }, async (_, i) => await put(i))), Array(n).fill(201))
  t.same(await Promise.all(Array.from({ length: n }, async (_, i) => await meta(i))), Array(n).fill(204))
  let ok = 0
  for (let i = 0; i < n; i++) {
    const s = await store.statObject(R('par-repo'), 'main', `p/${i}` as never)
    if (s.size === 100 * i + 1 && s.metadata.i === String(i)) ok++
  }
  t.equal(ok, n, 'every object with its size and metadata')
})
