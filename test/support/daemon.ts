// A real lk-mountd process in a temporary LK_MOUNT_HOME, and the real CLI against it: for tests
// of lifecycles (start, SIGTERM, SIGKILL, restart) through the control socket. Every process a
// test starts is stopped by pid in teardown.

import { spawn, type ChildProcess } from 'node:child_process'
import { openSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { shortTmp } from './tmp.js'

const DAEMON = fileURLToPath(new URL('../../daemon/main.js', import.meta.url))
const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url))

export interface CliResult { code: number, stdout: string, stderr: string }

export interface DaemonFixture {
  home: string
  /** the default embedded store of this home */
  store: string
  env: NodeJS.ProcessEnv
  /** starts lk-mountd and waits until it answers */
  start (): Promise<ChildProcess>
  /** the running daemon's process (undefined when none) */
  proc (): ChildProcess | undefined
  /** kills the daemon with `sig` and waits for it to exit */
  kill (sig: NodeJS.Signals): Promise<void>
  /** runs the CLI to completion */
  cli (args: string[], opts?: { timeoutMs?: number }): Promise<CliResult>
  /** starts the CLI without waiting (for killing the daemon under a running request) */
  cliBackground (args: string[]): { child: ChildProcess, done: Promise<CliResult> }
}

function run (child: ChildProcess, timeoutMs: number): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (b: Buffer) => { stdout += b.toString() })
  child.stderr?.on('data', (b: Buffer) => { stderr += b.toString() })
  return new Promise((resolve) => {
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    child.on('close', (code, sig) => {
      clearTimeout(timer)
      resolve({ code: code ?? (sig === null ? 1 : 128), stdout, stderr })
    })
  })
}

export function daemonFixture (t: { teardown (fn: () => unknown): void }): DaemonFixture {
  const home = shortTmp(t, 'lkd-')
  const env = { ...process.env, LK_MOUNT_HOME: home, LK_MOUNT_SOCKET: '' }
  let daemon: ChildProcess | undefined
  const children = new Set<ChildProcess>()
  t.teardown(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) { try { process.kill(c.pid, 'SIGKILL') } catch {} }
    if (daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null && daemon.pid !== undefined) {
      process.kill(daemon.pid, 'SIGTERM')
      await new Promise(resolve => { daemon?.once('exit', resolve); setTimeout(resolve, 10_000) })
      if (daemon.exitCode === null && daemon.signalCode === null && daemon.pid !== undefined) { try { process.kill(daemon.pid, 'SIGKILL') } catch {} }
    }
  })
  const cli = async (args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    return await run(child, opts.timeoutMs ?? 120_000)
  }
  const f: DaemonFixture = {
    home,
    store: join(home, 'store'),
    env,
    proc: () => daemon,
    start: async () => {
      const fd = openSync(join(home, 'lk-mountd.log'), 'a')
      const child = spawn(process.execPath, [DAEMON, '--foreground'], { env, stdio: ['ignore', fd, fd] })
      closeSync(fd)
      daemon = child
      const deadline = Date.now() + 20_000
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`lk-mountd exited with ${child.exitCode}`)
        const r = await cli(['status', '--no-spawn', '--json'], { timeoutMs: 5000 })
        if (r.code === 0) return child
        await new Promise(resolve => setTimeout(resolve, 100))
      }
      throw new Error('lk-mountd did not answer within 20 s')
    },
    kill: async (sig) => {
      const d = daemon
      if (d === undefined || d.pid === undefined || d.exitCode !== null || d.signalCode !== null) return
      const exited = new Promise(resolve => { d.once('exit', resolve) })
      process.kill(d.pid, sig)
      await exited
    },
    cli,
    cliBackground: (args) => {
      const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      children.add(child)
      return { child, done: run(child, 300_000) }
    },
  }
  return f
}
