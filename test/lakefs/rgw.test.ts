// `lk-mount serve` with its blobs in a real Ceph RGW bucket: the lakeFS client then moves bytes
// straight between itself and RGW through presigned URLs — reads by presigned GET (the API's
// object endpoint is never used), writes by staging/backing + presigned PUT + link — and every
// exchange with the API is still checked against the spec.

import t from 'tap'
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { LakefsRemote } from '../../lib/remote/lakefs.js'
import { startSpecProxy } from '../support/lakefs-spec.js'
import { rgwAvailable } from '../support/rgw.js'
import { SERVE_AK, SERVE_SK, startRgwServe } from '../support/rgw-serve.js'
import { B, P, R, buf, codeOf } from '../support/store.js'

const AK = SERVE_AK
const SK = SERVE_SK

t.test('blobs on RGW: presigned reads and writes through the lakeFS client', { skip: rgwAvailable() ? false : 'Ceph RGW packages not installed (scripts/setup.sh --test)' }, async t => {
  const { rgw, dir, s3, blobs, store, server, proxy, client } = await startRgwServe(t, 'lk-lakefs-rgw-')

  const repo = R('on-rgw')
  const info = await client.createRepo(repo)
  t.equal(info.storageNamespace, 's3://lk-blobs/repos/on-rgw', 'namespace derived from the server default prefix')

  // writes: presigned PUT to RGW, then link
  const data = Buffer.alloc(6 * 1024 * 1024 + 3)
  for (let i = 0; i < data.length; i++) data[i] = (i * 13) % 256
  const file = join(dir, 'data.bin')
  await writeFile(file, data)
  const sha = createHash('sha256').update(data).digest('hex')
  let t0 = Date.now()
  const put = await client.putObject(repo, B('main'), P('data/big.bin'), { kind: 'file', file, size: data.length, sha256: sha }, { contentType: 'application/x-test', metadata: { Source: 'rgw-test' } })
  const putMs = Date.now() - t0
  t.equal(put.size, data.length)
  const md5 = createHash('md5').update(data).digest('hex')
  t.equal(put.checksum, md5, "lakeFS's checksum of a link: the client's (RGW's ETag, the MD5 hex)")
  t.equal((await store.statObject(repo, 'main', P('data/big.bin'))).checksum, sha, 'the store still keys it by its sha256')
  t.same(put.metadata, { Source: 'rgw-test' })
  await client.putObject(repo, B('main'), P('data/small.txt'), buf('small'))
  t.ok(proxy.operations.has('getPhysicalAddress') && proxy.operations.has('linkPhysicalAddress'), 'uploads went through staging/backing')
  t.notOk(proxy.operations.has('uploadObject'), 'no upload through the API')
  const commit = await client.commit(repo, B('main'), { message: 'rgw data' })

  // reads: presigned GET straight from RGW
  const stat = await client.statObject(repo, commit.id, P('data/big.bin'))
  t.match(stat.physicalAddress, /^http:\/\/127\.0\.0\.1:\d+\/lk-blobs\/store\/.*X-Amz-Signature=/, 'stat hands out a presigned URL')
  t0 = Date.now()
  const whole = await client.readRange(repo, stat, 0, data.length)
  const readMs = Date.now() - t0
  t.ok(whole.equals(data), 'whole object read from RGW')
  t.same(await client.readRange(repo, stat, 5_000_000, 5_000_010), data.subarray(5_000_000, 5_000_010))
  const listed = await client.listObjects(repo, commit.id, { prefix: 'data/' })
  const small = listed.entries.find(e => e.type === 'object' && e.stat.path === 'data/small.txt')
  t.equal(small?.type, 'object')
  if (small?.type === 'object') t.equal((await client.readRange(repo, small.stat, 0, 100)).toString(), 'small', 'listing entries carry presigned URLs too')
  t.notOk(proxy.operations.has('getObject'), 'no read went through the API')
  // getObject?presign=true redirects to the bucket, as lakeFS does
  const redirect = await fetch(`${server.endpoint}/repositories/on-rgw/refs/${commit.id}/objects?path=data/small.txt&presign=true`, { headers: { authorization: 'Basic ' + Buffer.from(`${AK}:${SK}`).toString('base64') }, redirect: 'manual' })
  t.equal(redirect.status, 302)
  t.equal(await (await fetch(redirect.headers.get('location') ?? '')).text(), 'small', 'the Location serves the object')

  // a forged staging address is refused (the server only links what it handed out)
  const forged = await fetch(`${server.endpoint}/repositories/on-rgw/branches/main/staging/backing?path=x`, {
    method: 'PUT',
    headers: { authorization: 'Basic ' + Buffer.from(`${AK}:${SK}`).toString('base64'), 'content-type': 'application/json' },
    body: JSON.stringify({ staging: { physical_address: `s3://lk-blobs/store/${sha.slice(0, 2)}/${sha}` }, checksum: 'x', size_bytes: 1 }),
  })
  t.equal(forged.status, 400)

  t.equal(await codeOf(client.statObject(repo, commit.id, P('data/none'))), 'LK_OBJECT_NOT_FOUND')
  t.same(proxy.violations, [], 'every exchange matched the spec')
  t.comment(`RGW via presigned URLs: put 6 MiB in ${putMs} ms, read 6 MiB in ${readMs} ms`)

  // the SDK-direct data path: the client has its own S3 credentials and uses s3:// addresses
  const proxy2 = await startSpecProxy(server.url)
  const direct = new LakefsRemote({ endpoint: proxy2.endpoint, accessKeyId: AK, secretAccessKey: SK, retries: 1, backoffMs: 10, s3: { endpoint: rgw.endpoint, credentials: s3.credentials } })
  t.teardown(async () => { await direct.close(); await proxy2.close() })
  t.match(direct.description, /direct S3/)
  t.notMatch(direct.description, rgw.secretAccessKey)
  t0 = Date.now()
  const dput = await direct.putObject(repo, B('main'), P('direct/big.bin'), { kind: 'file', file, size: data.length, sha256: sha }, { metadata: { via: 'sdk' } })
  const dPutMs = Date.now() - t0
  t.equal(dput.checksum, md5)
  t.same(dput.metadata, { via: 'sdk' })
  await direct.commit(repo, B('main'), { message: 'direct' })
  const dstat = await direct.statObject(repo, 'main', P('direct/big.bin'))
  t.match(dstat.physicalAddress, /^s3:\/\/lk-blobs\/store\//, 'no presigned URL asked for: the raw s3:// address')
  t0 = Date.now()
  const dwhole = await direct.readRange(repo, dstat, 0, data.length)
  const dReadMs = Date.now() - t0
  t.ok(dwhole.equals(data), 'read straight from RGW with the SDK')
  t.same(await direct.readRange(repo, dstat, 10, 20), data.subarray(10, 20))
  t.ok(proxy2.operations.has('getPhysicalAddress') && proxy2.operations.has('linkPhysicalAddress'), 'writes: staging location, SDK PutObject, link')
  t.notOk(proxy2.operations.has('getObject') || proxy2.operations.has('uploadObject'), 'no data through the API')
  const wrongS3 = new LakefsRemote({ endpoint: proxy2.endpoint, accessKeyId: AK, secretAccessKey: SK, retries: 0, s3: { endpoint: rgw.endpoint, credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: 'wrong' } } })
  t.teardown(async () => { await wrongS3.close() })
  const wstat = await wrongS3.statObject(repo, 'main', P('direct/big.bin'))
  t.equal(await codeOf(wrongS3.readRange(repo, wstat, 0, 10)), 'LK_CREDENTIALS', 'refused S3 credentials are a credentials error')
  t.same(proxy2.violations, [], 'every exchange matched the spec')
  t.comment(`RGW via the SDK: put 6 MiB in ${dPutMs} ms, read 6 MiB in ${dReadMs} ms`)
})
