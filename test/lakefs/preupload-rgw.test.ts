// Pre-uploads against `lk-mount serve` with blobs in a real Ceph RGW: LakefsRemote.preUpload puts
// bytes at a staging location without staging anything on the branch; commitChanges links them
// (one request each), and the server records each upload where it lies (no second upload, no
// delete). A pre-upload that can no longer be linked is uploaded again.

import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LakefsRemote } from '../../lib/remote/lakefs.js'
import { LocalRemote } from '../../lib/remote/local.js'
import type { Change } from '../../lib/remote/types.js'
import { S3Presigner } from '../../lib/server/presign-s3.js'
import { startServer } from '../../lib/server/server.js'
import { rgwAvailable } from '../support/rgw.js'
import { SERVE_AK, SERVE_SK, startRgwServe } from '../support/rgw-serve.js'
import { B, P, R } from '../support/store.js'

const AK = SERVE_AK
const SK = SERVE_SK
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

t.test('pre-uploads are linked at commit where they lie', { skip: rgwAvailable() ? false : 'Ceph RGW packages not installed (scripts/setup.sh --test)' }, async t => {
  const { rgw, dir, s3, blobs, store, presigner, server, proxy, client } = await startRgwServe(t, 'lk-preupload-rgw-')

  const repo = R('pre')
  await client.createRepo(repo)
  const base = await client.resolveRef(repo, 'main')
  const a = Buffer.from('alpha bytes')
  const b = Buffer.alloc(9 * 1024 * 1024 + 5, 7) // larger than the server links from memory
  const upA = await client.preUpload(repo, B('main'), P('a.txt'), a)
  const upB = await client.preUpload(repo, B('main'), P('b.bin'), b)
  t.ok(upA !== undefined && upB !== undefined, 'the server hands out staging locations')
  if (upA === undefined || upB === undefined) return
  t.equal(upA.sha256, sha(a))
  t.equal(upA.size, a.length)
  t.same((await client.diffStaged(repo, B('main'))).entries, [], 'a pre-upload stages nothing on the branch')

  const fa = join(dir, 'a'); await writeFile(fa, a)
  const fb = join(dir, 'b'); await writeFile(fb, b)
  const fc = join(dir, 'c'); await writeFile(fc, 'gamma')
  const changes: Change[] = [
    { op: 'put', path: P('x/a.txt'), content: { kind: 'file', file: fa, size: a.length, sha256: sha(a) }, preUploaded: upA },
    { op: 'put', path: P('x/b.bin'), content: { kind: 'file', file: fb, size: b.length, sha256: sha(b) }, preUploaded: upB },
    // never uploaded there (a forged or expired location): uploaded again from the file
    { op: 'put', path: P('x/c.txt'), content: { kind: 'file', file: fc, size: 5, sha256: sha(Buffer.from('gamma')) }, preUploaded: { ...upA, address: upA.address.replace(/[0-9a-f]{8}-/, '00000000-') } },
  ]
  const c1 = await client.commitChanges(repo, B('main'), changes, { base, message: 'linked' })
  const sa = await store.statObject(repo, c1.id, P('x/a.txt'))
  t.equal(sa.checksum, sha(a), 'the store checksum is the sha256 of the linked bytes')
  t.match(sa.physicalAddress, /^s3:\/\/lk-blobs\/store\/_uploads\/[0-9a-f-]{36}$/, 'linked where it was uploaded')
  t.equal((await store.readRange(repo, sa, 0, 100)).toString(), 'alpha bytes')
  const sb = await store.statObject(repo, c1.id, P('x/b.bin'))
  t.equal(sb.checksum, sha(b))
  t.ok((await client.readRange(repo, await client.statObject(repo, c1.id, P('x/b.bin')), 0, b.length)).equals(b), 'read back through a presigned URL')
  const sc = await client.statObject(repo, c1.id, P('x/c.txt'))
  t.equal((await client.readRange(repo, sc, 0, 10)).toString(), 'gamma', 'the unlinkable pre-upload was uploaded again')

  // linking the same upload again (a retry after a lost answer) is harmless
  const c2 = await client.commitChanges(repo, B('main'), [{ op: 'put', path: P('y/a.txt'), content: { kind: 'file', file: fa, size: a.length, sha256: sha(a) }, preUploaded: upA }], { base: c1.id, message: 'again' })
  t.equal((await client.readRange(repo, await client.statObject(repo, c2.id, P('y/a.txt')), 0, 100)).toString(), 'alpha bytes')
  t.same(proxy.violations, [], 'every exchange matched the spec')

  // a store whose blobs are not in that bucket (a library user's setup): the link copies the
  // upload into the store instead of recording its address
  const dir2 = await mkdtemp(join(tmpdir(), 'lk-preupload-rgw-local-'))
  t.teardown(async () => { await rm(dir2, { recursive: true, force: true }) })
  const local = await LocalRemote.open({ dir: dir2 })
  const server2 = await startServer({ remote: local, listen: '127.0.0.1:0', accessKeyId: AK, secretAccessKey: SK, presigner })
  const client2 = new LakefsRemote({ endpoint: server2.endpoint, accessKeyId: AK, secretAccessKey: SK, retries: 1, backoffMs: 10 })
  t.teardown(async () => { await client2.close(); await server2.close(); await local.close() })
  await client2.createRepo(R('loc'), { storageNamespace: 'local://loc' })
  const put = await client2.putObject(R('loc'), B('main'), P('z.txt'), { kind: 'buffer', data: Buffer.from('zeta') })
  t.equal(put.checksum, createHash('md5').update('zeta').digest('hex'), "lakeFS's checksum: the MD5 hex")
  t.equal((await local.statObject(R('loc'), 'main', P('z.txt'))).checksum, sha(Buffer.from('zeta')), 'the content address is sha256')
  const lz = await local.statObject(R('loc'), 'main', P('z.txt'))
  t.notMatch(lz.physicalAddress, /_uploads/, 'copied into the local blob store')
  t.equal((await local.readRange(R('loc'), lz, 0, 10)).toString(), 'zeta')
})
