// Blobs in an S3 bucket (AWS S3, Ceph RGW, any S3-compatible store) through @aws-sdk/client-s3.
//
// Layout: `<prefix>/<aa>/<key>` where `aa` is the key's first two hex digits, so no single
// listing prefix holds every blob. Keys are content hashes, so a PUT of an existing key writes
// the same bytes again: `put` is idempotent, and S3 makes every PUT (single or multipart
// completion) atomic, so readers never see a partial blob.
//
// Retries are ours, not the SDK's (the client runs with maxAttempts 1): a streamed body cannot
// be replayed by the SDK, and one bounded policy for every call keeps failure times predictable.
// Network errors, 5xx and throttling are retried with exponential backoff; after the last
// attempt they become LK_REMOTE_UNAVAILABLE (LK_REMOTE_TIMEOUT for timeouts). Refused
// credentials are LK_CREDENTIALS, a denied operation LK_PERMISSION, a missing key
// LK_OBJECT_NOT_FOUND, a missing bucket LK_BUCKET_NOT_FOUND.
//
// Concurrency: the store holds no mutable state but the client; every method may run
// concurrently with any other. A multipart upload keeps at most `partConcurrency` parts (each a
// `partSize` buffer) in memory.

import { open, stat } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import {
  S3Client, HeadObjectCommand, PutObjectCommand, GetObjectCommand, DeleteObjectCommand,
  CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand, type CompletedPart,
} from '@aws-sdk/client-s3'
import { LkError } from '../core/errors.js'
import type { BlobSource, BlobStore } from './blobs.js'

export interface S3BlobConfig {
  bucket: string
  /** key prefix without leading or trailing '/'; '' puts blobs at the bucket's root */
  prefix: string
  /** e.g. http://127.0.0.1:7480; undefined for AWS S3 */
  endpoint?: string
  /** default us-east-1 */
  region?: string
  /** undefined: the SDK's default chain (AWS_* variables, ~/.aws, instance roles) */
  credentials?: { accessKeyId: string, secretAccessKey: string, sessionToken?: string }
  /** default true when an endpoint is given (most S3-compatible servers want path style) */
  forcePathStyle?: boolean
  /** files at least this big go up in parts (default 64 MiB) */
  multipartThreshold?: number
  /** default 16 MiB (S3 needs >= 5 MiB for all parts but the last) */
  partSize?: number
  /** parts in flight at once (default 4) */
  partConcurrency?: number
  /** attempts per request, first included (default 4) */
  maxAttempts?: number
  /** first retry delay in ms, doubled each time (default 100) */
  retryBaseMs?: number
  /** per-request socket timeout in ms (default 60 s) */
  requestTimeoutMs?: number
}

const MiB = 1024 * 1024
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

/**
 * Parses `s3://bucket[/prefix]` (as the CLI's --blobs takes it). The prefix loses its trailing
 * '/'; empty segments, '.' and '..' are refused because they would not round-trip through S3
 * keys the way a user expects.
 */
export function parseS3Uri (uri: string): { bucket: string, prefix: string } {
  const bad = (why: string): never => {
    throw new LkError('LK_USAGE', `invalid blob location ${JSON.stringify(uri)}: ${why}; write s3://<bucket>[/<prefix>]`)
  }
  if (!uri.startsWith('s3://')) bad('not an s3:// URI')
  const rest = uri.slice('s3://'.length)
  const slash = rest.indexOf('/')
  const bucket = slash === -1 ? rest : rest.slice(0, slash)
  let prefix = slash === -1 ? '' : rest.slice(slash + 1)
  if (!BUCKET_RE.test(bucket) || bucket.includes('..')) bad(`bucket name ${JSON.stringify(bucket)} is not valid (3-63 of a-z, 0-9, ".", "-")`)
  if (prefix.endsWith('/')) prefix = prefix.slice(0, -1)
  if (prefix !== '' && prefix.split('/').some(s => s === '' || s === '.' || s === '..')) bad('the prefix has an empty, "." or ".." segment')
  if (prefix.includes('\0')) bad('the prefix contains a NUL byte')
  return { bucket, prefix }
}

const KEY_RE = /^[0-9a-f]{3,128}$/
/**
 * an upload a client made straight to the bucket (lk-mount serve's staging/backing) and that was
 * linked where it lies: `_uploads/<uuid>` (or `_staging/<uuid>` from older servers), relative to
 * the prefix
 */
export const UPLOAD_KEY_RE = /^_(uploads|staging)\/[0-9a-f-]{36}$/

interface S3ErrorShape {
  name?: string
  code?: string
  $metadata?: { httpStatusCode?: number }
  $retryable?: unknown
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'EADDRNOTAVAIL'])
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException'])
const CREDENTIAL_NAMES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'CredentialsProviderError', 'AuthorizationHeaderMalformed'])

function statusOf (e: unknown): number | undefined {
  return (e as S3ErrorShape | null)?.$metadata?.httpStatusCode
}

function isRetryable (e: unknown): boolean {
  const err = (e ?? {}) as S3ErrorShape
  const status = statusOf(e)
  if (status !== undefined && (status >= 500 || status === 429)) return true
  if (err.name !== undefined && (TIMEOUT_NAMES.has(err.name) || err.name === 'SlowDown' || err.name === 'ThrottlingException')) return true
  if (err.$retryable !== undefined && err.$retryable !== null) return true
  // no HTTP answer at all: the connection failed
  return status === undefined && err.code !== undefined && NETWORK_CODES.has(err.code)
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

export class S3BlobStore implements BlobStore {
  readonly description: string
  readonly #client: S3Client
  readonly #bucket: string
  readonly #prefix: string
  readonly #threshold: number
  readonly #partSize: number
  readonly #partConcurrency: number
  readonly #maxAttempts: number
  readonly #retryBaseMs: number

  constructor (config: S3BlobConfig) {
    if (!BUCKET_RE.test(config.bucket)) throw new LkError('LK_USAGE', `invalid bucket name ${JSON.stringify(config.bucket)}`)
    this.#bucket = config.bucket
    this.#prefix = config.prefix.replace(/\/+$/, '')
    this.#threshold = config.multipartThreshold ?? 64 * MiB
    this.#partSize = Math.max(config.partSize ?? 16 * MiB, 5 * MiB)
    this.#partConcurrency = Math.max(1, config.partConcurrency ?? 4)
    this.#maxAttempts = Math.max(1, config.maxAttempts ?? 4)
    this.#retryBaseMs = config.retryBaseMs ?? 100
    this.#client = new S3Client({
      ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
      region: config.region ?? 'us-east-1',
      ...(config.credentials === undefined ? {} : { credentials: config.credentials }),
      forcePathStyle: config.forcePathStyle ?? config.endpoint !== undefined,
      // with the defaults a streamed body goes aws-chunked with a trailer, which RGW refuses
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 5000, requestTimeout: config.requestTimeoutMs ?? 60_000 },
    })
    const where = config.endpoint === undefined ? '' : ` at ${config.endpoint}`
    this.description = `s3://${this.#bucket}/${this.#prefix}${where}`
  }

  #objectKey (key: string): string {
    const upload = UPLOAD_KEY_RE.test(key)
    if (!upload && !KEY_RE.test(key)) throw new LkError('LK_INTERNAL', `blob key ${JSON.stringify(key)} is not a lower-case hex hash`)
    const rel = upload ? key : `${key.slice(0, 2)}/${key}`
    return this.#prefix === '' ? rel : `${this.#prefix}/${rel}`
  }

  address (key: string): string {
    return `s3://${this.#bucket}/${this.#objectKey(key)}`
  }

  async has (key: string): Promise<boolean> {
    const Key = this.#objectKey(key)
    try {
      await this.#retry('HEAD', Key, async () => await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key })))
      return true
    } catch (e) {
      if (e instanceof LkError && e.code === 'LK_OBJECT_NOT_FOUND') return false
      // a HEAD answer has no body, so a 403 cannot say whether the key or the permission was
      // refused; a one-byte GET carries the error code and tells the two apart
      if (e instanceof LkError && e.code === 'LK_PERMISSION') {
        try {
          await this.getRange(key, 0, 1)
          return true
        } catch (e2) {
          if (e2 instanceof LkError && e2.code === 'LK_OBJECT_NOT_FOUND') return false
          throw e2
        }
      }
      throw e
    }
  }

  async put (key: string, source: BlobSource): Promise<void> {
    const Key = this.#objectKey(key)
    if (source.kind === 'buffer') {
      await this.#retry('PUT', Key, async () => await this.#client.send(new PutObjectCommand({
        Bucket: this.#bucket, Key, Body: source.data, ContentLength: source.data.length,
      })))
      return
    }
    if (source.size >= this.#threshold) {
      await this.#putMultipart(Key, source.file, source.size)
      return
    }
    // a short file would leave the server waiting for the missing bytes until the timeout
    const actual = (await stat(source.file)).size
    if (actual !== source.size) throw new LkError('LK_INTERNAL', `blob source ${source.file} is ${actual} bytes, expected ${source.size}`)
    // a fresh stream per attempt: a consumed stream cannot be sent again
    await this.#retry('PUT', Key, async () => await this.#client.send(new PutObjectCommand({
      Bucket: this.#bucket, Key, Body: createReadStream(source.file), ContentLength: source.size,
    })))
  }

  async #putMultipart (Key: string, file: string, size: number): Promise<void> {
    const fh = await open(file, 'r')
    let uploadId: string | undefined
    try {
      const actual = (await fh.stat()).size
      if (actual !== size) throw new LkError('LK_INTERNAL', `blob source ${file} is ${actual} bytes, expected ${size}`)
      const created = await this.#retry('CreateMultipartUpload', Key, async () =>
        await this.#client.send(new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key })))
      uploadId = created.UploadId
      if (uploadId === undefined) throw new LkError('LK_REMOTE_UNAVAILABLE', `CreateMultipartUpload for ${Key} returned no upload id`)
      const partCount = Math.ceil(size / this.#partSize)
      const parts: CompletedPart[] = new Array<CompletedPart>(partCount)
      let next = 0
      let failed = false
      // workers pull part numbers from a shared counter: at most partConcurrency buffers live
      const worker = async (): Promise<void> => {
        for (let i = next++; i < partCount && !failed; i = next++) {
          const start = i * this.#partSize
          const len = Math.min(this.#partSize, size - start)
          const buf = Buffer.allocUnsafe(len)
          let got = 0
          while (got < len) {
            const { bytesRead } = await fh.read(buf, got, len - got, start + got)
            if (bytesRead === 0) throw new LkError('LK_INTERNAL', `blob source ${file} shrank while uploading`)
            got += bytesRead
          }
          const res = await this.#retry(`UploadPart ${i + 1}`, Key, async () => await this.#client.send(new UploadPartCommand({
            Bucket: this.#bucket, Key, UploadId: uploadId, PartNumber: i + 1, Body: buf, ContentLength: len,
          })))
          parts[i] = { PartNumber: i + 1, ETag: res.ETag }
        }
      }
      // settle every worker before the file is closed and the upload aborted; the first
      // failure stops the others from starting new parts
      const results = await Promise.allSettled(Array.from({ length: Math.min(this.#partConcurrency, partCount) }, async () => {
        try { await worker() } catch (e) { failed = true; throw e }
      }))
      const firstFailure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (firstFailure !== undefined) throw firstFailure.reason
      await this.#retry('CompleteMultipartUpload', Key, async () => await this.#client.send(new CompleteMultipartUploadCommand({
        Bucket: this.#bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts },
      })))
      uploadId = undefined
    } finally {
      await fh.close()
      if (uploadId !== undefined) {
        // best effort: a leftover upload only costs storage until the bucket's lifecycle rule
        const id = uploadId
        await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key, UploadId: id })).catch(() => {})
      }
    }
  }

  async getRange (key: string, start: number, end: number): Promise<Buffer> {
    const Key = this.#objectKey(key)
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0) {
      throw new LkError('LK_INTERNAL', `bad range [${start}, ${end}) for blob ${key}`)
    }
    if (end <= start) {
      // still answer LK_OBJECT_NOT_FOUND for a missing blob, as the contract says
      if (!await this.has(key)) throw new LkError('LK_OBJECT_NOT_FOUND', `blob ${key} not found in ${this.description}`)
      return Buffer.alloc(0)
    }
    try {
      return await this.#retry('GET', Key, async () => {
        const res = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key, Range: `bytes=${start}-${end - 1}` }))
        if (res.Body === undefined) return Buffer.alloc(0)
        const bytes = await res.Body.transformToByteArray()
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      })
    } catch (e) {
      // a range starting at or past the end: fewer bytes (none) "only at the end of the blob"
      if (statusOf((e as LkError).cause) === 416) return Buffer.alloc(0)
      throw e
    }
  }

  async delete (key: string): Promise<void> {
    const Key = this.#objectKey(key)
    await this.#retry('DELETE', Key, async () => await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key })))
  }

  async close (): Promise<void> {
    this.#client.destroy()
  }

  /** runs one request with the bounded retry policy and maps its final failure to the catalogue */
  async #retry<T> (op: string, objectKey: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn()
      } catch (e) {
        if (e instanceof LkError) throw e
        if (attempt < this.#maxAttempts && isRetryable(e)) {
          await sleep(Math.min(this.#retryBaseMs * 2 ** (attempt - 1), 2000))
          continue
        }
        throw this.#mapError(e, op, objectKey, attempt)
      }
    }
  }

  #mapError (e: unknown, op: string, objectKey: string, attempts: number): LkError {
    const err = (e ?? {}) as S3ErrorShape & { message?: string }
    const status = statusOf(e)
    const name = err.name ?? 'Error'
    const where = `s3://${this.#bucket}/${objectKey}`
    const details = { op, bucket: this.#bucket, key: objectKey, status, s3Error: name, attempts }
    const opts = { cause: e, details }
    if (name === 'NoSuchBucket') return new LkError('LK_BUCKET_NOT_FOUND', `bucket ${this.#bucket} does not exist (${op} ${where})`, opts)
    if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
      return new LkError('LK_OBJECT_NOT_FOUND', `blob ${where} not found`, opts)
    }
    if (CREDENTIAL_NAMES.has(name) || status === 401) {
      return new LkError('LK_CREDENTIALS', `the object store refused the credentials (${name}) for ${op} ${where}`, opts)
    }
    if (status === 403) {
      // HEAD answers carry no error body: a 403 there may be either; the permission code is the
      // honest reading of "forbidden", and its hint does not send the user to the wrong fix
      return new LkError('LK_PERMISSION', `${op} ${where} was denied (${name})`, opts)
    }
    if (status === 416) return new LkError('LK_INTERNAL', `${op} ${where}: range not satisfiable`, opts)
    if (isRetryable(e)) {
      const timeout = err.name !== undefined && TIMEOUT_NAMES.has(err.name)
      return new LkError(timeout ? 'LK_REMOTE_TIMEOUT' : 'LK_REMOTE_UNAVAILABLE',
        `${op} ${where} failed after ${attempts} attempt(s): ${err.message ?? name}${status === undefined ? '' : ` (HTTP ${status})`}`, opts)
    }
    return new LkError('LK_INTERNAL', `${op} ${where} failed: ${err.message ?? name}${status === undefined ? '' : ` (HTTP ${status})`}`, opts)
  }
}
