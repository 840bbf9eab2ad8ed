// Crashes and their recovery, with the unit's own command lines: kill -9 of a daemon holding a
// write mount with staged data, then ExecStart again: the change is recovered and the declared
// mount resumes it; a stale mount point answering ENOTCONN is cleaned before mounting; and a stop
// whose commit cannot finish within shutdown.timeout exits on time, keeps the change staged,
// reports it at the next start and commits it exactly once later.

import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { LocalRemote } from '../../lib/remote/local.js'
import { fuseAvailable } from '../support/fuse.js'
import { B, P, R, buf, collect } from '../support/store.js'
import { NotifyListener, REPO, execLine, execStart, installUnit, logLines, mountedAt, serviceEnv, type ServiceEnv } from '../support/service.js'

async function seed (s: ServiceEnv): Promise<void> {
  const remote = await LocalRemote.open({ dir: join(s.home, 'store') })
  await remote.createRepo(R('demo'))
  await remote.putObject(R('demo'), B('main'), P('a.txt'), buf('alpha\n'))
  await remote.commit(R('demo'), B('main'), { message: 'seed' })
  await remote.close()
}

function mountCount (dir: string): number {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(l => l.split(' ')[4] === dir).length
}

async function history (s: ServiceEnv): Promise<Array<{ message: string }>> {
  const remote = await LocalRemote.open({ dir: join(s.home, 'store') })
  try {
    return await collect(remote.log(R('demo'), 'main', { amount: 10 }))
  } finally {
    await remote.close()
  }
}

t.test('kill -9, then ExecStart: staged changes recovered, declared write mount resumed', async (t) => {
  if (!fuseAvailable(t)) return
  const u = await installUnit(t)
  const s = await serviceEnv(t, u, '')
  const rw = join(s.dir, 'out')
  await writeFile(s.config, `mounts:\n  - { uri: "lakefs://demo/main", mountpoint: "${rw}", write: true, message: "after crash" }\n`)
  await seed(s)
  const n1 = await NotifyListener.start(t, s.dir)
  const d1 = execStart(t, u, s, n1)
  await n1.waitFor('READY', '1')
  await writeFile(join(rw, 'new.txt'), 'written before the crash\n')
  process.kill(d1.pid, 'SIGKILL')
  t.equal((await d1.exited).signal, 'SIGKILL')
  // fusermount's auto_unmount helper usually detaches the mount of a dead daemon; when it has not
  // (yet), the mount point is stale and the next start must clean it: both are fine, stacking is not
  for (let i = 0; i < 50 && await mountedAt(rw); i++) await new Promise(r => setTimeout(r, 100))
  t.comment(`after kill -9 the mount point is ${await mountedAt(rw) ? 'still in the mount table (stale)' : 'detached by auto_unmount'}`)

  await mkdir(join(s.dir, 'n2'))
  const n2 = await NotifyListener.start(t, join(s.dir, 'n2'))
  const t0 = Date.now()
  const d2 = execStart(t, u, s, n2)
  const { msg } = await n2.waitFor('READY', '1')
  t.comment(`restart after kill -9 to READY=1: ${Date.now() - t0} ms`)
  t.match(msg.fields.STATUS, /1 mounted/)
  t.equal(mountCount(rw), 1, 'exactly one mount at the mount point: nothing stale stacked below the new one')
  t.equal(await readFile(join(rw, 'new.txt'), 'utf8'), 'written before the crash\n', 'the staged change is visible in the remounted mount')
  t.equal(await readFile(join(rw, 'a.txt'), 'utf8'), 'alpha\n')
  t.ok(logLines(d2).some(l => l.msg === 'staged changes from an earlier run are waiting' && l.mountpoint === rw), 'the start reports the recovered changes')
  const st = await execLine(u, 'ExecStop', s, d2.pid)
  t.equal(st.code, 0)
  await d2.exited
  const log = await history(s)
  t.equal(log[0]?.message, 'after crash', 'the recovered change was committed at stop')
  t.equal(log.filter(c => c.message === 'after crash').length, 1, 'exactly once')
})

t.test('a stale mount point (ENOTCONN) is cleaned before the declared mount', async (t) => {
  if (!fuseAvailable(t)) return
  const u = await installUnit(t)
  const s = await serviceEnv(t, u, '')
  const ro = join(s.dir, 'data')
  await mkdir(ro)
  await writeFile(s.config, `mounts:\n  - { uri: "lakefs://demo/main", mountpoint: "${ro}" }\n`)
  await seed(s)
  const child = spawn(process.execPath, [join(REPO, 'dist', 'test', 'support', 'stale-mount.js'), ro], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  await new Promise<void>(resolve => { child.stdout?.once('data', () => { resolve() }) })
  child.kill('SIGKILL')
  await new Promise(r => child.once('exit', r))
  const err = await stat(ro).then(() => 'ok', (e: NodeJS.ErrnoException) => e.code)
  t.equal(err, 'ENOTCONN', 'the killed server left a stale mount point')

  const n = await NotifyListener.start(t, s.dir)
  const d = execStart(t, u, s, n)
  await n.waitFor('READY', '1')
  t.same(await readdir(ro), ['a.txt'], 'the declared mount is live in place of the stale one')
  process.kill(d.pid, 'SIGTERM')
  t.equal((await d.exited).code, 0)
  t.notOk(await mountedAt(ro))
})

t.test('a stop that cannot commit within shutdown.timeout exits on time and keeps the change', async (t) => {
  if (!fuseAvailable(t)) return
  const u = await installUnit(t)
  const s = await serviceEnv(t, u, '')
  const rw = join(s.dir, 'out')
  await writeFile(s.config, `shutdown:\n  timeout: 300ms\nmounts:\n  - { uri: "lakefs://demo/main", mountpoint: "${rw}", write: true, message: "big" }\n`)
  await seed(s)
  const n = await NotifyListener.start(t, s.dir)
  const d = execStart(t, u, s, n)
  await n.waitFor('READY', '1')
  // enough data that hashing and storing it takes well over 300 ms
  const big = Buffer.alloc(96 << 20, 7)
  await writeFile(join(rw, 'big.bin'), big)
  const t0 = Date.now()
  process.kill(d.pid, 'SIGTERM')
  const ex = await d.exited
  const took = Date.now() - t0
  t.equal(ex.code, 0)
  t.ok(took < 10_000, `the stop was bounded: ${took} ms for a 300 ms budget (plus detaching and exit)`)
  t.notOk(await mountedAt(rw), 'mount point clean')
  const unsettled = logLines(d).some(l => l.msg === 'stop: mounts not settled in time: detached, their changes stay staged for the next start')
  const committed = (await history(s)).some(c => c.message === 'big')
  t.comment(`commit finished within the budget: ${String(committed)}; reported unsettled: ${String(unsettled)}`)
  t.ok(unsettled || committed, 'either committed in time, or reported as left staged')

  await writeFile(s.config, `shutdown:\n  timeout: 60s\nmounts:\n  - { uri: "lakefs://demo/main", mountpoint: "${rw}", write: true, message: "big" }\n`)
  await mkdir(join(s.dir, 'n2'))
  const n2 = await NotifyListener.start(t, join(s.dir, 'n2'))
  const d2 = execStart(t, u, s, n2)
  await n2.waitFor('READY', '1')
  if (!committed) {
    t.ok(logLines(d2).some(l => l.msg === 'staged changes from an earlier run are waiting'), 'the next start reports the change left staged')
    t.equal((await stat(join(rw, 'big.bin'))).size, big.length, 'and the remounted mount shows it')
  }
  const st = await execLine(u, 'ExecStop', s, d2.pid)
  t.equal(st.code, 0)
  await d2.exited
  const log = await history(s)
  t.equal(log.filter(c => c.message === 'big').length, 1, 'the big change is committed exactly once in the end')
})
