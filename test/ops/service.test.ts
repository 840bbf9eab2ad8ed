// The lk-mountd unit run the way systemd runs it (test/support/service.ts plays systemd):
// READY=1 only once the socket accepts, attributed to the daemon's pid; ExecReload applies a
// changed config.yaml; ExecStop and SIGTERM settle a write mount that holds staged data and an
// open file per its on-unmount policy and leave every mount point clean; and the metrics
// endpoint counts what happened.

import t from 'tap'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { LocalRemote } from '../../lib/remote/local.js'
import { ControlClient } from '../../lib/control/client.js'
import { fuseAvailable } from '../support/fuse.js'
import { B, P, R, buf, collect } from '../support/store.js'
import { CLI, NotifyListener, cli, execLine, execStart, installUnit, logLines, mountedAt, one, serviceEnv, type ServiceEnv } from '../support/service.js'

async function seed (s: ServiceEnv): Promise<void> {
  const remote = await LocalRemote.open({ dir: join(s.home, 'store') })
  await remote.createRepo(R('demo'))
  await remote.putObject(R('demo'), B('main'), P('train/a.txt'), buf('alpha\n'))
  await remote.putObject(R('demo'), B('main'), P('train/b.txt'), buf('bravo\n'))
  await remote.commit(R('demo'), B('main'), { message: 'seed' })
  await remote.createBranch(R('demo'), B('out'), 'main')
  await remote.close()
}

async function freePort (): Promise<number> {
  return await new Promise(resolve => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => { resolve(port) })
    })
  })
}

function config (s: ServiceEnv, extra: string): string {
  return [
    `mountRoots: [${s.dir}]`,
    'shutdown:',
    '  timeout: 30s',
    extra,
  ].join('\n') + '\n'
}

t.test('start, READY, reload, ExecStop commits a write mount with an open file', async (t) => {
  if (!fuseAvailable(t)) return
  const u = await installUnit(t)
  t.equal(one(u, 'Type'), 'notify')
  t.equal(one(u, 'NotifyAccess'), 'all')
  t.equal(one(u, 'KillMode'), 'mixed')
  const port = await freePort()
  const s0 = await serviceEnv(t, u, '')
  const ro = join(s0.dir, 'data')
  const rw = join(s0.dir, 'out')
  await writeFile(s0.config, config(s0, [
    'metrics:',
    `  listen: 127.0.0.1:${port}`,
    'mounts:',
    `  - { uri: "lakefs://demo/main", mountpoint: "${ro}" }`,
    `  - { uri: "lakefs://demo/out", mountpoint: "${rw}", write: true, onUnmount: commit, message: "run 17 outputs", meta: { run: "17" } }`,
  ].join('\n')))
  await seed(s0)
  const notify = await NotifyListener.start(t, s0.dir)

  const t0 = Date.now()
  const d = execStart(t, u, s0, notify)
  const { msg: ready } = await notify.waitFor('READY', '1')
  const readyMs = Date.now() - t0
  // readiness means the socket accepts: a client connects at once
  const c = await ControlClient.connect({ socketPath: s0.socket, timeoutMs: 2000 })
  t.equal(c.daemon.pid, d.pid, 'the daemon answers on the socket when READY=1 arrives')
  c.close()
  t.equal(ready.pid, d.pid, 'READY=1 is sent with the daemon\'s pid as sender (SCM_CREDENTIALS)')
  t.equal(ready.fields.MAINPID, String(d.pid), 'and names it as MAINPID')
  t.match(ready.fields.STATUS, /2 mounted/, 'STATUS says what is mounted')
  t.ok(await mountedAt(ro) && await mountedAt(rw), 'both declared mounts are mounted at READY')
  t.equal(await readFile(join(ro, 'train', 'a.txt'), 'utf8'), 'alpha\n')
  await readFile(join(ro, 'train', 'missing.txt')).catch(() => {})
  t.comment(`ExecStart to READY=1: ${readyMs} ms (2 declared mounts)`)

  // metrics
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  t.match(body, /lkmount_up\{version="[^"]+"\} 1/)
  t.match(body, new RegExp(`lkmount_reads_total\\{mountpoint="${ro}",repo="demo",ref="main",write="false"\\} [1-9]`), 'reads are counted per mount')
  t.match(body, /lkmount_fetch_duration_seconds_count [1-9]/, 'cache misses were timed')
  t.match(body, /lkmount_fetch_duration_seconds_bucket\{le="\+Inf"\} [1-9]/)
  t.match(body, /lkmount_cache_requests_total\{result="miss"\} [1-9]/)
  t.match(body, /lkmount_fs_errors_total\{op="getattr",errno="ENOENT"\} [1-9]/, 'errors are counted by errno')
  t.match(body, /lkmount_mounts\{state="mounted"\} 2/)

  // reload: a third declared mount appears, the read-only one goes
  const extra = join(s0.dir, 'extra')
  await writeFile(s0.config, config(s0, [
    'mounts:',
    `  - { uri: "lakefs://demo/out", mountpoint: "${rw}", write: true, onUnmount: commit, message: "run 17 outputs", meta: { run: "17" } }`,
    `  - { uri: "lakefs://demo/main/train", mountpoint: "${extra}" }`,
  ].join('\n')))
  const before = notify.messages.length
  const rl = await execLine(u, 'ExecReload', s0, d.pid)
  t.equal(rl.code, 0, 'ExecReload ran')
  const { index: ri } = await notify.waitFor('RELOADING', '1', before)
  await notify.waitFor('READY', '1', ri + 1)
  t.ok(await mountedAt(extra), 'the new declared mount is mounted after reload')
  t.notOk(await mountedAt(ro), 'the removed declared mount is unmounted after reload')
  t.same(await readdir(extra), ['a.txt', 'b.txt'])

  // a write mount with staged data: one closed file, one still open in another process
  await writeFile(join(rw, 'closed.txt'), 'closed\n')
  const holder = spawn('python3', ['-c', [
    'import sys, time',
    `f = open(${JSON.stringify(join(rw, 'open.txt'))}, "w")`,
    'f.write("still open\\n"); f.flush()',
    'print("ready", flush=True)',
    'time.sleep(120)',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (holder.exitCode === null) holder.kill('SIGKILL') })
  await new Promise<void>(resolve => { holder.stdout?.once('data', () => { resolve() }) })

  const stopAt = Date.now()
  const st = await execLine(u, 'ExecStop', s0, d.pid)
  const stopMs = Date.now() - stopAt
  t.equal(st.code, 0, `ExecStop succeeded: ${st.stdout}${st.stderr}`)
  const ex = await d.exited
  t.equal(ex.code, 0, 'the daemon exited 0')
  t.ok(notify.messages.some(m => m.fields.STOPPING === '1'), 'STOPPING=1 was sent')
  t.comment(`ExecStop (commit of 2 files, one open) to exit: ${stopMs} ms`)
  for (const mp of [rw, extra]) {
    t.notOk(await mountedAt(mp), `${mp} is not a mount point any more`)
    t.same(await readdir(mp), [], `${mp} is an empty directory`)
  }
  holder.kill('SIGKILL')

  const remote = await LocalRemote.open({ dir: join(s0.home, 'store') })
  t.teardown(async () => { await remote.close() })
  const [head] = await collect(remote.log(R('demo'), 'out', { amount: 1 }))
  t.equal(head?.message, 'run 17 outputs', 'the stop committed with the declared message')
  t.equal(head?.metadata.run, '17', 'and the declared metadata')
  const read = async (p: string): Promise<string> => {
    const stat = await remote.statObject(R('demo'), 'out', P(p))
    return (await remote.readRange(R('demo'), stat, 0, stat.size)).toString()
  }
  t.equal(await read('closed.txt'), 'closed\n')
  t.equal(await read('open.txt'), 'still open\n', 'the file still open at stop was committed with what was written')
  t.ok(logLines(d).some(l => l.msg === 'stopped'), 'the journal says stopped')
})

t.test('SIGTERM with onUnmount: keep leaves the changes staged; the next start resumes them', async (t) => {
  if (!fuseAvailable(t)) return
  const u = await installUnit(t)
  const s = await serviceEnv(t, u, '')
  const rw = join(s.dir, 'out')
  await writeFile(s.config, config(s, ['mounts:', `  - { uri: "lakefs://demo/out", mountpoint: "${rw}", write: true, onUnmount: keep }`].join('\n')))
  await seed(s)
  const notify = await NotifyListener.start(t, s.dir)
  const d = execStart(t, u, s, notify)
  await notify.waitFor('READY', '1')
  await writeFile(join(rw, 'kept.txt'), 'kept\n')
  process.kill(d.pid, 'SIGTERM')
  t.equal((await d.exited).code, 0, 'SIGTERM: a graceful exit')
  t.notOk(await mountedAt(rw), 'mount point clean')

  const notify2 = await NotifyListener.start(t, join(s.dir, 'run'))
  const d2 = execStart(t, u, s, notify2)
  const { msg } = await notify2.waitFor('READY', '1')
  t.equal(await readFile(join(rw, 'kept.txt'), 'utf8'), 'kept\n', 'the kept change is visible again after restart')
  t.match(msg.fields.STATUS, /1 mounted/)
  const st = await cli(s, ['status', '--json'])
  const mounts = (JSON.parse(st.stdout) as { mounts: Array<{ mountpoint: string, stats: { stagedPaths: number } }> }).mounts
  t.equal(mounts.find(m => m.mountpoint === rw)?.stats.stagedPaths, 1, 'status reports the resumed staged change')
  process.kill(d2.pid, 'SIGTERM')
  await d2.exited
})

t.test('a second signal forces: the daemon exits at once and mount points are detached', async (t) => {
  if (!fuseAvailable(t)) return
  const u = await installUnit(t)
  const s = await serviceEnv(t, u, '')
  const rw = join(s.dir, 'out')
  await writeFile(s.config, config(s, ['mounts:', `  - { uri: "lakefs://demo/out", mountpoint: "${rw}", write: true }`].join('\n')))
  await seed(s)
  const notify = await NotifyListener.start(t, s.dir)
  const d = execStart(t, u, s, notify)
  await notify.waitFor('READY', '1')
  // enough staged data that the graceful commit is still running when the second signal comes
  await writeFile(join(rw, 'x.bin'), Buffer.alloc(96 << 20, 1))
  const t0 = Date.now()
  process.kill(d.pid, 'SIGTERM')
  // standard signals do not queue: let the first one be taken before the second
  await new Promise(resolve => setTimeout(resolve, 150))
  process.kill(d.pid, 'SIGINT')
  const ex = await d.exited
  t.equal(ex.code, 1, 'the forced exit says so (status 1)')
  t.ok(logLines(d).some(l => l.msg === 'second signal: detaching every mount now; staged changes stay on disk'), 'the journal says it was forced')
  t.comment(`forced stop took ${Date.now() - t0} ms`)
  t.notOk(await mountedAt(rw), 'mount point detached')
})

t.test('lk-mount daemon --foreground --config --metrics; SIGINT stops it gracefully', async (t) => {
  if (!fuseAvailable(t)) return
  const u = await installUnit(t)
  const s = await serviceEnv(t, u, '')
  const rw = join(s.dir, 'out')
  await writeFile(s.config, `mounts:\n  - { uri: "lakefs://demo/out", mountpoint: "${rw}", write: true, message: "sigint" }\n`)
  await seed(s)
  const port = await freePort()
  const proc = spawn(process.execPath, [CLI, 'daemon', '--foreground', '--config', s.config, '--metrics', `127.0.0.1:${port}`, '--stop-timeout', '30'], { env: s.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  proc.stderr?.on('data', (d: Buffer) => { log += d.toString() })
  const exited = new Promise<number | null>(resolve => proc.once('exit', c => { resolve(c) }))
  t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
  for (let i = 0; i < 200 && !log.includes('lk-mountd ready'); i++) await new Promise(r => setTimeout(r, 100))
  t.match(log, /metrics endpoint listening/)
  t.ok(await mountedAt(rw), 'the declared mount of --config is mounted')
  await writeFile(join(rw, 'f.txt'), 'f\n')
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  t.match(body, new RegExp(`lkmount_staged_paths\\{mountpoint="${rw}",repo="demo",ref="out",write="true"\\} 1`), 'staged paths are a metric')
  proc.kill('SIGINT')
  t.equal(await exited, 0, 'SIGINT: graceful exit 0')
  t.notOk(await mountedAt(rw))
  const remote = await LocalRemote.open({ dir: join(s.home, 'store') })
  t.teardown(async () => { await remote.close() })
  const [head] = await collect(remote.log(R('demo'), 'out', { amount: 1 }))
  t.equal(head?.message, 'sigint', 'the write mount was committed on SIGINT')
})
