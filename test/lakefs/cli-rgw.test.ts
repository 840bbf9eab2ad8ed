// End to end on a real object store: Ceph RGW, `lk-mount serve` with its blobs in an RGW bucket,
// and the CLI mounting a branch through the lakeFS backend, reading and writing through the
// mount, unmounting, and checking the commit through the API — once for each data path the
// client has: presigned URLs (the default when the server presigns), the S3 API with the node's
// own storage credentials, and the lakeFS API alone (--no-presign). serve's request log tells
// which path the bytes took: GET .../refs/<ref>/objects is the API's object endpoint.

import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cliHome } from '../support/cli.js'
import { rgwAvailable, startRgw } from '../support/rgw.js'
import { startServe } from '../support/serve.js'
import { shortTmp } from '../support/tmp.js'

const AK = 'AKRGWSERVE'
const SK = 'rgw-serve-secret-never-printed'
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

t.test('mount through the lakeFS backend with blobs on RGW: presigned, S3-direct and API-only data paths', { skip: rgwAvailable() ? false : 'Ceph RGW packages not installed (scripts/setup.sh --test installs them)' }, async t => {
  const rgw = await startRgw()
  t.teardown(async () => { await rgw.stop() })
  await rgw.createBucket('lk-serve')
  const dir = shortTmp(t, 'lkrg-')

  const serve = await startServe(t, {
    dir,
    accessKeyId: AK,
    secretAccessKey: SK,
    args: ['--blobs', 's3://lk-serve/store', '--s3-endpoint', rgw.endpoint],
    env: { AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey, LK_MOUNT_LOG_LEVEL: 'debug' },
  })
  const url = serve.url
  const apiObjectGets = (repo: string): number => serve.output().split('\n').filter(l => l.includes('"method":"GET"') && new RegExp(`"path":"/api/v1/repositories/${repo}/refs/[^"/]+/objects"`).test(l)).length

  const cli = cliHome(t)
  Object.assign(cli.env, { LAKECTL_SERVER_ENDPOINT_URL: url, LAKECTL_CREDENTIALS_ACCESS_KEY_ID: AK, LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY: SK })
  delete cli.env.AWS_ACCESS_KEY_ID
  delete cli.env.AWS_SECRET_ACCESS_KEY
  t.teardown(async () => { await cli.killDaemon() })
  const ok = async (args: string[]): Promise<string> => {
    const r = await cli.run(args, { timeoutMs: 120_000 })
    t.equal(r.code, 0, `lk-mount ${args.join(' ')}`, { stderr: r.stderr })
    return r.stdout
  }

  const data = join(dir, 'data')
  await mkdir(join(data, 'd'), { recursive: true })
  await writeFile(join(data, 'small.txt'), 'small\n')

  const modes = [
    { name: 'presigned', repo: 'rgw-presigned', flags: [] as string[], s3: false, api: false },
    { name: 'S3-direct', repo: 'rgw-direct', flags: ['--s3-endpoint', rgw.endpoint], s3: true, api: false },
    { name: 'API-only', repo: 'rgw-api', flags: ['--no-presign'], s3: false, api: true },
  ]
  for (const m of modes) {
    if (m.s3) Object.assign(cli.env, { AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey })
    else { delete cli.env.AWS_ACCESS_KEY_ID; delete cli.env.AWS_SECRET_ACCESS_KEY }
    // fresh bytes for each path: the daemon's cache is content-addressed and would serve repeats
    const big = randomBytes(9 * 1024 * 1024 + 17)
    await writeFile(join(data, 'd', 'big.bin'), big)
    await writeFile(join(data, 'small.txt'), `small ${m.name}\n`)
    await ok([...m.flags, 'repo', 'create', m.repo])
    await ok([...m.flags, 'import', data, `lakefs://${m.repo}/main`, '-m', `import (${m.name})`])
    const before = apiObjectGets(m.repo)

    const mnt = join(dir, `mnt-${m.name}`)
    await ok([...m.flags, 'mount', `lakefs://${m.repo}/main`, mnt, '--write', '-m', `outputs (${m.name})`, '--meta', `path=${m.name}`])
    const read = await readFile(join(mnt, 'd', 'big.bin'))
    t.equal(sha(read), sha(big), `${m.name}: the 9 MiB file reads back byte-exact through the mount`)
    t.equal(await readFile(join(mnt, 'small.txt'), 'utf8'), `small ${m.name}\n`)
    await writeFile(join(mnt, 'out.bin'), big.subarray(0, 3 * 1024 * 1024))
    await ok(['umount', mnt])
    t.notOk(existsSync(join(mnt, 'out.bin')), `${m.name}: unmounted`)

    const reads = apiObjectGets(m.repo) - before
    if (m.api) t.ok(reads > 0, `${m.name}: data came through the API's object endpoint (${reads} GETs)`)
    else t.equal(reads, 0, `${m.name}: no data through the API's object endpoint`)

    // the commit, checked through the API (a fresh client: the versioning CLI)
    const commits = await cli.json<Array<{ message: string, metadata: Record<string, string> }>>([...m.flags, 'log', `lakefs://${m.repo}/main`, '--json', '--amount', '1'])
    t.equal(commits[0]?.message, `outputs (${m.name})`)
    t.equal(commits[0]?.metadata.path, m.name)
    const cat = await cli.run([...m.flags, 'cat', `lakefs://${m.repo}/main/out.bin`])
    t.equal(sha(Buffer.from(cat.stdout, 'latin1')).length, 64)
    const outStat = await cli.json<Array<{ type: string, stat?: { path: string, size: number } }>>([...m.flags, 'ls', `lakefs://${m.repo}/main`, '--json'])
    t.same(outStat.find(e => e.stat?.path === 'out.bin')?.stat?.size, 3 * 1024 * 1024, `${m.name}: the output is in the commit`)
  }

  // the objects live in the bucket, not on serve's disk
  const listed = await rgw.client.send(new (await import('@aws-sdk/client-s3')).ListObjectsV2Command({ Bucket: 'lk-serve', Prefix: 'store/' }))
  t.ok((listed.KeyCount ?? 0) >= 3, 'blobs are in the RGW bucket')
  t.notMatch(serve.output(), SK, 'serve never logs its secret')
})
