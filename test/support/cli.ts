// Runs the built `lk-mount` CLI as a child process against a private LK_MOUNT_HOME, and makes
// sure every daemon it started is stopped (by pid) when the test ends.

import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { shortTmp } from './tmp.js'

export const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url))

export interface RunResult { code: number, stdout: string, stderr: string }

export interface CliHome {
  home: string
  env: NodeJS.ProcessEnv
  run (args: string[], opts?: { input?: string, timeoutMs?: number }): Promise<RunResult>
  /** run and parse stdout as JSON (fails the promise on a non-zero exit) */
  json<T = unknown> (args: string[]): Promise<T>
  daemonPid (): number | undefined
  /** SIGTERM then SIGKILL by pid; waits for the exit */
  killDaemon (sig?: NodeJS.Signals): Promise<void>
}

export function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

export async function waitGone (pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (!alive(pid)) return true
    await new Promise(r => setTimeout(r, 50))
  }
  return !alive(pid)
}

export function cliHome (t: { teardown (fn: () => unknown): void }): CliHome {
  const home = shortTmp(t, 'lkc-')
  const env: NodeJS.ProcessEnv = { ...process.env, LK_MOUNT_HOME: home, LK_MOUNT_SOCKET: '', LK_MOUNT_LOG_LEVEL: 'info' }
  const pids = new Set<number>()
  const pidfile = join(home, 'lk-mountd.pid')
  const daemonPid = (): number | undefined => {
    if (!existsSync(pidfile)) return undefined
    const n = Number(readFileSync(pidfile, 'utf8').trim())
    if (Number.isSafeInteger(n) && n > 0) { pids.add(n); return n }
    return undefined
  }
  const run = (args: string[], opts: { input?: string, timeoutMs?: number } = {}): Promise<RunResult> => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => { stdout += String(d) })
    child.stderr.on('data', d => { stderr += String(d) })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`lk-mount ${args.join(' ')} timed out; stderr: ${stderr}`)) }, opts.timeoutMs ?? 60_000)
    child.on('exit', (code, sig) => {
      clearTimeout(timer)
      daemonPid()
      resolve({ code: code ?? (sig === null ? 1 : 128), stdout, stderr })
    })
    child.stdin.end(opts.input ?? '')
  })
  const killDaemon = async (sig: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    daemonPid()
    for (const pid of pids) {
      if (!alive(pid)) continue
      try { process.kill(pid, sig) } catch {}
      if (!await waitGone(pid, 20_000)) {
        try { process.kill(pid, 'SIGKILL') } catch {}
        await waitGone(pid, 5000)
      }
    }
  }
  t.teardown(async () => { await killDaemon() })
  return {
    home,
    env,
    run,
    json: async <T>(args: string[]): Promise<T> => {
      const r = await run([...args, '--json'])
      if (r.code !== 0) throw new Error(`lk-mount ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
      return JSON.parse(r.stdout) as T
    },
    daemonPid,
    killDaemon,
  }
}
