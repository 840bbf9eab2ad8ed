// `lk-mount serve` as a real process (dist/daemon/serve.js): arguments, start, lakeFS client
// traffic, SIGTERM, restart on the same store, and no secret in its output.

import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseServeArgs } from '../../daemon/serve.js'
import { LakefsRemote } from '../../lib/remote/lakefs.js'
import { B, P, R, buf, codeOf } from '../support/store.js'

const SERVE = fileURLToPath(new URL('../../daemon/serve.js', import.meta.url))
const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url))
const SECRET = 'process-secret-never-printed'

t.test('parseServeArgs', async t => {
  const env = { HOME: '/home/u', LK_SERVE_SECRET_ACCESS_KEY: 'sk' }
  const a = parseServeArgs(['--access-key-id', 'AK'], env)
  t.same(a, { store: '/home/u/.local/share/lk-mount/store', listen: '127.0.0.1:8000', accessKeyId: 'AK', secretAccessKey: 'sk', presignExpirySeconds: 900 })
  const b = parseServeArgs(['--store', '/srv/s', '--listen', '0.0.0.0:9000', '--access-key-id', 'AK', '--secret-access-key', 'x', '--blobs', 's3://bucket/p', '--s3-endpoint', 'http://h:7480'], {})
  t.equal(b.store, '/srv/s')
  t.equal(b.secretAccessKey, 'x')
  t.equal(b.blobs, 's3://bucket/p')
  t.equal(b.s3Endpoint, 'http://h:7480')
  t.throws(() => parseServeArgs([], {}), { code: 'LK_USAGE' }, 'credentials are required')
  t.throws(() => parseServeArgs(['--access-key-id', 'AK', '--bogus'], env), { code: 'LK_USAGE' }, 'unknown flags are refused')
  t.throws(() => parseServeArgs(['--access-key-id', 'AK', '--blobs', 'file:///x'], env), { code: 'LK_USAGE' })
  t.throws(() => parseServeArgs(['--access-key-id', 'AK', '--s3-endpoint', 'http://h'], env), { code: 'LK_USAGE' })
})

interface Proc { child: ChildProcess, url: string, output: () => string, exited: Promise<number | null> }

async function serve (store: string, entry: string[] = [SERVE]): Promise<Proc> {
  const child = spawn(process.execPath, [...entry, '--store', store, '--listen', '127.0.0.1:0', '--access-key-id', 'AKPROC'], {
    env: { ...process.env, LK_SERVE_SECRET_ACCESS_KEY: SECRET, LK_MOUNT_LOG_LEVEL: 'debug', LK_MOUNT_HOME: join(store, '..', 'home') },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>(resolve => { child.on('exit', code => { resolve(code) }) })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`serve did not start: ${out}`)) }, 15_000)
    const check = (): void => {
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m?.[1] !== undefined) { clearTimeout(timer); resolve(m[1]) }
    }
    child.stdout?.on('data', check)
    void exited.then(code => { clearTimeout(timer); reject(new Error(`serve exited ${String(code)}: ${out}`)) })
  })
  return { child, url, output: () => out, exited }
}

t.test('serve as a process: traffic, SIGTERM, restart on the same store', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-serve-proc-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const store = join(dir, 'store')

  const first = await serve(store)
  t.teardown(() => { if (first.child.exitCode === null) first.child.kill('SIGKILL') })
  const c1 = new LakefsRemote({ endpoint: first.url + '/api/v1', accessKeyId: 'AKPROC', secretAccessKey: SECRET, retries: 1, backoffMs: 10 })
  await c1.createRepo(R('proc-repo'))
  await c1.putObject(R('proc-repo'), B('main'), P('a.txt'), buf('persisted'))
  const commit = await c1.commit(R('proc-repo'), B('main'), { message: 'from a client' })
  const wrong = new LakefsRemote({ endpoint: first.url + '/api/v1', accessKeyId: 'AKPROC', secretAccessKey: 'nope' })
  t.equal(await codeOf(wrong.listRepos()), 'LK_CREDENTIALS')

  const t0 = Date.now()
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0, 'exits 0 on SIGTERM')
  t.ok(Date.now() - t0 < 5000, 'promptly')
  t.equal(await codeOf(c1.listRepos()), 'LK_REMOTE_UNAVAILABLE', 'gone after SIGTERM')
  t.notMatch(first.output(), SECRET, 'the secret never appears in the output')
  t.match(first.output(), /"status":201/, 'requests are logged (debug)')

  // the second run goes through the CLI: `lk-mount serve` runs the same entry in the foreground
  const second = await serve(store, [CLI, 'serve'])
  t.teardown(() => { if (second.child.exitCode === null) second.child.kill('SIGKILL') })
  const c2 = new LakefsRemote({ endpoint: second.url + '/api/v1', accessKeyId: 'AKPROC', secretAccessKey: SECRET })
  t.equal(await c2.resolveRef(R('proc-repo'), 'main'), commit.id, 'the commit survived the restart')
  const stat = await c2.statObject(R('proc-repo'), 'main', P('a.txt'))
  t.equal((await c2.readRange(R('proc-repo'), stat, 0, 100)).toString(), 'persisted')
  second.child.kill('SIGINT')
  t.equal(await second.exited, 0, 'the CLI forwards SIGINT and exits 0')
  t.equal(await codeOf(c2.listRepos()), 'LK_REMOTE_UNAVAILABLE', 'and the server is gone with it')
})

t.test('serve refuses to start without credentials, with a usage exit code', async t => {
  const child = spawn(process.execPath, [SERVE, '--listen', '127.0.0.1:0'], { env: { ...process.env, LK_SERVE_SECRET_ACCESS_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise<number | null>(resolve => { child.on('exit', c => { resolve(c) }) })
  t.equal(code, 2)
  t.match(err, /needs credentials/)
})
