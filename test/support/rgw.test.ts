// The RGW harness itself: it starts, serves S3 with the user it created, and stop() leaves no
// daemon and no directory behind.

import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer } from 'node:net'
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

t.test('a port taken between pick and bind: a clear error, or a retry with fresh ports', { skip: rgwAvailable() ? false : 'Ceph RGW not installed' }, async (t) => {
  // hold a port, and hand it to the harness as the monitor's (pick 1) or radosgw's (pick 2)
  const blocker = createServer()
  await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { blocker.close() })
  const addr = blocker.address()
  const taken = typeof addr === 'object' && addr !== null ? addr.port : 0
  const free = async (avoid: number[]): Promise<number> => await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address()
      const p = typeof a === 'object' && a !== null ? a.port : 0
      s.close(() => resolve(avoid.includes(p) ? 0 : p))
    })
  })
  let picks = 0
  let takenPick = 0
  const pickPort = async (avoid: number[]): Promise<number> => (++picks === takenPick ? taken : await free(avoid))

  for (const [which, log] of [[1, /unable to bind/], [2, /failed to bind/]] as const) {
    picks = 0
    takenPick = which
    const t0 = Date.now()
    const err = await startRgw({ attempts: 1, pickPort, timeoutMs: 30_000 }).catch((e: unknown) => e as Error)
    t.type(err, Error, `port ${which === 1 ? 'of the monitor' : 'of radosgw'} taken`)
    const msg = String((err as Error).message)
    t.match(msg, /attempt 1 of 1/)
    t.match(msg, log, 'the error carries the ceph log lines that say why')
    t.ok(Date.now() - t0 < 15_000, `failed fast (${Date.now() - t0} ms)`)
    const dir = /cluster dir (\S+), removed/.exec(msg)?.[1] ?? 'no dir in the message'
    t.notOk(existsSync(dir), 'its directory is gone')
    const leftover = readdirSync('/proc').filter(p => /^\d+$/.test(p)).filter((p) => {
      try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir) && !/\) Z /.test(readFileSync(`/proc/${p}/stat`, 'utf8')) } catch { return false }
    })
    t.same(leftover, [], 'no process of the failed cluster is left')
  }

  picks = 0
  takenPick = 2
  const rgw = await startRgw({ attempts: 3, pickPort })
  t.teardown(() => rgw.stop())
  t.not(rgw.endpoint, `http://127.0.0.1:${taken}`, 'second attempt on a fresh port')
  t.ok(picks >= 4, 'ports were picked again')
  await rgw.stop()
})
