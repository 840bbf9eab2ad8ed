// `lk-mount serve`'s server in-process with its blobs in a real Ceph RGW bucket, behind the
// spec-validating proxy, and a LakefsRemote client talking to it with presigned URLs: the stack
// the RGW tests of the lakeFS client share. Everything is stopped in the test's teardown.

import type { Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LakefsRemote } from '../../lib/remote/lakefs.js'
import { LocalRemote } from '../../lib/remote/local.js'
import { S3BlobStore } from '../../lib/store/blobs-s3.js'
import { S3Presigner } from '../../lib/server/presign-s3.js'
import { startServer } from '../../lib/server/server.js'
import { startSpecProxy } from './lakefs-spec.js'
import { startRgw, type Rgw } from './rgw.js'

export const SERVE_AK = 'AKSERVE'
export const SERVE_SK = 'serve-secret'

export interface RgwServe {
  rgw: Rgw
  /** the store's directory */
  dir: string
  /** endpoint and credentials of the RGW, as the S3 SDK clients take them */
  s3: { endpoint: string, credentials: { accessKeyId: string, secretAccessKey: string } }
  blobs: S3BlobStore
  store: LocalRemote
  presigner: S3Presigner
  server: Awaited<ReturnType<typeof startServer>>
  proxy: Awaited<ReturnType<typeof startSpecProxy>>
  client: LakefsRemote
}

/** blobs in bucket lk-blobs under `store/`, repositories' namespaces under s3://lk-blobs/repos/ */
export async function startRgwServe (t: Test, dirPrefix: string): Promise<RgwServe> {
  const rgw = await startRgw()
  t.teardown(async () => { await rgw.stop() })
  await rgw.createBucket('lk-blobs')
  const dir = await mkdtemp(join(tmpdir(), dirPrefix))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const s3 = { endpoint: rgw.endpoint, credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey } }
  const blobs = new S3BlobStore({ bucket: 'lk-blobs', prefix: 'store', ...s3, maxAttempts: 2 })
  const store = await LocalRemote.open({ dir, blobs })
  const presigner = new S3Presigner({ endpoint: rgw.endpoint, bucket: 'lk-blobs', prefix: 'store', accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: SERVE_AK, secretAccessKey: SERVE_SK, presigner, defaultNamespacePrefix: 's3://lk-blobs/repos/' })
  const proxy = await startSpecProxy(server.url)
  const client = new LakefsRemote({ endpoint: proxy.endpoint, accessKeyId: SERVE_AK, secretAccessKey: SERVE_SK, retries: 1, backoffMs: 10 })
  t.teardown(async () => { await client.close(); await proxy.close(); await server.close(); await store.close() })
  return { rgw, dir, s3, blobs, store, presigner, server, proxy, client }
}
