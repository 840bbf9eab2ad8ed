// The daemon's metadata searches (daemon/find.ts) against lakeFS's REST API: LakefsRemote talking
// to `lk-mount serve` over HTTP. The same code serves the embedded store (test/cli/find.test.ts);
// this proves it needs nothing backend-specific: object user metadata comes back in lakeFS
// listings, commit metadata in lakeFS's log, and the cursor pages through lakeFS's pagination.

import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findPage, logMatching } from '../../daemon/find.js'
import { METHODS } from '../../lib/control/methods/index.js'
import { LakefsRemote } from '../../lib/remote/lakefs.js'
import { LocalRemote } from '../../lib/remote/local.js'
import { startServer } from '../../lib/server/server.js'
import { B, P, R, buf } from '../support/store.js'

t.test('find and log --meta through the lakeFS API', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-lakefs-find-'))
  const store = await LocalRemote.open({ dir, fsync: false })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: 'AK', secretAccessKey: 'SK' })
  const client = new LakefsRemote({ endpoint: `${server.url}/api/v1`, accessKeyId: 'AK', secretAccessKey: 'SK', retries: 0 })
  t.teardown(async () => { await client.close(); await server.close(); await store.close(); await rm(dir, { recursive: true, force: true }) })

  const repo = R('find-repo')
  await client.createRepo(repo)
  const want: string[] = []
  for (let i = 0; i < 12; i++) {
    const path = `d/${String(i).padStart(2, '0')}.bin`
    const kind = i % 4 === 0 ? 'keep' : 'skip'
    await client.putObject(repo, B('main'), P(path), buf(`v${i}`), { metadata: { kind } })
    if (kind === 'keep') want.push(path)
  }
  const c1 = await client.commit(repo, B('main'), { message: 'one', metadata: { 'mlflow.run_id': 'abc' } })
  await client.putObject(repo, B('main'), P('e.bin'), buf('e'), { metadata: { kind: 'keep' } })
  const c2 = await client.commit(repo, B('main'), { message: 'two', metadata: { 'mlflow.run_id': 'def' } })

  const got: string[] = []
  let pages = 0
  let after = ''
  let ref = 'main'
  for (;;) {
    const p = await findPage(client, METHODS.find.parse({ uri: `lakefs://find-repo/${ref}/d/`, meta: { kind: 'keep' }, after, scan: 5 }))
    pages++
    t.equal(p.commit, c2.id, 'pinned to the commit main resolved to')
    got.push(...p.matches.map(s => s.path))
    if (!p.hasMore) break
    after = p.nextAfter
    ref = p.commit
  }
  t.same(got, want)
  t.equal(pages, 3, '12 entries at 5 per request')

  const log = await logMatching(client, METHODS.log.parse({ uri: 'lakefs://find-repo/main', meta: { 'mlflow.run_id': 'abc' } }))
  t.same(log.map(c => c.id), [c1.id])
})
