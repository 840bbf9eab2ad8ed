// The daemon's lifecycle through the CLI: started on demand, --no-spawn, status pid, socket mode,
// a second daemon refused, `daemon stop`, SIGTERM, and a stale socket left by kill -9.

import t from 'tap'
import { existsSync, statSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { alive, cliHome, waitGone } from '../support/cli.js'

t.test('no daemon, --no-spawn', async t => {
  const lk = cliHome(t)
  const r = await lk.run(['repo', 'list', '--no-spawn'])
  t.equal(r.code, 8)
  t.match(r.stderr, /no daemon answers/)
  t.equal(lk.daemonPid(), undefined, 'nothing was started')
  const s = await lk.run(['status'])
  t.equal(s.code, 8, 'status never starts a daemon')
  const stop = await lk.run(['daemon', 'stop'])
  t.equal(stop.code, 0)
  t.match(stop.stdout, /no daemon is running/)
})

t.test('spawn on demand, status, second daemon refused, stop', async t => {
  const lk = cliHome(t)
  let r = await lk.run(['repo', 'list'])
  t.equal(r.code, 0, r.stderr)
  const pid = lk.daemonPid()
  if (pid === undefined) throw new Error('no pidfile')
  t.ok(alive(pid))
  const sock = join(lk.home, 'lk-mountd.sock')
  t.equal(statSync(sock).mode & 0o777, 0o600, 'socket is 0600')
  t.equal(statSync(lk.home).mode & 0o777, 0o700, 'home is 0700')
  const st = await lk.json<{ pid: number, version: string, protocol: number, home: string, socket: string }>(['status'])
  t.equal(st.pid, pid)
  t.equal(st.home, lk.home)
  t.equal(st.socket, sock)
  t.equal(st.version, JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')).version)

  r = await lk.run(['daemon'])
  t.equal(r.code, 8, 'a second `daemon` is refused')
  t.match(r.stderr, new RegExp(`pid ${pid}`))
  t.ok(alive(pid), 'the first one is untouched')

  r = await lk.run(['daemon', 'stop'])
  t.equal(r.code, 0, r.stderr)
  t.notOk(alive(pid), 'stopped and exited')
  t.notOk(existsSync(join(lk.home, 'lk-mountd.pid')), 'pidfile removed')
  t.notOk(existsSync(sock), 'socket removed')
})

t.test('explicit `daemon` start, SIGTERM is graceful', async t => {
  const lk = cliHome(t)
  const r = await lk.run(['daemon', '--json'])
  t.equal(r.code, 0, r.stderr)
  const { pid, log } = JSON.parse(r.stdout) as { pid: number, log: string }
  t.equal(lk.daemonPid(), pid)
  process.kill(pid, 'SIGTERM')
  t.ok(await waitGone(pid, 20_000), 'exits on SIGTERM')
  t.match(readFileSync(log, 'utf8'), /"msg":"stopped"/, 'the log says it stopped gracefully')
  t.notOk(existsSync(join(lk.home, 'lk-mountd.pid')))
})

t.test('kill -9 leaves a stale socket; the next command replaces it', async t => {
  const lk = cliHome(t)
  let r = await lk.run(['repo', 'create', 'keep-me'])
  t.equal(r.code, 0, r.stderr)
  const pid = lk.daemonPid()
  if (pid === undefined) throw new Error('no pidfile')
  process.kill(pid, 'SIGKILL')
  t.ok(await waitGone(pid, 10_000))
  t.ok(existsSync(join(lk.home, 'lk-mountd.sock')), 'the socket file is left behind')
  r = await lk.run(['repo', 'list', '--no-spawn'])
  t.equal(r.code, 8, 'a stale socket is no daemon')
  r = await lk.run(['repo', 'list', '--json'])
  t.equal(r.code, 0, r.stderr)
  t.same((JSON.parse(r.stdout) as Array<{ name: string }>).map(x => x.name), ['keep-me'], 'a new daemon serves the same store')
  const pid2 = lk.daemonPid()
  t.not(pid2, pid)
  t.match(readFileSync(join(lk.home, 'lk-mountd.log'), 'utf8'), /replacing a stale control socket/)
})

t.test('a daemon that cannot start: a clear error with the log path, never a hang', async t => {
  const lk = cliHome(t)
  const blocker = join(lk.home, 'not-a-dir')
  writeFileSync(blocker, 'x')
  lk.env.LK_MOUNT_SOCKET = join(blocker, 'lk.sock')
  const started = Date.now()
  let r = await lk.run(['repo', 'list'])
  t.equal(r.code, 8, r.stderr)
  t.match(r.stderr, /could not start the daemon: it exited with status/)
  t.match(r.stderr, new RegExp(join(lk.home, 'lk-mountd.log').replace(/[.]/g, '\\.')))
  t.ok(Date.now() - started < 15_000, 'bounded')
  lk.env.LK_MOUNT_SOCKET = '/tmp/' + 'x'.repeat(120)
  r = await lk.run(['repo', 'list'])
  t.equal(r.code, 2, 'an over-long socket path is a usage error')
  t.match(r.stderr, /LK_MOUNT_SOCKET/)
})
