// Sync mode against `lk-mount serve` through the lakeFS backend: the same CLI commands as with
// the embedded store, with the endpoint found the lakectl way.

import t from 'tap'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { lakefsCli, startServe } from '../support/serve.js'
import { waitFor } from '../support/sync.js'
import { shortTmp } from '../support/tmp.js'

const AK = 'AKSYNCSERVE'
const SK = 'sync-serve-secret'

t.test('sync a branch of lk-mount serve: materialise, edit, commit, stop', async t => {
  const dir = shortTmp(t, 'lkss-')
  const { url } = await startServe(t, { dir, accessKeyId: AK, secretAccessKey: SK })
  const { cli, ok } = lakefsCli(t, { url, accessKeyId: AK, secretAccessKey: SK })

  const data = join(dir, 'data')
  await mkdir(join(data, 'sub'), { recursive: true })
  await writeFile(join(data, 'a.txt'), 'alpha')
  await writeFile(join(data, 'sub', 'b.txt'), 'bravo')
  await ok(['repo', 'create', 'synced'])
  await ok(['import', data, 'lakefs://synced/main', '-m', 'seed'])

  const work = join(dir, 'work')
  await ok(['sync', 'lakefs://synced/main', work])
  t.equal(await readFile(join(work, 'sub', 'b.txt'), 'utf8'), 'bravo', 'materialised from the lakeFS backend')

  await writeFile(join(work, 'a.txt'), 'ALPHA')
  await writeFile(join(work, 'c.txt'), 'charlie')
  await rm(join(work, 'sub', 'b.txt'))
  await waitFor(async () => {
    const r = await cli.run(['status', work, '--json'])
    return r.code === 0 && (JSON.parse(r.stdout) as { stagedPaths?: number }).stagedPaths === 3
  }, 'three staged changes', 30_000)
  t.same((await ok(['diff', work])).trim().split('\n'), ['~ a.txt', '+ c.txt', '- sub/b.txt'])
  await ok(['commit', work, '-m', 'edited in a synced dir', '--meta', 'via=sync'])
  t.equal(await ok(['cat', 'lakefs://synced/main/a.txt']), 'ALPHA', 'the commit is on the server')
  t.equal(await ok(['cat', 'lakefs://synced/main/c.txt']), 'charlie')
  const gone = await cli.run(['cat', 'lakefs://synced/main/sub/b.txt'])
  t.equal(gone.code, 3, 'the delete was committed')
  const log = await cli.json<Array<{ message: string, metadata: Record<string, string> }>>(['log', 'lakefs://synced/main', '--json', '--amount', '1'])
  t.equal(log[0]?.metadata.via, 'sync')

  await writeFile(join(work, 'late.txt'), 'late')
  await ok(['sync', 'stop', work, '-m', 'stop'])
  t.equal(await ok(['cat', 'lakefs://synced/main/late.txt']), 'late', 'stop commits the last edit')
})
