// Several processes on one store directory: concurrent commits lose nothing, and a process
// SIGKILLed at any point of a commit leaves a readable, consistent store where the next commit
// works.

import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { LocalRemote } from '../../lib/remote/local.js'
import { B, P, R, buf, codeOf, collect, tempStore } from '../support/store.js'

const WORKER = fileURLToPath(new URL('./fixtures/worker.js', import.meta.url))
const repo = R('repo1')

interface Run { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

function runWorker (args: string[], opts: { env?: Record<string, string>, killAfterStartMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, ...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (opts.killAfterStartMs !== undefined && stdout.includes('started\n') && child.pid !== undefined) {
        const pid = child.pid
        setTimeout(() => { try { process.kill(pid, 'SIGKILL') } catch { /* already gone */ } }, opts.killAfterStartMs)
        opts.killAfterStartMs = undefined
      }
    })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('error', reject)
    child.on('close', (code, signal) => { resolve({ code, signal, stdout, stderr }) })
  })
}

t.test('two processes committing to one branch at once lose nothing', async t => {
  const { dir, remote } = await tempStore(t)
  await remote.createRepo(repo)
  const n = 40
  const runs = await Promise.all([
    runWorker(['changes', dir, repo, 'main', '1', String(n)]),
    runWorker(['changes', dir, repo, 'main', '2', String(n)]),
  ])
  for (const r of runs) t.equal(r.code, 0, r.stderr)
  const log = await collect(remote.log(repo, 'main'))
  t.equal(log.length, 1 + 2 * n, 'every commit is in the history')
  const objs = await remote.listObjects(repo, 'main', { amount: 1000 })
  t.equal(objs.entries.length, 2 * n, 'every object is in the head')
  for (let i = 0; i < n; i++) {
    t.equal((await remote.readRange(repo, await remote.statObject(repo, 'main', P(`w1/${i}`)), 0, 100)).toString(), `1:${i}`)
  }
  t.ok(await remote.verify(repo))
  t.comment(`ref-moved retries surfaced to callers: ${runs.map(r => r.stdout.trim()).join(' ')}`)
})

t.test('two processes staging and committing one branch at once lose nothing', async t => {
  const { dir, remote } = await tempStore(t)
  await remote.createRepo(repo)
  const n = 25
  const runs = await Promise.all([
    runWorker(['staged', dir, repo, 'main', '1', String(n)]),
    runWorker(['staged', dir, repo, 'main', '2', String(n)]),
  ])
  for (const r of runs) t.equal(r.code, 0, r.stderr)
  // a commit may carry the other writer's staged object; none is lost and none stays staged
  t.equal((await remote.listObjects(repo, 'main', { amount: 1000 })).entries.length, 2 * n)
  const head = await remote.resolveRef(repo, 'main')
  t.equal((await remote.listObjects(repo, head, { amount: 1000 })).entries.length, 2 * n, 'all committed')
  t.equal((await remote.diffStaged(repo, B('main'))).entries.length, 0)
  t.equal((await collect(remote.log(repo, 'main'))).length, 1 + 2 * n)
  t.ok(await remote.verify(repo))
})

t.test('in one process, concurrent commits retry and all land', async t => {
  const { remote } = await tempStore(t)
  await remote.createRepo(repo)
  const base = await remote.resolveRef(repo, 'main')
  await Promise.all(Array.from({ length: 20 }, async (_, i) =>
    await remote.commitChanges(repo, B('main'), [{ op: 'put', path: P(`p/${i}`), content: buf(String(i)) }], { base, message: `c${i}` })))
  t.equal((await remote.listObjects(repo, 'main')).entries.length, 20)
  t.equal((await collect(remote.log(repo, 'main'))).length, 21)
})

for (const point of ['commit-after-seal', 'commit-before-commit-record', 'commit-before-ref', 'commit-after-ref']) {
  t.test(`SIGKILL at ${point}: store consistent, staged data kept or committed, next commit works`, async t => {
    const { dir, remote } = await tempStore(t)
    await remote.createRepo(repo)
    await remote.putObject(repo, B('main'), P('before'), buf('b'))
    const c0 = await remote.commit(repo, B('main'), { message: 'before' })
    const r = await runWorker(['crash', dir, repo, 'main'], { env: { LK_STORE_CRASH_AT: point } })
    t.equal(r.signal, 'SIGKILL', r.stderr)
    // a fresh process view of the directory
    const again = await LocalRemote.open({ dir })
    t.teardown(async () => { await again.close() })
    t.ok(await again.verify(repo), 'every reachable file checks out')
    const head = await again.resolveRef(repo, 'main')
    t.equal((await again.readRange(repo, await again.statObject(repo, 'main', P('crash/x')), 0, 100)).toString(), 'crash x', 'staged write still visible')
    if (point === 'commit-after-ref') {
      t.not(head, c0.id, 'the commit landed')
      t.ok(await again.statObject(repo, head, P('crash/x')))
      t.equal(await codeOf(again.commit(repo, B('main'), { message: 'again' })), 'LK_NOTHING_TO_COMMIT')
    } else {
      t.equal(head, c0.id, 'the head did not move')
      const c = await again.commit(repo, B('main'), { message: 'recovered' })
      t.ok(await again.statObject(repo, c.id, P('crash/x')), 'the sealed changes are committed by the next commit')
      t.same(c.parents, [c0.id])
    }
    await again.putObject(repo, B('main'), P('after'), buf('a'))
    const c2 = await again.commit(repo, B('main'), { message: 'after' })
    t.same((await again.listObjects(repo, c2.id)).entries.map(e => e.type === 'object' ? e.stat.path : e.path), ['after', 'before', 'crash/x'])
    t.equal((await again.diffStaged(repo, B('main'))).entries.length, 0)
  })
}

t.test('SIGKILL in commitChanges before the ref moves: nothing changed, retry works', async t => {
  const { dir, remote } = await tempStore(t)
  await remote.createRepo(repo)
  const c0 = await remote.resolveRef(repo, 'main')
  const r = await runWorker(['crash-changes', dir, repo, 'main'], { env: { LK_STORE_CRASH_AT: 'changes-before-ref' } })
  t.equal(r.signal, 'SIGKILL', r.stderr)
  t.equal(await remote.resolveRef(repo, 'main'), c0)
  t.ok(await remote.verify(repo))
  const c = await remote.commitChanges(repo, B('main'), [{ op: 'put', path: P('crash/y'), content: buf('crash y') }], { base: c0, message: 'retry' })
  t.same(c.parents, [c0])
})

t.test('SIGKILL during a big bulk commit: store consistent, next commit works', async t => {
  const { dir, remote } = await tempStore(t)
  await remote.createRepo(repo)
  const c0 = await remote.resolveRef(repo, 'main')
  for (const delay of [30, 150, 400]) {
    const r = await runWorker(['big', dir, repo, 'main', '2000000'], { killAfterStartMs: delay })
    t.equal(r.signal, 'SIGKILL', `killed ${delay} ms into the commit`)
    t.ok(await remote.verify(repo))
    t.equal(await remote.resolveRef(repo, 'main'), c0)
  }
  await remote.putObject(repo, B('main'), P('after'), buf('a'))
  const c = await remote.commit(repo, B('main'), { message: 'after crash' })
  t.same((await remote.listObjects(repo, c.id)).entries.map(e => e.type === 'object' ? e.stat.path : e.path), ['after', 'seed'])
  t.ok(await remote.verify(repo))
})
