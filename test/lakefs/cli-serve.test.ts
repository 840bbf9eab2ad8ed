// The versioning CLI and a write mount, unchanged, against `lk-mount serve` through the lakeFS
// backend: the CLI finds the endpoint the lakectl way (LAKECTL_* variables here, a lakectl config
// file in the second test), the daemon talks lakeFS REST to a real serve process.

import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cliHome } from '../support/cli.js'
import { lakefsCli, startServe } from '../support/serve.js'
import { shortTmp } from '../support/tmp.js'

const AK = 'AKCLISERVE'
const SK = 'cli-serve-secret-never-printed'

t.test('versioning CLI and a write mount through the lakeFS backend', async t => {
  const dir = shortTmp(t, 'lkcs-')
  const { url } = await startServe(t, { dir, accessKeyId: AK, secretAccessKey: SK })
  const { cli, ok } = lakefsCli(t, { url, accessKeyId: AK, secretAccessKey: SK })

  const data = join(dir, 'data')
  await mkdir(join(data, 'train'), { recursive: true })
  await writeFile(join(data, 'train', 'a.bin'), Buffer.alloc(70_000, 7))
  await writeFile(join(data, 'labels.csv'), 'a,1\n')
  await ok(['repo', 'create', 'remote-repo'])
  await ok(['import', data, 'lakefs://remote-repo/main', '-m', 'import over lakeFS', '--meta', 'src=test'])
  const ls = await cli.json<Array<{ type: string, path?: string, stat?: { path: string, size: number } }>>(['ls', 'lakefs://remote-repo/main', '--recursive', '--json'])
  t.same(ls.map(e => [e.stat?.path, e.stat?.size]), [['labels.csv', 4], ['train/a.bin', 70_000]])
  t.equal(await ok(['cat', 'lakefs://remote-repo/main/labels.csv']), 'a,1\n')
  await ok(['branch', 'create', 'lakefs://remote-repo/exp', '--source', 'lakefs://remote-repo/main'])

  const mnt = join(dir, 'mnt')
  await ok(['mount', 'lakefs://remote-repo/exp', mnt, '--write', '-m', 'outputs over lakeFS', '--meta', 'run=7'])
  t.same((await readFile(join(mnt, 'train', 'a.bin'))).length, 70_000, 'lazy read through the lakeFS backend')
  await writeFile(join(mnt, 'out.txt'), 'result\n')
  await ok(['umount', mnt])
  t.notOk(existsSync(join(mnt, 'out.txt')), 'unmounted')

  const log = await cli.json<Array<{ message: string, metadata: Record<string, string> }>>(['log', 'lakefs://remote-repo/exp', '--json', '--amount', '1'])
  t.equal(log[0]?.message, 'outputs over lakeFS')
  t.equal(log[0]?.metadata.run, '7')
  t.equal(await ok(['cat', 'lakefs://remote-repo/exp/out.txt']), 'result\n', 'the commit is in lakeFS')

  await ok(['merge', 'lakefs://remote-repo/exp', 'lakefs://remote-repo/main'])
  await ok(['tag', 'create', 'lakefs://remote-repo/v1', 'lakefs://remote-repo/main'])
  t.equal(await ok(['cat', 'lakefs://remote-repo/v1/out.txt']), 'result\n', 'merged and tagged')
  const diff = await cli.json<Array<{ path: string, type: string }>>(['diff', 'lakefs://remote-repo/main~1', 'lakefs://remote-repo/main', '--json'])
  t.same(diff.map(d => [d.path, d.type]), [['out.txt', 'added']])

  const status = await cli.run(['status', '--json'])
  t.notMatch(status.stdout + status.stderr, SK, 'the secret never appears in status')

  // a wrong secret is a credentials error (exit 6) that never prints the secret
  const bad = await cli.run(['ls', 'lakefs://remote-repo/main'].concat(['--secret-access-key', 'wrong-secret-value']))
  t.equal(bad.code, 6, 'credentials error')
  t.notMatch(bad.stderr, 'wrong-secret-value')

  // --store still addresses an embedded store, whatever lakectl says
  await ok(['--store', join(dir, 'local-store'), 'repo', 'create', 'local-only'])
  t.notMatch(await ok(['repo', 'list']), 'local-only', 'the lakeFS server did not get it')
})

t.test('the endpoint and keys from a lakectl config file', async t => {
  const dir = shortTmp(t, 'lkcf-')
  const { url } = await startServe(t, { dir, accessKeyId: AK, secretAccessKey: SK })
  const cli = cliHome(t)
  t.teardown(async () => { await cli.killDaemon() })
  const cfg = join(dir, 'lakectl.yaml')
  await writeFile(cfg, `credentials:\n  access_key_id: ${AK}\n  secret_access_key: ${SK}\nserver:\n  endpoint_url: ${url}\n`, { mode: 0o600 })
  const r = await cli.run(['--lakectl-config', cfg, 'repo', 'create', 'from-config'])
  t.equal(r.code, 0, r.stderr)
  const list = await cli.run(['--lakectl-config', cfg, 'repo', 'list'])
  t.match(list.stdout, 'from-config')
  const missing = await cli.run(['--lakectl-config', join(dir, 'nope.yaml'), 'repo', 'list'])
  t.equal(missing.code, 2, 'a named config file that does not exist is a usage error')
})
