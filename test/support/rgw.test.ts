// The RGW harness itself: it starts, serves S3 with the user it created, and stop() leaves no
// daemon and no directory behind.

import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { startRgw, rgwAvailable } from './rgw.js'
import { makeS3Client } from './s3.js'

t.test('startRgw serves S3 and stop() cleans up', { skip: rgwAvailable() ? false : 'Ceph RGW not installed (scripts/setup.sh --test)' }, async (t) => {
  const rgw = await startRgw()
  t.teardown(async () => { await rgw.stop() })
  t.comment(`RGW start -> ready with user: ${rgw.startMs} ms`)
  t.match(rgw.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.notMatch(rgw.endpoint, /:7480$/, 'port is picked, not the default')

  await rgw.createBucket('harness')
  const body = Buffer.from('hello rgw\n')
  await rgw.client.send(new PutObjectCommand({ Bucket: 'harness', Key: 'a/b.txt', Body: body }))
  const got = await rgw.client.send(new GetObjectCommand({ Bucket: 'harness', Key: 'a/b.txt' }))
  t.same(Buffer.from(await got.Body!.transformToByteArray()), body)

  // a second, independent client with wrong secret is refused
  const bad = makeS3Client({ endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: 'wrong' }, { maxAttempts: 1 })
  await t.rejects(bad.send(new GetObjectCommand({ Bucket: 'harness', Key: 'a/b.txt' })), { name: 'SignatureDoesNotMatch' })
  bad.destroy()

  const runDir = join(rgw.dir, 'run')
  const pids = readdirSync(runDir).filter(n => n.endsWith('.pid')).map(n => Number(readFileSync(join(runDir, n), 'utf8')))
  t.equal(pids.length, 3, 'mon, osd and rgw pid files')
  await rgw.stop()
  for (const pid of pids) {
    const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : ''
    t.notMatch(stat, /\) [RSD] /, `daemon ${pid} is gone`)
  }
  t.notOk(existsSync(rgw.dir), 'temp dir removed')
  await rgw.stop() // idempotent
})
