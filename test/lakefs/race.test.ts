// commitChanges when another writer commits while our uploads are in flight: the second check
// right before the commit catches a conflicting commit, and nothing of ours stays staged.

import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LkError } from '../../lib/core/errors.js'
import { LakefsRemote } from '../../lib/remote/lakefs.js'
import { LocalRemote } from '../../lib/remote/local.js'
import { startServer } from '../../lib/server/server.js'
import { B, P, R, buf } from '../support/store.js'

/** a pass-through proxy that runs `onUpload` (once) before forwarding the first object upload */
async function hookProxy (upstream: string, onUpload: () => Promise<void>): Promise<{ endpoint: string, close: () => Promise<void> }> {
  const target = new URL(upstream)
  let fired = false
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const forward = (): void => {
        const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, upRes => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers)
          upRes.pipe(res)
        })
        up.on('error', () => { res.destroy() })
        up.end(Buffer.concat(chunks))
      }
      if (!fired && req.method === 'POST' && /\/objects\?/.test(req.url ?? '')) {
        fired = true
        void onUpload().then(forward, () => { res.destroy() })
      } else {
        forward()
      }
    })
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as AddressInfo
  return { endpoint: `http://127.0.0.1:${port}/api/v1`, close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) } }
}

t.test('a conflicting commit during the uploads is caught before our commit', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-lakefs-race-'))
  const store = await LocalRemote.open({ dir, fsync: false })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: 'AK', secretAccessKey: 'SK' })
  const repo = R('race-repo')
  await store.createRepo(repo)
  const base = await store.resolveRef(repo, 'main')
  let theirs = ''
  const proxy = await hookProxy(server.url, async () => {
    // another mount's commit, straight on the store (commitChanges: it does not sweep the
    // branch's staging area, where some of our uploads already are), changes one of our paths
    theirs = (await store.commitChanges(repo, B('main'), [{ op: 'put', path: P('shared/x.txt'), content: buf('theirs') }], { base, message: 'their commit' })).id
  })
  t.teardown(async () => { await proxy.close(); await server.close(); await store.close(); await rm(dir, { recursive: true, force: true }) })
  const client = new LakefsRemote({ endpoint: proxy.endpoint, accessKeyId: 'AK', secretAccessKey: 'SK', retries: 0 })

  const e = await client.commitChanges(repo, B('main'), [
    { op: 'put', path: P('shared/x.txt'), content: buf('ours') },
    { op: 'put', path: P('mine/y.txt'), content: buf('y') },
  ], { base, message: 'ours' }).catch((err: unknown) => err)
  t.ok(e instanceof LkError, 'refused')
  t.equal((e as LkError).code, 'LK_CONFLICT')
  t.same((e as LkError).details?.conflicts, ['shared/x.txt'])
  t.equal(await store.resolveRef(repo, 'main'), theirs, 'their commit is the head; ours was not made')
  t.same((await store.diffStaged(repo, B('main'))).entries, [], 'nothing of ours left staged')
  const x = await store.statObject(repo, 'main', P('shared/x.txt'))
  t.equal((await store.readRange(repo, x, 0, 100)).toString(), 'theirs')
})
