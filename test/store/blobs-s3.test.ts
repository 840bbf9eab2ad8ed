// S3BlobStore against a real Ceph RGW (test/support/rgw.ts): content round trips, ranges at the
// end of a blob, a multipart upload verified by sha256, and the catalogue codes for a missing
// key, a missing bucket, refused credentials and an unreachable endpoint.

import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { createServer as createHttpServer } from 'node:http'
import { HeadObjectCommand } from '@aws-sdk/client-s3'
import { S3BlobStore, parseS3Uri } from '../../lib/store/blobs-s3.js'
import { LkError } from '../../lib/core/errors.js'
import { startRgw, rgwAvailable } from '../support/rgw.js'

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

t.test('parseS3Uri', async (t) => {
  t.same(parseS3Uri('s3://bucket'), { bucket: 'bucket', prefix: '' })
  t.same(parseS3Uri('s3://bucket/'), { bucket: 'bucket', prefix: '' })
  t.same(parseS3Uri('s3://my.bucket-1/lk/blobs/'), { bucket: 'my.bucket-1', prefix: 'lk/blobs' })
  for (const bad of ['http://bucket/x', 's3://', 's3://Bucket', 's3://ab', 's3://b_c/x', 's3://bucket/a//b', 's3://bucket/../x', 's3://-bucket']) {
    t.throws(() => parseS3Uri(bad), { code: 'LK_USAGE' }, bad)
  }
})

t.test('unreachable endpoint: LK_REMOTE_UNAVAILABLE after bounded retries', async (t) => {
  // a port that was free a moment ago: connection refused
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0))
    })
  })
  const store = new S3BlobStore({ bucket: 'nowhere', prefix: '', endpoint: `http://127.0.0.1:${port}`, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 3, retryBaseMs: 20 })
  t.teardown(() => store.close())
  const t0 = Date.now()
  const err = await store.has(sha256(Buffer.from('x'))).catch((e: unknown) => e)
  t.type(err, LkError)
  t.match(err, { code: 'LK_REMOTE_UNAVAILABLE', retryable: true, details: { attempts: 3 } })
  t.ok(Date.now() - t0 < 5000, 'bounded')
})

t.test('5xx answers are retried a bounded number of times', async (t) => {
  // a real HTTP server standing in for an overloaded S3 endpoint
  let requests = 0
  let failures = Infinity
  const srv = createHttpServer((req, res) => {
    requests++
    if (requests <= failures) {
      res.writeHead(503, { 'content-type': 'application/xml' })
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>')
      return
    }
    res.writeHead(200, { 'content-length': '5', etag: '"abc"' })
    res.end()
  })
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { srv.close() })
  const addr = srv.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  const store = new S3BlobStore({ bucket: 'busy', prefix: 'p', endpoint: `http://127.0.0.1:${port}`, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 3, retryBaseMs: 10 })
  t.teardown(() => store.close())
  const key = sha256(Buffer.from('busy'))
  await t.rejects(store.getRange(key, 0, 5), { code: 'LK_REMOTE_UNAVAILABLE', exitCode: 5, details: { status: 503, attempts: 3 } })
  t.equal(requests, 3, 'three attempts, then it gives up')
  requests = 0
  failures = 1
  t.equal(await store.has(key), true, 'a transient 503 is retried')
  t.equal(requests, 2)
})

t.test('against a real RGW', { skip: rgwAvailable() ? false : 'Ceph RGW not installed (scripts/setup.sh --test)' }, async (t) => {
  const rgw = await startRgw()
  t.teardown(() => rgw.stop())
  t.comment(`RGW ready in ${rgw.startMs} ms`)
  await rgw.createBucket('blobs')
  const cfg = { bucket: 'blobs', prefix: 'lk/v1', endpoint: rgw.endpoint, region: rgw.region, credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey } }
  const store = new S3BlobStore(cfg)
  t.teardown(() => store.close())
  const dir = t.testdir({})

  t.test('put buffer, has, getRange, delete', async (t) => {
    const data = randomBytes(100_000)
    const key = sha256(data)
    t.equal(await store.has(key), false, 'absent before put')
    await store.put(key, { kind: 'buffer', data })
    t.equal(await store.has(key), true)
    t.equal(store.address(key), `s3://blobs/lk/v1/${key.slice(0, 2)}/${key}`)
    const head = await rgw.client.send(new HeadObjectCommand({ Bucket: 'blobs', Key: `lk/v1/${key.slice(0, 2)}/${key}` }))
    t.equal(head.ContentLength, data.length, 'stored under <prefix>/<aa>/<sha256>')
    t.same(await store.getRange(key, 0, data.length), data, 'whole blob')
    t.same(await store.getRange(key, 1000, 5000), data.subarray(1000, 5000), 'middle range')
    t.same(await store.getRange(key, data.length - 10, data.length + 500), data.subarray(data.length - 10), 'range past the end is cut')
    t.same(await store.getRange(key, data.length, data.length + 10), Buffer.alloc(0), 'range at the end is empty')
    t.same(await store.getRange(key, data.length + 100, data.length + 200), Buffer.alloc(0), 'range past the end is empty')
    t.same(await store.getRange(key, 7, 7), Buffer.alloc(0), 'empty range')
    await store.put(key, { kind: 'buffer', data }) // idempotent
    await store.delete(key)
    t.equal(await store.has(key), false, 'gone after delete')
    await store.delete(key) // idempotent
  })

  t.test('missing key', async (t) => {
    const key = sha256(Buffer.from('never stored'))
    await t.rejects(store.getRange(key, 0, 10), { code: 'LK_OBJECT_NOT_FOUND', errno: 'ENOENT' })
    await t.rejects(store.getRange(key, 0, 0), { code: 'LK_OBJECT_NOT_FOUND' })
  })

  t.test('small file streams in one PUT; empty blob', async (t) => {
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const file = join(dir, 'small.bin')
    await writeFile(file, data)
    const key = sha256(data)
    await store.put(key, { kind: 'file', file, size: data.length })
    t.equal(sha256(await store.getRange(key, 0, data.length)), key)
    const empty = Buffer.alloc(0)
    await store.put(sha256(empty), { kind: 'buffer', data: empty })
    t.equal(await store.has(sha256(empty)), true)
    t.same(await store.getRange(sha256(empty), 0, 10), empty)
  })

  t.test('a ~70 MiB file goes up in parallel parts', async (t) => {
    const data = randomBytes(70 * 1024 * 1024 + 12345)
    const file = join(dir, 'big.bin')
    await writeFile(file, data)
    const key = sha256(data)
    const t0 = Date.now()
    await store.put(key, { kind: 'file', file, size: data.length })
    const ms = Date.now() - t0
    t.comment(`multipart PUT of ${(data.length / 2 ** 20).toFixed(1)} MiB: ${ms} ms (${(data.length / 2 ** 20 / (ms / 1000)).toFixed(0)} MiB/s)`)
    const head = await rgw.client.send(new HeadObjectCommand({ Bucket: 'blobs', Key: `lk/v1/${key.slice(0, 2)}/${key}` }))
    t.match(head.ETag, /-5"?$/, 'five 16 MiB parts')
    const back = await store.getRange(key, 0, data.length)
    t.equal(back.length, data.length)
    t.equal(sha256(back), key, 'content verified by sha256')
    const tail = await store.getRange(key, data.length - 4096, data.length + 4096)
    t.same(tail, data.subarray(data.length - 4096), 'last bytes across the last part')
    await store.delete(key)
  })

  t.test('refused credentials and missing bucket', async (t) => {
    const key = sha256(Buffer.from('creds'))
    await store.put(key, { kind: 'buffer', data: Buffer.from('creds') })
    const wrongSecret = new S3BlobStore({ ...cfg, credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: 'not-the-secret' } })
    const unknownKey = new S3BlobStore({ ...cfg, credentials: { accessKeyId: 'NOSUCHKEY0000000000', secretAccessKey: rgw.secretAccessKey } })
    t.teardown(async () => { await wrongSecret.close(); await unknownKey.close() })
    for (const s of [wrongSecret, unknownKey]) {
      await t.rejects(s.has(key), { code: 'LK_CREDENTIALS', exitCode: 6 }, 'has')
      await t.rejects(s.getRange(key, 0, 5), { code: 'LK_CREDENTIALS' }, 'getRange')
      await t.rejects(s.put(key, { kind: 'buffer', data: Buffer.from('creds') }), { code: 'LK_CREDENTIALS' }, 'put')
    }
    const noBucket = new S3BlobStore({ ...cfg, bucket: 'no-such-bucket' })
    t.teardown(() => noBucket.close())
    await t.rejects(noBucket.put(key, { kind: 'buffer', data: Buffer.from('creds') }), { code: 'LK_BUCKET_NOT_FOUND' })
  })
})
