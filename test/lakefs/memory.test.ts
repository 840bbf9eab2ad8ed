// What the lakeFS client keeps per listed entry: nothing beyond the stats its callers keep (the
// origin of a stat lives as long as the stat), while a just-listed entry still reads with the
// presigned URL of its listing (no stat per file) and an expired one is renewed by one stat.

import t from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeHeapSnapshot } from 'node:v8'
import { LakefsRemote } from '../../lib/remote/lakefs.js'
import type { ObjectStat } from '../../lib/remote/types.js'
import { P, R } from '../support/store.js'

interface Scripted { url: string, endpoint: string, requests: string[], close (): Promise<void> }

async function scripted (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Scripted> {
  const requests: string[] = []
  const server = createServer((req, res) => { requests.push(req.url ?? ''); req.resume(); handler(req, res) })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`
  return { url, endpoint: url + '/api/v1', requests, close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) } }
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
}

const CONFIG = { storage_config: { blockstore_type: 's3', blockstore_namespace_example: 's3://b/', blockstore_namespace_ValidityRegex: '^s3://', pre_sign_support: true, pre_sign_support_ui: false, import_support: false, import_validity_regex: '' } }
/** a URL as long as a SigV4-presigned one */
const presigned = (base: string, key: string, gen: number): string => `${base}/bucket/${key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20261126%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261126T170000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&gen=${gen}&X-Amz-Signature=${'0123456789abcdef'.repeat(4)}`
const statJson = (path: string, url: string, expiry: number): Record<string, unknown> =>
  ({ path, path_type: 'object', physical_address: url, physical_address_expiry: expiry, checksum: `sum-${path}`, size_bytes: 10, mtime: 1700000000, content_type: 'application/octet-stream', metadata: {} })

/** a lakeFS whose listings of `n` objects presign, and an object store that refuses `gen=1` URLs when `expire1` */
async function setup (t: { teardown (fn: () => unknown): void }, n: number, opts: { expiry?: number } = {}): Promise<{ c: LakefsRemote, lakefs: Scripted, store: Scripted }> {
  const body = Buffer.from('0123456789')
  const store = await scripted((req, res) => {
    if (opts.expiry !== undefined && req.url?.includes('gen=1&') === true) { res.writeHead(403).end('<Error><Code>AccessDenied</Code></Error>'); return }
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '')
    const start = Number(m?.[1] ?? 0)
    const end = Number(m?.[2] ?? 9) + 1
    res.writeHead(206, { 'content-range': `bytes ${start}-${end - 1}/10`, 'content-length': end - start }).end(body.subarray(start, end))
  })
  t.teardown(store.close)
  let gen = 1
  const expiry = opts.expiry ?? Math.floor(Date.now() / 1000) + 3600
  const lakefs = await scripted((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/api/v1/config') { json(res, 200, CONFIG); return }
    if (url.pathname.endsWith('/objects/ls')) {
      const after = url.searchParams.get('after') ?? ''
      const start = after === '' ? 0 : Number(after.slice(1)) + 1
      const end = Math.min(n, start + Number(url.searchParams.get('amount') ?? 1000))
      const results = []
      for (let i = start; i < end; i++) { const p = `f${String(i).padStart(6, '0')}`; results.push(statJson(p, presigned(store.url, p, 1), expiry)) }
      const more = end < n
      json(res, 200, { results, pagination: { has_more: more, next_offset: more ? `f${String(end - 1).padStart(6, '0')}` : '', results: results.length, max_per_page: 1000 } })
      return
    }
    if (url.pathname.endsWith('/objects/stat')) {
      const p = url.searchParams.get('path') ?? ''
      json(res, 200, statJson(p, presigned(store.url, p, ++gen), Math.floor(Date.now() / 1000) + 3600))
      return
    }
    json(res, 404, { message: 'not found' })
  })
  t.teardown(lakefs.close)
  const c = new LakefsRemote({ endpoint: lakefs.endpoint, accessKeyId: 'AK', secretAccessKey: 'SK', retries: 0 })
  t.teardown(async () => { await c.close() })
  return { c, lakefs, store }
}

async function listAll (c: LakefsRemote): Promise<ObjectStat[]> {
  const out: ObjectStat[] = []
  let after = ''
  for (;;) {
    const page = await c.listObjects(R('repo'), 'main', { after })
    for (const e of page.entries) if (e.type === 'object') out.push(e.stat)
    if (!page.hasMore) return out
    after = page.nextAfter
  }
}

const stats = (s: Scripted): number => s.requests.filter(u => u.includes('/objects/stat')).length

t.test('a just-listed entry reads with its listing URL: no stat per file', async t => {
  const { c, lakefs, store } = await setup(t, 50)
  const listed = await listAll(c)
  t.equal(listed.length, 50)
  for (const s of listed.slice(0, 20)) t.equal((await c.readRange(R('repo'), s, 0, 10)).toString(), '0123456789')
  t.equal(stats(lakefs), 0, 'no stat calls')
  t.equal(store.requests.length, 20)
})

t.test('an expired listing URL is renewed by one stat, then the renewed URL is reused', async t => {
  const { c, lakefs } = await setup(t, 3, { expiry: Math.floor(Date.now() / 1000) - 10 })
  const [s] = await listAll(c)
  if (s === undefined) throw new Error('no entry')
  t.equal((await c.readRange(R('repo'), s, 0, 4)).toString(), '0123')
  t.equal(stats(lakefs), 1, 'one stat renewed the URL')
  t.equal((await c.readRange(R('repo'), s, 4, 8)).toString(), '4567')
  t.equal(stats(lakefs), 1, 'the renewed URL is reused')
})

t.test('the client keeps nothing per entry once the caller drops the stats', async t => {
  const N = 20_000
  const { c, store } = await setup(t, N)
  // the listing is held only inside this function (a variable of the test's own frame would
  // stay reachable from the suspended async frame even after being cleared)
  const whileHeld = async (): Promise<[number, number]> => { const listed = await listAll(c); return [listed.length, presignedStrings(store.url)] }
  t.same(await whileHeld(), [N, N], 'the heap holds every listed URL while the stats are held (the probe sees them)')
  // the old origin LRU kept an entry per stat keyed by its presigned URL (up to 200,000 of them)
  t.equal(presignedStrings(store.url), 0, 'no listed URL is left once the stats were dropped')
})

/** distinct strings on the heap that are (or contain) a presigned URL of one object store; a heap snapshot collects garbage first */
function presignedStrings (storeUrl: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'lk-lakefs-memory-'))
  try {
    const file = writeHeapSnapshot(join(dir, 'heap.heapsnapshot'))
    const snap = JSON.parse(readFileSync(file, 'utf8')) as { strings: string[] }
    return snap.strings.filter(s => s.includes(storeUrl + '/bucket/') && s.includes('X-Amz-Signature=')).length
  } finally { rmSync(dir, { recursive: true, force: true }) }
}
