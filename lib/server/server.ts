// `lk-mount serve`: a lakeFS-compatible HTTP API (what lk-mount, lakectl's common commands and
// lakeFS's own SDKs use, shaped by lib/lakefs-api/lakefs-swagger.yml and answering as lakeFS
// answers: docs/lakefs.md) in front of a `Remote` — normally the embedded store's `LocalRemote`.
//
// What it owns: HTTP — routing under /api/v1, basic authentication against one configured key
// pair, request parsing and validation, the mapping of catalogue errors to lakeFS's statuses and
// `{message}` bodies, Range reads, uploads streamed to temporary files.
// What it must never do: answer anything but /healthcheck without valid credentials; log the
// Authorization header or the secret; buffer a whole object in memory; let an invalid name or
// path through to the store (ids are branded here, at the edge).
// Concurrency: requests are served concurrently; all versioning consistency (compare-and-swap of
// branches, staging) is the Remote's job. The server's own state is the temp directory.

import { timingSafeEqual, createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ErrorCode, LkError, toLkError } from '../core/errors.js'
import { type Logger, silentLogger } from '../core/log.js'
import { LocalRemote } from '../remote/local.js'
import type { Remote } from '../remote/types.js'
import type { BlobStore } from '../store/blobs.js'
import { type Presigner, routes, type Handler } from './routes.js'

export type { Presigner } from './routes.js'

export interface ServerOptions {
  /** the store to serve: a Remote (normally a LocalRemote), or ... */
  remote?: Remote
  /** ... the embedded store in this directory, opened (and closed) by the server */
  storeDir?: string
  /** blobs for a store opened from storeDir (default: <storeDir>/blobs) */
  blobs?: BlobStore
  /** "host:port" (default 127.0.0.1:8000; port 0 picks a free one) */
  listen?: string
  accessKeyId: string
  secretAccessKey: string
  /** presigned URLs for blobs on S3 (staging/backing, presign=true); absent: presign unsupported */
  presigner?: Presigner
  /** what GET /config reports as the blockstore (default 'local') */
  blockstoreType?: string
  /** prefix for storage namespaces derived when a repository is created without one */
  defaultNamespacePrefix?: string
  /** lifetime of presigned URLs (default 15 minutes) */
  presignExpirySeconds?: number
  logger?: Logger
  /** where uploads are spooled (default: a fresh directory under the OS temp dir) */
  tmpDir?: string
}

export interface RunningServer {
  /** http://host:port — what lakectl's server.endpoint_url takes */
  url: string
  /** url + /api/v1 */
  endpoint: string
  close (): Promise<void>
}

export const API_PREFIX = '/api/v1'

// lakeFS's statuses for the catalogue; messages keep lakeFS's wording where clients key on it
// ("repository not found", "no changes", "default branch").
const STATUS: Partial<Record<ErrorCode, number>> = {
  LK_USAGE: 400,
  LK_BAD_URI: 400,
  LK_BAD_NAME: 400,
  LK_BAD_PATH: 400,
  LK_BAD_METADATA: 400,
  LK_NOT_A_BRANCH: 400,
  LK_DEFAULT_BRANCH: 403,
  LK_NOTHING_TO_COMMIT: 400,
  LK_DIRTY_BRANCH: 400,
  LK_CREDENTIALS: 401,
  LK_PERMISSION: 403,
  LK_REPO_NOT_FOUND: 404,
  LK_REF_NOT_FOUND: 404,
  LK_OBJECT_NOT_FOUND: 404,
  LK_REPO_EXISTS: 409,
  LK_BRANCH_EXISTS: 409,
  LK_TAG_EXISTS: 409,
  LK_CONFLICT: 409,
  LK_MERGE_CONFLICT: 409,
  LK_REF_MOVED: 412,
  LK_LOCKED: 503,
  LK_REMOTE_UNAVAILABLE: 503,
  LK_REMOTE_TIMEOUT: 504,
  LK_UNSUPPORTED: 501,
}

const MESSAGE_PREFIX: Partial<Record<ErrorCode, string>> = {
  LK_REPO_NOT_FOUND: 'repository not found',
  LK_REF_NOT_FOUND: 'reference not found',
  LK_OBJECT_NOT_FOUND: 'object not found',
  LK_NOTHING_TO_COMMIT: 'no changes',
  LK_DIRTY_BRANCH: 'uncommitted changes (dirty branch)',
  LK_DEFAULT_BRANCH: 'cannot delete repository default branch',
  LK_REPO_EXISTS: 'not unique',
  LK_BRANCH_EXISTS: 'branch already exists',
  LK_TAG_EXISTS: 'tag already exists',
}

export function errorBody (e: LkError): { status: number, body: { message: string } } {
  const status = STATUS[e.code] ?? 500
  const prefix = MESSAGE_PREFIX[e.code]
  const message = prefix === undefined || e.message.toLowerCase().includes(prefix) ? e.message : `${prefix}: ${e.message}`
  return { status, body: { message } }
}

function parseListen (listen: string): { host: string, port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen)
  if (m === null) throw new LkError('LK_USAGE', `--listen takes host:port, e.g. 127.0.0.1:8000, not ${JSON.stringify(listen)}`)
  const port = Number(m[3])
  if (port > 65535) throw new LkError('LK_USAGE', `port ${port} out of range`)
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2] ?? '127.0.0.1'), port }
}

const sha = (s: string): Buffer => createHash('sha256').update(s).digest()

export async function startServer (opts: ServerOptions): Promise<RunningServer> {
  if (opts.accessKeyId === '' || opts.secretAccessKey === '') throw new LkError('LK_USAGE', 'serve needs an access key id and a secret access key')
  const { host, port } = parseListen(opts.listen ?? '127.0.0.1:8000')
  const log = (opts.logger ?? silentLogger).child({ component: 'serve' })
  let remote: Remote
  let ownRemote: Remote | undefined
  if (opts.remote !== undefined) {
    remote = opts.remote
  } else if (opts.storeDir !== undefined) {
    remote = ownRemote = await LocalRemote.open({ dir: opts.storeDir, log, ...(opts.blobs === undefined ? {} : { blobs: opts.blobs }) })
  } else {
    throw new LkError('LK_USAGE', 'serve needs a store: --store DIR')
  }
  const tmp = opts.tmpDir ?? mkdtempSync(join(tmpdir(), 'lk-serve-'))
  const ownTmp = opts.tmpDir === undefined
  // compare digests so the comparison takes the same time whatever the input's length
  const expected = sha(`${opts.accessKeyId}:${opts.secretAccessKey}`)
  const table = routes({
    remote,
    tmpDir: tmp,
    presigner: opts.presigner,
    blockstoreType: opts.blockstoreType ?? (opts.presigner === undefined ? 'local' : 's3'),
    defaultNamespacePrefix: opts.defaultNamespacePrefix ?? 'local://',
    presignSeconds: opts.presignExpirySeconds ?? 15 * 60,
    accessKeyId: opts.accessKeyId,
  })

  const authorised = (req: IncomingMessage): boolean => {
    const h = req.headers.authorization
    if (h === undefined || !/^basic /i.test(h)) return false
    const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8')
    return timingSafeEqual(sha(decoded), expected)
  }

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    if (res.headersSent) { res.destroy(); return }
    if (body === undefined) { res.writeHead(status).end(); return }
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now()
    const url = new URL(req.url ?? '/', 'http://localhost')
    const method = (req.method ?? 'GET').toUpperCase()
    let status = 0
    try {
      if (!url.pathname.startsWith(API_PREFIX + '/')) throw new LkError('LK_USAGE', `not found: ${url.pathname} (the API is under ${API_PREFIX})`, { details: { status: 404 } })
      const segments = url.pathname.slice(API_PREFIX.length + 1).split('/').map(s => {
        try { return decodeURIComponent(s) } catch { throw new LkError('LK_USAGE', 'malformed percent-encoding in the URL') }
      })
      const match = matchRoute(table, method === 'HEAD' && !hasHead(table, segments) ? 'GET' : method, segments)
      if (match === undefined) {
        status = 404
        send(res, 404, { message: `no such API operation: ${method} ${url.pathname}` })
        return
      }
      if (match.handler.auth !== false && !authorised(req)) {
        status = 401
        // lakeFS's wording; never echo what was sent
        res.setHeader('www-authenticate', 'Basic realm="lakeFS"')
        send(res, 401, { message: 'error authenticating request' })
        return
      }
      const reply = await match.handler.run({ req, res, params: match.params, query: url.searchParams, method })
      status = reply?.status ?? res.statusCode
      if (reply !== undefined) send(res, reply.status, reply.body)
    } catch (e) {
      const err = toLkError(e)
      const detailStatus = (err.details as { status?: unknown } | undefined)?.status
      const { status: s, body } = errorBody(err)
      status = typeof detailStatus === 'number' ? detailStatus : s
      // 501 is an answer (an operation lk-mount does not serve), not a failure of the server
      if (status === 501) log.warn('not implemented', { method, path: url.pathname, error: err.message })
      else if (status >= 500) log.error('request failed', { method, path: url.pathname, code: err.code, error: err.message })
      // drain what the client is still sending so it reads our answer instead of a reset
      req.resume()
      send(res, status, body)
    } finally {
      log.debug('request', { method, path: url.pathname, status, ms: Date.now() - started })
    }
  }

  const server = createServer((req, res) => { void handle(req, res) })
  // a stalled client must not hold a socket forever; uploads of big objects take long, so idle time is what is bounded
  server.headersTimeout = 60_000
  server.requestTimeout = 0
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', e => { reject(new LkError('LK_USAGE', `cannot listen on ${host}:${port}: ${(e as { code?: string }).code ?? e.message}`, { cause: e })) })
    server.listen(port, host, () => { resolve() })
  })
  const addr = server.address() as AddressInfo
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  const base = `http://${shownHost}:${addr.port}`
  log.info('serving the lakeFS API', { url: base + API_PREFIX, store: remote.description })
  let closed: Promise<void> | undefined
  return {
    url: base,
    endpoint: base + API_PREFIX,
    close: async () => {
      closed ??= (async () => {
        await new Promise<void>(resolve => {
          server.close(() => { resolve() })
          server.closeAllConnections()
        })
        if (ownTmp) rmSync(tmp, { recursive: true, force: true })
        await ownRemote?.close()
      })()
      await closed
    },
  }
}

interface Match { handler: Handler, params: Record<string, string> }

function matchRoute (table: Handler[], method: string, segments: string[]): Match | undefined {
  for (const h of table) {
    if (h.method !== method || h.segments.length !== segments.length) continue
    const params: Record<string, string> = {}
    let ok = true
    for (let i = 0; i < segments.length && ok; i++) {
      const pat = h.segments[i] ?? ''
      const seg = segments[i] ?? ''
      if (pat.startsWith(':')) { if (seg === '') ok = false; else params[pat.slice(1)] = seg } else if (pat !== seg) ok = false
    }
    if (ok) return { handler: h, params }
  }
  return undefined
}

function hasHead (table: Handler[], segments: string[]): boolean {
  return matchRoute(table, 'HEAD', segments) !== undefined
}
