// The RGW harness itself: a taken port gives a fast, clear error (or a retry on fresh ports); a
// started cluster serves S3 with the user it created; stop() leaves no daemon and no directory.

import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { startRgw, rgwAvailable, freePort } from './rgw.js'
import { makeS3Client } from './s3.js'

const skip = rgwAvailable() ? false : 'Ceph RGW not installed (scripts/setup.sh --test)'

function processesMentioning (text: string): string[] {
  return readdirSync('/proc').filter(p => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(text) && !/\) Z /.test(readFileSync(`/proc/${p}/stat`, 'utf8'))
    } catch { return false }
  })
}

t.test('the RGW harness', { skip }, async (t) => {
  // hold a port, and hand it to the harness as the monitor's (pick 1) or radosgw's (pick 2)
  const blocker = createServer()
  await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { blocker.close() })
  const addr = blocker.address()
  const taken = typeof addr === 'object' && addr !== null ? addr.port : 0
  let picks = 0
  let takenPick = 0
  const pickPort = async (avoid: number[]): Promise<number> => (++picks === takenPick ? taken : await freePort(avoid))

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
    t.same(processesMentioning(dir), [], 'no process of the failed cluster is left')
  }

  // the same race with retries allowed: the second attempt picks fresh ports and comes up
  picks = 0
  takenPick = 2
  const rgw = await startRgw({ pickPort })
  t.teardown(() => rgw.stop())
  t.comment(`RGW start -> ready with user, one lost port race included: ${rgw.startMs} ms`)
  t.ok(picks >= 4, 'ports were picked again')
  t.match(rgw.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.not(rgw.endpoint, `http://127.0.0.1:${taken}`, 'not on the taken port')

  await rgw.createBucket('harness')
  const body = Buffer.from('hello rgw\n')
  await rgw.client.send(new PutObjectCommand({ Bucket: 'harness', Key: 'a/b.txt', Body: body }))
  const got = await rgw.client.send(new GetObjectCommand({ Bucket: 'harness', Key: 'a/b.txt' }))
  t.same(Buffer.from(await got.Body!.transformToByteArray()), body, 'PUT then GET with the generated user')

  // an independent client with the wrong secret is refused: signatures are really checked
  const bad = makeS3Client({ endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: 'wrong' }, { maxAttempts: 1 })
  await t.rejects(bad.send(new GetObjectCommand({ Bucket: 'harness', Key: 'a/b.txt' })), { name: 'SignatureDoesNotMatch' })
  bad.destroy()

  const runDir = join(rgw.dir, 'run')
  const pids = readdirSync(runDir).filter(n => n.endsWith('.pid')).map(n => Number(readFileSync(join(runDir, n), 'utf8')))
  t.equal(pids.length, 3, 'mon, osd and rgw pid files')
  const dir = rgw.dir
  await rgw.stop()
  for (const pid of pids) {
    const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : ''
    t.notMatch(stat, /\) [RSD] /, `daemon ${pid} is gone`)
  }
  t.same(processesMentioning(dir), [], 'no process of the cluster is left')
  t.notOk(existsSync(dir), 'temp dir removed')
  await rgw.stop() // idempotent
})
