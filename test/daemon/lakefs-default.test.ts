// The daemon's default remote: with a lakeFS endpoint configured the lakectl way (here the
// LAKECTL_* variables), mounts go through that server; without one, through the embedded store.
// A real `lk-mount serve`-style server (lib/server) over its own store, the real CLI and daemon,
// a real FUSE mount.

import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { cliHome } from '../support/cli.js'
import { fuseAvailable } from '../support/fuse.js'
import { shortTmp } from '../support/tmp.js'
import { LocalRemote } from '../../lib/remote/local.js'
import { startServer } from '../../lib/server/server.js'
import { branchName, repoName, type ObjectPath } from '../../lib/core/ids.js'

t.test('a LAKECTL_* endpoint makes the daemon mount through that server', async t => {
  if (!fuseAvailable(t)) return
  const dir = shortTmp(t, 'lkl-')
  const store = await LocalRemote.open({ dir: join(dir, 'store'), fsync: false })
  t.teardown(async () => { await store.close() })
  const repo = repoName('served-repo')
  await store.createRepo(repo)
  await store.putObject(repo, branchName('main'), 'a/hello.txt' as ObjectPath, { kind: 'buffer', data: Buffer.from('served over the API\n') })
  await store.commit(repo, branchName('main'), { message: 'one' })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: 'AKTEST', secretAccessKey: 'secret-test' })
  t.teardown(async () => { await server.close() })

  // without an endpoint the daemon's embedded store has no such repository
  const plain = cliHome(t)
  const miss = await plain.run(['mount', `lakefs://${repo}/main`, join(dir, 'mnt0')])
  t.not(miss.code, 0, 'the embedded store does not have the repository')

  const h = cliHome(t)
  Object.assign(h.env, { LAKECTL_SERVER_ENDPOINT_URL: server.endpoint, LAKECTL_CREDENTIALS_ACCESS_KEY_ID: 'AKTEST', LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY: 'secret-test' })
  const mnt = join(dir, 'mnt')
  const m = await h.run(['mount', `lakefs://${repo}/main`, mnt])
  t.equal(m.code, 0, m.stderr)
  t.equal(await readFile(join(mnt, 'a', 'hello.txt'), 'utf8'), 'served over the API\n')
  const u = await h.run(['umount', mnt])
  t.equal(u.code, 0, u.stderr)
})
