// Staging writes racing each other on one branch: in one process (many calls in flight at once)
// and across processes, with readers listing the branch meanwhile. Every write that resolved
// must be visible to this process, to a fresh process, and to the next commit; no call errors.

import t from 'tap'
import { spawn } from 'node:child_process'
import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { LocalRemote } from '../../lib/remote/local.js'
import { StagingArea } from '../../lib/store/staging.js'
import type { Entry } from '../../lib/store/index.js'
import { B, P, R, buf, tempStore } from '../support/store.js'

const WORKER = fileURLToPath(new URL('./fixtures/worker.js', import.meta.url))
const repo = R('repo1')
const main = B('main')

function runWorker (args: string[]): Promise<{ code: number | null, stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('error', reject)
    child.on('close', code => { resolve({ code, stderr }) })
  })
}

/** every object the ref shows, paged */
async function allPaths (remote: LocalRemote, ref: string): Promise<string[]> {
  const out: string[] = []
  let after: string | undefined
  for (;;) {
    const page = await remote.listObjects(repo, ref, { amount: 1000, after })
    for (const e of page.entries) out.push(e.type === 'object' ? e.stat.path : e.path)
    if (!page.hasMore) return out
    after = out[out.length - 1]
  }
}

t.test('20 parallel setObjectMetadata on one branch all land', async t => {
  const { dir, remote } = await tempStore(t)
  await remote.createRepo(repo)
  const n = 20
  for (let i = 0; i < n; i++) await remote.putObject(repo, main, P(`m/${i}`), buf(`v${i}`))
  // some committed, some only staged: both kinds of lookup race the appends
  await remote.commit(repo, main, { message: 'half' })
  for (let i = n; i < 2 * n; i++) await remote.putObject(repo, main, P(`m/${i}`), buf(`v${i}`))
  for (let round = 0; round < 3; round++) {
    const results = await Promise.allSettled(Array.from({ length: 2 * n }, async (_, i) =>
      await remote.setObjectMetadata(repo, main, P(`m/${i}`), { round: String(round), i: String(i) })))
    t.same(results.filter(r => r.status === 'rejected'), [], `round ${round}: no call failed`)
    for (let i = 0; i < 2 * n; i++) {
      const st = await remote.statObject(repo, main, P(`m/${i}`))
      t.same(st.metadata, { round: String(round), i: String(i) }, `round ${round}: m/${i} landed (this process)`)
    }
  }
  const fresh = await LocalRemote.open({ dir })
  t.teardown(async () => { await fresh.close() })
  for (let i = 0; i < 2 * n; i++) t.same((await fresh.statObject(repo, main, P(`m/${i}`))).metadata, { round: '2', i: String(i) }, `m/${i} on disk`)
  // the same path from 20 calls at once: no error, and one of them wins whole
  const same = await Promise.allSettled(Array.from({ length: n }, async (_, i) =>
    await remote.setObjectMetadata(repo, main, P('m/0'), { k: String(i) })))
  t.same(same.filter(r => r.status === 'rejected'), [])
  const md = (await remote.statObject(repo, main, P('m/0'))).metadata
  t.ok(md !== undefined && Object.keys(md).length === 1 && Number(md.k) >= 0 && Number(md.k) < n, `one writer won: ${JSON.stringify(md)}`)
  const c = await remote.commit(repo, main, { message: 'meta' })
  t.same((await remote.statObject(repo, c.id, P('m/7'))).metadata, { round: '2', i: '7' }, 'committed')
})

t.test('parallel putObject + setObjectMetadata, distinct and same paths', async t => {
  const { dir, remote } = await tempStore(t)
  await remote.createRepo(repo)
  const n = 20
  for (let i = 0; i < n; i++) await remote.putObject(repo, main, P(`old/${i}`), buf(`old${i}`))
  const ops: Array<Promise<unknown>> = []
  for (let i = 0; i < n; i++) {
    // put-then-setObjectMetadata of a new path (what the bug report did), all paths at once
    ops.push((async () => {
      await remote.putObject(repo, main, P(`new/${i}`), buf(`new${i}`))
      await remote.setObjectMetadata(repo, main, P(`new/${i}`), { n: String(i) })
    })())
    // metadata on a distinct existing path
    ops.push(remote.setObjectMetadata(repo, main, P(`old/${i}`), { o: String(i) }))
    // a put and a metadata change racing on the same path
    ops.push(remote.putObject(repo, main, P(`same/${i}`), buf(`first${i}`)).then(async () => await Promise.all([
      remote.putObject(repo, main, P(`same/${i}`), buf(`second${i}`)),
      remote.setObjectMetadata(repo, main, P(`same/${i}`), { s: String(i) }),
    ])))
  }
  const results = await Promise.allSettled(ops)
  t.same(results.filter(r => r.status === 'rejected'), [], 'no call failed')
  const check = async (r: LocalRemote, ref: string, who: string): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const nw = await r.statObject(repo, ref, P(`new/${i}`))
      t.same(nw.metadata, { n: String(i) }, `${who}: new/${i} metadata`)
      t.equal((await r.readRange(repo, nw, 0, 100)).toString(), `new${i}`)
      t.same((await r.statObject(repo, ref, P(`old/${i}`))).metadata, { o: String(i) }, `${who}: old/${i} metadata`)
      const sm = await r.statObject(repo, ref, P(`same/${i}`))
      const content = (await r.readRange(repo, sm, 0, 100)).toString()
      // either order is fine: the metadata went onto first or second content, or the later put replaced it
      const ok = (content === `second${i}` && (sm.metadata === undefined || Object.keys(sm.metadata).length === 0 || sm.metadata.s === String(i))) ||
        (content === `first${i}` && sm.metadata?.s === String(i))
      t.ok(ok, `${who}: same/${i} is one of the serial outcomes (${content} ${JSON.stringify(sm.metadata)})`)
    }
  }
  await check(remote, 'main', 'this process')
  const fresh = await LocalRemote.open({ dir })
  t.teardown(async () => { await fresh.close() })
  await check(fresh, 'main', 'fresh process')
  const c = await remote.commit(repo, main, { message: 'all' })
  t.equal((await allPaths(remote, c.id)).length, 3 * n, 'the commit holds every path')
  await check(remote, c.id, 'commit')
})

t.test('two processes staging 500 puts each on one branch: a commit holds all 1000', async t => {
  const { dir, remote } = await tempStore(t, { fsync: false })
  await remote.createRepo(repo)
  const n = 500
  const started = Date.now()
  const runs = await Promise.all([
    runWorker(['puts', dir, repo, 'main', '1', String(n)]),
    runWorker(['puts', dir, repo, 'main', '2', String(n)]),
  ])
  for (const r of runs) t.equal(r.code, 0, r.stderr)
  t.comment(`2 × ${n} parallel staged puts: ${Date.now() - started} ms`)
  t.equal((await allPaths(remote, 'main')).length, 2 * n, 'the branch shows all staged objects')
  const c = await remote.commit(repo, main, { message: 'all of both' })
  const paths = await allPaths(remote, c.id)
  t.equal(paths.length, 2 * n, 'the commit holds all of them')
  for (const w of [1, 2]) {
    for (const i of [0, 137, n - 1]) {
      t.equal((await remote.readRange(repo, await remote.statObject(repo, c.id, P(`w${w}/${i}`)), 0, 100)).toString(), `${w}:${i}`)
    }
  }
  t.equal((await remote.diffStaged(repo, main)).entries.length, 0, 'nothing left staged')
  t.ok(await remote.verify(repo))
})

t.test('readers listing staging while writers append never error and never go back', async t => {
  const { dir, remote } = await tempStore(t, { fsync: false })
  await remote.createRepo(repo)
  // a second Store on the same directory reads the log the way another process would
  const other = await LocalRemote.open({ dir, fsync: false })
  t.teardown(async () => { await other.close() })
  const n = 300
  let done = false
  const writers = (async () => {
    let next = 0
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let i = next++; i < n; i = next++) {
        await remote.putObject(repo, main, P(`r/${String(i).padStart(4, '0')}`), buf(`x${i}`), { metadata: { pad: 'y'.repeat(i * 37 % 5000) } })
      }
    }))
    done = true
  })()
  const reader = async (r: LocalRemote, who: string): Promise<{ reads: number, errors: string[] }> => {
    let last = 0
    let reads = 0
    const errors: string[] = []
    while (!done) {
      try {
        const seen = (await allPaths(r, 'main')).length
        const staged = (await r.diffStaged(repo, main, { amount: 1000 })).entries.length
        if (seen < last) errors.push(`${who}: listing went back from ${last} to ${seen}`)
        if (staged < seen) errors.push(`${who}: diffStaged shows ${staged} < listing ${seen}`)
        last = seen
        reads++
      } catch (e) {
        errors.push(`${who}: ${String(e)}`)
      }
    }
    return { reads, errors }
  }
  // several reader loops per Store: their refreshes of the log's parsed state overlap
  const [, ...rs] = await Promise.all([writers, ...[remote, other].flatMap((r, k) => [0, 1, 2].map(async j => await reader(r, `store ${k} reader ${j}`)))])
  t.same(rs.flatMap(r => r.errors), [], 'no reader error')
  t.ok(rs.every(r => r.reads > 0), `readers ran (${rs.map(r => r.reads).join(', ')} listings)`)
  t.equal((await allPaths(remote, 'main')).length, n)
  t.equal((await allPaths(other, 'main')).length, n)
})

t.test('a torn trailing record is ignored, and a later record after it is read', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lk-staging-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const e = (s: string): Entry => ({ path: s, checksum: 'a'.repeat(64), size: 1, mtime: 0, contentType: 'text/plain', metadata: {}, address: 'a'.repeat(64) })
  const a = new StagingArea(dir, { fsync: false })
  await a.append('tok', [{ p: 'one', e: e('one') }])
  // what a writer killed mid-write (or still writing) leaves: a record without its end
  const [file] = await readdir(dir)
  await appendFile(path.join(dir, file!), '\n{"p":"two","e":{"path":"tw')
  const b = new StagingArea(dir, { fsync: false })
  t.same([...(await b.view(['tok'])).map.keys()], ['one'], 'the torn record is not read')
  await a.append('tok', [{ p: 'three', e: e('three') }])
  t.same([...(await b.view(['tok'])).map.keys()].sort(), ['one', 'three'], 'the next record is read, the torn one skipped')
  const c = new StagingArea(dir, { fsync: false })
  t.same([...(await c.view(['tok'])).map.keys()].sort(), ['one', 'three'], 'a fresh reader agrees')
})

t.test('overlapping views of one StagingArea see every record appended before them', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lk-staging-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const e = (s: string): Entry => ({ path: s, checksum: 'b'.repeat(64), size: 1, mtime: 0, contentType: 'text/plain', metadata: { pad: 'z'.repeat(s.length * 97 % 3000) }, address: 'b'.repeat(64) })
  const writer = new StagingArea(dir, { fsync: false })
  const reader = new StagingArea(dir, { fsync: false })
  const n = 400
  let appended = 0
  const failures: string[] = []
  const appends = (async () => {
    let next = 0
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = next++; i < n; i = next++) {
        await writer.append('tok', [{ p: `k${i}`, e: e(`k${i}`) }])
        appended++
      }
    }))
  })()
  const views: Array<Promise<void>> = []
  while (appended < n) {
    const before = appended
    for (const area of [reader, writer]) {
      views.push(area.view(['tok']).then(v => {
        if (v.map.size < before) failures.push(`a view started after ${before} appends shows ${v.map.size}`)
      }, err => { failures.push(String(err)) }))
    }
    await new Promise(resolve => setImmediate(resolve))
  }
  await appends
  await Promise.all(views)
  t.same(failures.slice(0, 5), [], `${views.length} overlapping views: none failed or missed a record`)
  t.equal((await reader.view(['tok'])).map.size, n)
  t.equal((await writer.view(['tok'])).map.size, n)
})
