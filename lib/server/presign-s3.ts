// Presigned URLs for a store whose blobs live in an S3 bucket (lib/store/blobs-s3.ts), so that
// clients of `lk-mount serve` move bytes straight to and from the bucket: GET for reads
// (stat/list with presign=true, getObject with presign=true), PUT for uploads
// (staging/backing) to `<prefix>/_uploads/<uuid>`. Linking reads the upload once to hash it and
// then records it where it lies (the store's entry names that key as its blob): a linked upload
// is a live blob, so never expire `_uploads/` (or the older `_staging/`) with a bucket lifecycle
// rule. Uploads never linked are garbage there. A store without that ability pulls the upload
// into its content-addressed layout and deletes it instead.
//
// AWS Signature V4 in query-string form, computed here with node:crypto (path-style URLs), so the
// server needs no SDK. The signing secret stays inside this object; URLs carry only the
// signature, which expires.

import { createHash, createHmac, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { LkError } from '../core/errors.js'
import type { Presigner } from './routes.js'

export interface S3PresignConfig {
  /** e.g. http://127.0.0.1:7480; default https://s3.<region>.amazonaws.com */
  endpoint?: string
  region?: string
  bucket: string
  /** the blob prefix (staged uploads go under <prefix>/_staging/) */
  prefix: string
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** RFC 3986 encoding as SigV4 wants it (everything but unreserved characters) */
const strictEncode = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase())
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest()

export class S3Presigner implements Presigner {
  readonly #endpoint: URL
  readonly #region: string
  readonly #bucket: string
  readonly #prefix: string
  readonly #accessKeyId: string
  readonly #secret: string
  readonly #token: string | undefined

  constructor (c: S3PresignConfig) {
    this.#region = c.region ?? 'us-east-1'
    this.#endpoint = new URL(c.endpoint ?? `https://s3.${this.#region}.amazonaws.com`)
    this.#bucket = c.bucket
    this.#prefix = c.prefix.replace(/^\/+|\/+$/g, '')
    this.#accessKeyId = c.accessKeyId
    this.#secret = c.secretAccessKey
    this.#token = c.sessionToken
  }

  /** a presigned URL for one method on one key of the bucket */
  sign (method: 'GET' | 'PUT' | 'DELETE', key: string, expiresInSec: number, now = new Date()): string {
    const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
    const day = amzDate.slice(0, 8)
    const scope = `${day}/${this.#region}/s3/aws4_request`
    const basePath = this.#endpoint.pathname.replace(/\/+$/, '')
    const path = `${basePath}/${this.#bucket}/${key.split('/').map(strictEncode).join('/')}`
    const params: Array<[string, string]> = [
      ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
      ['X-Amz-Credential', `${this.#accessKeyId}/${scope}`],
      ['X-Amz-Date', amzDate],
      ['X-Amz-Expires', String(Math.max(1, Math.min(604800, Math.floor(expiresInSec))))],
      ['X-Amz-SignedHeaders', 'host'],
    ]
    if (this.#token !== undefined) params.push(['X-Amz-Security-Token', this.#token])
    const query = params.map(([k, v]) => [strictEncode(k), strictEncode(v)]).sort((a, b) => (a[0] ?? '') < (b[0] ?? '') ? -1 : 1).map(([k, v]) => `${k ?? ''}=${v ?? ''}`).join('&')
    const host = this.#endpoint.host
    const canonical = [method, path, query, `host:${host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n')
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n')
    const key4 = hmac(hmac(hmac(hmac('AWS4' + this.#secret, day), this.#region), 's3'), 'aws4_request')
    const signature = createHmac('sha256', key4).update(toSign).digest('hex')
    return `${this.#endpoint.protocol}//${host}${path}?${query}&X-Amz-Signature=${signature}`
  }

  /** the key inside our bucket of an s3:// address, or undefined for any other address */
  #keyOf (physicalAddress: string): string | undefined {
    const head = `s3://${this.#bucket}/`
    return physicalAddress.startsWith(head) ? physicalAddress.slice(head.length) : undefined
  }

  async presignGet (physicalAddress: string, expiresInSec: number): Promise<string | undefined> {
    const key = this.#keyOf(physicalAddress)
    return key === undefined ? undefined : this.sign('GET', key, expiresInSec)
  }

  async stagingLocation (_repo: string, _branch: string, _path: string, expiresInSec: number): Promise<{ physicalAddress: string, url: string }> {
    const key = `${this.#prefix === '' ? '' : this.#prefix + '/'}_uploads/${randomUUID()}`
    return { physicalAddress: `s3://${this.#bucket}/${key}`, url: this.sign('PUT', key, expiresInSec) }
  }

  /** the key of a staged upload; only our own staging area: a client must not make the server read arbitrary keys */
  #stagedKey (physicalAddress: string): string {
    const key = this.#keyOf(physicalAddress)
    const head = this.#prefix === '' ? '' : this.#prefix + '/'
    const rel = key?.startsWith(head) === true ? key.slice(head.length) : undefined
    if (key === undefined || rel === undefined || !/^_(uploads|staging)\/[0-9a-f-]{36}$/.test(rel)) {
      throw new LkError('LK_USAGE', 'the physical address was not handed out by this server\'s staging/backing')
    }
    return key
  }

  blobKeyOf (physicalAddress: string): string {
    const key = this.#stagedKey(physicalAddress)
    return this.#prefix === '' ? key : key.slice(this.#prefix.length + 1)
  }

  async readStaged (physicalAddress: string, file: string, maxBytes: number): Promise<{ kind: 'buffer', data: Buffer } | { kind: 'file' }> {
    const key = this.#stagedKey(physicalAddress)
    const res = await fetch(this.sign('GET', key, 300), { signal: AbortSignal.timeout(10 * 60_000) })
    if (res.status === 404) throw new LkError('LK_OBJECT_NOT_FOUND', 'nothing was uploaded to the staging location (or it was already linked)')
    if (!res.ok || res.body === null) throw new LkError('LK_REMOTE_UNAVAILABLE', `the blob store answered HTTP ${res.status} reading a staged upload`)
    const length = Number(res.headers.get('content-length') ?? NaN)
    if (Number.isFinite(length) && length <= maxBytes) {
      const data = Buffer.from(await res.arrayBuffer())
      if (data.length !== length) throw new LkError('LK_REMOTE_UNAVAILABLE', `a staged upload ended after ${data.length} of ${length} bytes`)
      return { kind: 'buffer', data }
    }
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(file))
    return { kind: 'file' }
  }

  async dropStaged (physicalAddress: string): Promise<void> {
    const key = this.#stagedKey(physicalAddress)
    const del = await fetch(this.sign('DELETE', key, 300), { method: 'DELETE', signal: AbortSignal.timeout(60_000) })
    if (!del.ok && del.status !== 404) throw new LkError('LK_REMOTE_UNAVAILABLE', `the blob store answered HTTP ${del.status} deleting a staged upload`)
  }
}
