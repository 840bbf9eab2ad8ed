// The lakeFS client against servers that misbehave: wrong credentials, unknown names, a server
// that dies or stalls mid-read, 5xx storms, listings with unsafe paths, expiring presigned URLs.
// Well-behaved parts run against the real `lk-mount serve`; misbehaviour that serve would never
// produce comes from small scripted HTTP servers on 127.0.0.1.

import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LkError } from '../../lib/core/errors.js'
import { LakefsRemote } from '../../lib/remote/lakefs.js'
import { LocalRemote } from '../../lib/remote/local.js'
import { startServer } from '../../lib/server/server.js'
import { B, P, R, buf, codeOf } from '../support/store.js'

const AK = 'AKIDHOSTILE'
const SK = 'very-secret-key-do-not-print'

interface Scripted { url: string, endpoint: string, requests: Array<{ method: string, url: string, auth: string | undefined }>, close (): Promise<void> }

async function scripted (handler: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<Scripted> {
  const requests: Scripted['requests'] = []
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization })
    req.resume()
    handler(req, res, requests.length)
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`
  return { url, endpoint: url + '/api/v1', requests, close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) } }
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
}

const statJson = (path: string, physical: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ path, path_type: 'object', physical_address: physical, checksum: 'abc123', size_bytes: 10, mtime: 1700000000, content_type: 'application/octet-stream', metadata: {}, ...extra })

const page = (results: unknown[]): Record<string, unknown> => ({ results, pagination: { has_more: false, next_offset: '', results: results.length, max_per_page: 1000 } })

async function serveStore (t: { teardown (fn: () => unknown): void }): Promise<{ endpoint: string, close: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'lk-lakefs-hostile-'))
  const store = await LocalRemote.open({ dir })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: AK, secretAccessKey: SK })
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await server.close()
    await store.close()
  }
  t.teardown(async () => { await close(); await rm(dir, { recursive: true, force: true }) })
  return { endpoint: server.endpoint, close }
}

t.test('wrong credentials: a clear credentials error, without the secret, not retried', async t => {
  const s = await serveStore(t)
  const wrong = new LakefsRemote({ endpoint: s.endpoint, accessKeyId: AK, secretAccessKey: 'wrong-secret-value', retries: 3, backoffMs: 1 })
  const e = await wrong.listRepos().catch((err: unknown) => err)
  t.ok(e instanceof LkError)
  t.equal((e as LkError).code, 'LK_CREDENTIALS')
  t.equal((e as LkError).exitCode, 6)
  t.notMatch((e as LkError).message, /wrong-secret-value|very-secret/)
  t.notMatch(JSON.stringify((e as LkError).details), /wrong-secret-value|very-secret/)
  t.notMatch(wrong.description, /wrong-secret-value/)
  const wrongKey = new LakefsRemote({ endpoint: s.endpoint, accessKeyId: 'OTHER', secretAccessKey: SK })
  t.equal(await codeOf(wrongKey.getRepo(R('any-repo'))), 'LK_CREDENTIALS')

  const forbidden = await scripted((_req, res) => { json(res, 403, { message: 'insufficient permissions' }) })
  t.teardown(forbidden.close)
  const f = new LakefsRemote({ endpoint: forbidden.endpoint, accessKeyId: AK, secretAccessKey: SK, retries: 3, backoffMs: 1 })
  t.equal(await codeOf(f.listRepos()), 'LK_PERMISSION')
  t.equal(forbidden.requests.length, 1, 'a 403 is not retried')
})

t.test('unknown repository, ref, object: precise not-found codes', async t => {
  const s = await serveStore(t)
  const c = new LakefsRemote({ endpoint: s.endpoint, accessKeyId: AK, secretAccessKey: SK })
  await c.createRepo(R('known'))
  t.equal(await codeOf(c.getRepo(R('unknown'))), 'LK_REPO_NOT_FOUND')
  t.equal(await codeOf(c.statObject(R('unknown'), 'main', P('a'))), 'LK_REPO_NOT_FOUND')
  t.equal(await codeOf(c.statObject(R('known'), 'nope', P('a'))), 'LK_REF_NOT_FOUND')
  t.equal(await codeOf(c.listObjects(R('known'), 'nope')), 'LK_REF_NOT_FOUND')
  t.equal(await codeOf(c.log(R('known'), 'nope')[Symbol.asyncIterator]().next()), 'LK_REF_NOT_FOUND')
  t.equal(await codeOf(c.statObject(R('known'), 'main', P('a'))), 'LK_OBJECT_NOT_FOUND')
  t.equal(await codeOf(c.merge(R('known'), 'nope', B('main'))), 'LK_REF_NOT_FOUND')
})

t.test('the server goes away mid-session: bounded retries, then LK_REMOTE_UNAVAILABLE', async t => {
  const s = await serveStore(t)
  const c = new LakefsRemote({ endpoint: s.endpoint, accessKeyId: AK, secretAccessKey: SK, timeoutMs: 2000, retries: 3, backoffMs: 20, maxBackoffMs: 100 })
  await c.createRepo(R('gone'))
  const stat = await c.putObject(R('gone'), B('main'), P('x.bin'), buf('0123456789'))
  t.equal((await c.readRange(R('gone'), stat, 2, 5)).toString(), '234')
  // through the API (no presigning): one request per part, handed over in order
  const got: string[] = []
  await c.readRangeParts(R('gone'), stat, 1, 10, 4, (k, part) => { got.push(`${k}:${part.toString()}`) })
  t.same(got, ['0:1234', '1:5678', '2:9'])
  await s.close()
  const started = Date.now()
  const e = await c.readRange(R('gone'), stat, 0, 10).catch((err: unknown) => err)
  const ms = Date.now() - started
  t.equal((e as LkError).code, 'LK_REMOTE_UNAVAILABLE')
  t.match((e as LkError).message, /ECONNREFUSED/)
  t.equal((e as LkError).details?.attempts, 4)
  t.ok(ms < 2000, `failed within bounded time (${ms} ms)`)
})

t.test('a server that stalls mid-body: LK_REMOTE_TIMEOUT within the timeout', async t => {
  const stall = await scripted((req, res) => {
    if (req.url?.includes('/objects/stat') === true) { json(res, 200, statJson('a.bin', 's3://bucket/a')); return }
    if (req.url?.startsWith('/api/v1/config') === true) { json(res, 200, { storage_config: { blockstore_type: 's3', blockstore_namespace_example: '', blockstore_namespace_ValidityRegex: '', pre_sign_support: false, pre_sign_support_ui: false, import_support: false, import_validity_regex: '' } }); return }
    // headers and 3 of 10 bytes, then nothing
    res.writeHead(206, { 'content-length': 10, 'content-range': 'bytes 0-9/10' })
    res.write('abc')
  })
  t.teardown(stall.close)
  const c = new LakefsRemote({ endpoint: stall.endpoint, accessKeyId: AK, secretAccessKey: SK, timeoutMs: 500, retries: 3, backoffMs: 10 })
  const stat = await c.statObject(R('repo'), 'main', P('a.bin'))
  const started = Date.now()
  const e = await c.readRange(R('repo'), stat, 0, 10).catch((err: unknown) => err)
  const ms = Date.now() - started
  t.equal((e as LkError).code, 'LK_REMOTE_TIMEOUT')
  t.ok(ms >= 450 && ms < 1500, `timed out after ${ms} ms (timeout 500)`)
})

t.test('a connection cut mid-body is retried, then reported', async t => {
  const cut = await scripted((req, res) => {
    if (req.url?.includes('/objects/stat') === true) { json(res, 200, statJson('a.bin', 's3://bucket/a')); return }
    if (req.url?.startsWith('/api/v1/config') === true) { json(res, 404, { message: 'no config' }); return }
    res.writeHead(206, { 'content-length': 10, 'content-range': 'bytes 0-9/10' })
    res.write('abc', () => { res.socket?.destroy() })
  })
  t.teardown(cut.close)
  const c = new LakefsRemote({ endpoint: cut.endpoint, accessKeyId: AK, secretAccessKey: SK, timeoutMs: 2000, retries: 2, backoffMs: 10 })
  const stat = await c.statObject(R('repo'), 'main', P('a.bin'))
  const before = cut.requests.length
  t.equal(await codeOf(c.readRange(R('repo'), stat, 0, 10)), 'LK_REMOTE_UNAVAILABLE')
  t.equal(cut.requests.length - before, 3, 'one try and two retries')
})

t.test('5xx storms: bounded retries with backoff; non-idempotent requests are not replayed', async t => {
  const storm = await scripted((req, res) => { json(res, 503, { message: 'slow down' }) })
  t.teardown(storm.close)
  const c = new LakefsRemote({ endpoint: storm.endpoint, accessKeyId: AK, secretAccessKey: SK, retries: 4, backoffMs: 20, maxBackoffMs: 80 })
  const started = Date.now()
  const e = await c.listRepos().catch((err: unknown) => err)
  const ms = Date.now() - started
  t.equal((e as LkError).code, 'LK_REMOTE_UNAVAILABLE')
  t.equal(storm.requests.length, 5, 'one try and four retries')
  // backoff: 20, 40, 80, 80 ms, each × [0.5, 1) of jitter
  t.ok(ms >= 100 && ms < 1500, `gave up after ${ms} ms`)

  const fiveHundred = await scripted((req, res) => { json(res, 500, { message: 'boom' }) })
  t.teardown(fiveHundred.close)
  const c2 = new LakefsRemote({ endpoint: fiveHundred.endpoint, accessKeyId: AK, secretAccessKey: SK, retries: 4, backoffMs: 1 })
  t.equal(await codeOf(c2.commit(R('repo'), B('main'), { message: 'm' })), 'LK_REMOTE_UNAVAILABLE')
  t.equal(fiveHundred.requests.length, 1, 'a commit answered 500 is not replayed (it may have happened)')

  const flaky = await scripted((req, res, n) => { if (n <= 2) json(res, 502, { message: 'bad gateway' }); else json(res, 200, page([])) })
  t.teardown(flaky.close)
  const c3 = new LakefsRemote({ endpoint: flaky.endpoint, accessKeyId: AK, secretAccessKey: SK, retries: 4, backoffMs: 1 })
  t.same(await c3.listRepos(), [], 'recovers after two 502s')
  t.equal(flaky.requests.length, 3)

  const limited = await scripted((req, res, n) => {
    if (n === 1) { res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' }).end('{"message":"too many"}'); return }
    json(res, 200, page([]))
  })
  t.teardown(limited.close)
  const c4 = new LakefsRemote({ endpoint: limited.endpoint, accessKeyId: AK, secretAccessKey: SK, retries: 2, backoffMs: 1, maxBackoffMs: 300 })
  const t0 = Date.now()
  t.same(await c4.listRepos(), [])
  const waited = Date.now() - t0
  t.ok(waited >= 250 && waited < 1000, `Retry-After honoured up to the cap (${waited} ms)`)
})

t.test('listings: keys lakeFS accepts pass (the mount and sync hide those that name no file); what lakeFS never answers is rejected', async t => {
  for (const p of ['../etc/passwd', '/abs/path', 'a/../../b', 'a//b', './a', 'dir/']) {
    const s = await scripted((req, res) => {
      if (req.url?.startsWith('/api/v1/config') === true) { json(res, 404, { message: 'no' }); return }
      json(res, 200, page([statJson('ok.txt', 's3://b/ok'), statJson(p, 's3://b/x')]))
    })
    const c = new LakefsRemote({ endpoint: s.endpoint, accessKeyId: AK, secretAccessKey: SK })
    const l = await c.listObjects(R('repo'), 'main')
    t.same(l.entries.map(e => e.type === 'object' ? e.stat.path : e.path), ['ok.txt', p], `passes the key ${JSON.stringify(p)} on`)
    await s.close()
  }
  for (const p of ['nul\0byte', '', 'x'.repeat(1025)]) {
    const s = await scripted((req, res) => {
      if (req.url?.startsWith('/api/v1/config') === true) { json(res, 404, { message: 'no' }); return }
      json(res, 200, page([statJson('ok.txt', 's3://b/ok'), statJson(p, 's3://b/x')]))
    })
    const c = new LakefsRemote({ endpoint: s.endpoint, accessKeyId: AK, secretAccessKey: SK })
    const e = await c.listObjects(R('repo'), 'main').catch((err: unknown) => err)
    t.equal((e as LkError).code, 'LK_BAD_PATH', `rejects ${JSON.stringify(p)}`)
    await s.close()
  }
  // a common prefix climbing out, and an entry outside the requested prefix
  const s = await scripted((req, res) => {
    if (req.url?.startsWith('/api/v1/config') === true) { json(res, 404, { message: 'no' }); return }
    const prefix = new URL(req.url ?? '/', 'http://x').searchParams.get('prefix')
    json(res, 200, page(prefix === 'a/' ? [statJson('b/other.txt', 's3://b/o')] : [{ path: '../', path_type: 'common_prefix', physical_address: '', checksum: '', mtime: 0 }]))
  })
  t.teardown(s.close)
  const c = new LakefsRemote({ endpoint: s.endpoint, accessKeyId: AK, secretAccessKey: SK })
  t.same((await c.listObjects(R('repo'), 'main', { delimiter: '/' })).entries, [{ type: 'prefix', path: '../' }], 'a "../" prefix is a key prefix like any other')
  t.equal(await codeOf(c.listObjects(R('repo'), 'main', { prefix: 'a/' })), 'LK_BAD_PATH', 'an entry outside the requested prefix')
  t.equal(await codeOf(c.listObjects(R('repo'), 'main', { prefix: 'a\0' })), 'LK_BAD_PATH', 'and never asks for a prefix lakeFS refuses')
})

t.test('presigned reads: straight to the object store without our credentials, renewed when expired', async t => {
  // a scripted lakeFS that presigns, and a scripted object store whose first URL has expired
  const body = Buffer.from('0123456789')
  let generation = 0
  const store = await scripted((req, res) => {
    if (req.url?.includes('sig=1') === true) { res.writeHead(403, { 'content-type': 'application/xml' }).end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>'); return }
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '')
    const start = Number(m?.[1] ?? 0)
    const end = Number(m?.[2] ?? 9) + 1
    res.writeHead(206, { 'content-range': `bytes ${start}-${end - 1}/10`, 'content-length': end - start }).end(body.subarray(start, end))
  })
  t.teardown(store.close)
  const lakefs = await scripted((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/api/v1/config') {
      json(res, 200, { storage_config: { blockstore_type: 's3', blockstore_namespace_example: 's3://b/', blockstore_namespace_ValidityRegex: '^s3://', pre_sign_support: true, pre_sign_support_ui: false, import_support: false, import_validity_regex: '' } })
      return
    }
    if (url.pathname.endsWith('/objects/stat')) {
      t.equal(url.searchParams.get('presign'), 'true', 'stat asks for a presigned URL')
      generation++
      json(res, 200, statJson('a.bin', `${store.url}/bucket/a.bin?sig=${generation}`, { physical_address_expiry: Math.floor(Date.now() / 1000) + 3600 }))
      return
    }
    json(res, 404, { message: 'not found' })
  })
  t.teardown(lakefs.close)
  const c = new LakefsRemote({ endpoint: lakefs.endpoint, accessKeyId: AK, secretAccessKey: SK, retries: 1, backoffMs: 1 })
  const stat = await c.statObject(R('repo'), 'main', P('a.bin'))
  t.match(stat.physicalAddress, /sig=1/)
  t.equal((await c.readRange(R('repo'), stat, 2, 6)).toString(), '2345', 'expired URL renewed once and read')
  t.equal(generation, 2)
  t.equal((await c.readRange(R('repo'), stat, 0, 3)).toString(), '012', 'the renewed URL is reused')
  t.equal(generation, 2)
  t.ok(store.requests.every(r => r.auth === undefined), 'the object store never saw the lakeFS Authorization header')
  t.ok(store.requests.length >= 3)
})

t.test('answers that are not lakeFS pages: a clear unavailable error, not a crash', async t => {
  const answers: Array<[string, (res: ServerResponse) => void]> = [
    ['an HTML login page', res => { res.writeHead(200, { 'content-type': 'text/html' }).end('<html>please log in</html>') }],
    ['JSON without results', res => { json(res, 200, { message: 'hello' }) }],
    ['a page whose entry is a string', res => { json(res, 200, page(['x'])) }],
    ['an entry without a checksum', res => { json(res, 200, page([{ path: 'a', path_type: 'object', physical_address: 's3://b/a', mtime: 1 }])) }],
  ]
  for (const [what, answer] of answers) {
    const s = await scripted((req, res) => {
      if (req.url?.startsWith('/api/v1/config') === true) { json(res, 404, { message: 'no' }); return }
      answer(res)
    })
    const c = new LakefsRemote({ endpoint: s.endpoint, accessKeyId: AK, secretAccessKey: SK })
    t.equal(await codeOf(c.listObjects(R('repo'), 'main')), 'LK_REMOTE_UNAVAILABLE', what)
    await s.close()
  }
})

t.test('presigned reads (node:http, keep-alive): connections reused; a stall mid-body times out, a cut is retried', async t => {
  const body = Buffer.from('0123456789')
  let mode: 'ok' | 'stall' | 'cut' = 'ok'
  let connections = 0
  let gets = 0
  const store = createServer((req, res) => {
    gets++
    if (mode === 'stall') { res.writeHead(206, { 'content-length': 10, 'content-range': 'bytes 0-9/10' }); res.write('abc'); return }
    if (mode === 'cut') { res.writeHead(206, { 'content-length': 10, 'content-range': 'bytes 0-9/10' }); res.write('abc', () => { res.socket?.destroy() }); return }
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '')
    const start = Number(m?.[1] ?? 0)
    const end = Number(m?.[2] ?? 9) + 1
    res.writeHead(206, { 'content-range': `bytes ${start}-${end - 1}/10`, 'content-length': end - start }).end(body.subarray(start, end))
  })
  store.on('connection', () => { connections++ })
  await new Promise<void>(resolve => { store.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => { await new Promise<void>(resolve => { store.close(() => { resolve() }); store.closeAllConnections() }) })
  const storeUrl = `http://127.0.0.1:${(store.address() as AddressInfo).port}`
  const lakefs = await scripted((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/api/v1/config') {
      json(res, 200, { storage_config: { blockstore_type: 's3', blockstore_namespace_example: 's3://b/', blockstore_namespace_ValidityRegex: '^s3://', pre_sign_support: true, pre_sign_support_ui: false, import_support: false, import_validity_regex: '' } })
      return
    }
    if (url.pathname.endsWith('/objects/stat')) { json(res, 200, statJson('a.bin', `${storeUrl}/bucket/a.bin?sig=x`, { physical_address_expiry: Math.floor(Date.now() / 1000) + 3600 })); return }
    json(res, 404, { message: 'not found' })
  })
  t.teardown(lakefs.close)
  const c = new LakefsRemote({ endpoint: lakefs.endpoint, accessKeyId: AK, secretAccessKey: SK, timeoutMs: 400, retries: 2, backoffMs: 5 })
  t.teardown(async () => { await c.close() })
  const stat = await c.statObject(R('repo'), 'main', P('a.bin'))
  for (let i = 0; i < 5; i++) t.equal((await c.readRange(R('repo'), stat, i, i + 3)).toString(), body.subarray(i, i + 3).toString())
  t.equal(connections, 1, 'five sequential range reads over one kept-alive connection')

  mode = 'stall'
  const started = Date.now()
  const e = await c.readRange(R('repo'), stat, 0, 10).catch((err: unknown) => err)
  const ms = Date.now() - started
  t.equal((e as LkError).code, 'LK_REMOTE_TIMEOUT', 'a stalled body is a timeout')
  t.ok(ms >= 350 && ms < 1500, `within the timeout (${ms} ms, timeout 400)`)

  mode = 'cut'
  gets = 0
  t.equal(await codeOf(c.readRange(R('repo'), stat, 0, 10)), 'LK_REMOTE_UNAVAILABLE', 'a cut body is a network failure')
  t.equal(gets, 3, 'one try and two retries')

  mode = 'ok'
  t.equal((await c.readRange(R('repo'), stat, 2, 6)).toString(), '2345', 'and reads work again')

  // streamed in parts: each handed over in order; a failure before the first part goes the
  // ordinary way (retries), a stall after it is a timeout
  const got: string[] = []
  await c.readRangeParts(R('repo'), stat, 0, 10, 4, (k, part) => { got.push(`${k}:${part.toString()}`) })
  t.same(got, ['0:0123', '1:4567', '2:89'])
  let failFirst = true
  store.removeAllListeners('request')
  store.on('request', (req, res) => {
    gets++
    if (failFirst) { failFirst = false; res.writeHead(503).end(); return }
    if (mode === 'stall') { res.writeHead(206, { 'content-length': 10, 'content-range': 'bytes 0-9/10' }); res.write('01234'); return }
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '')
    const start = Number(m?.[1] ?? 0)
    const end = Number(m?.[2] ?? 9) + 1
    res.writeHead(206, { 'content-range': `bytes ${start}-${end - 1}/10`, 'content-length': end - start }).end(body.subarray(start, end))
  })
  got.length = 0
  await c.readRangeParts(R('repo'), stat, 0, 10, 5, (k, part) => { got.push(`${k}:${part.toString()}`) })
  t.same(got, ['0:01234', '1:56789'], 'a 503 before any part: read again the ordinary way')
  mode = 'stall'
  got.length = 0
  t.equal(await codeOf(c.readRangeParts(R('repo'), stat, 0, 10, 5, (k, part) => { got.push(`${k}:${part.toString()}`) })), 'LK_REMOTE_TIMEOUT', 'a stall after a part: a timeout')
  t.same(got, ['0:01234'], 'the part that arrived was handed over, nothing more')
})
