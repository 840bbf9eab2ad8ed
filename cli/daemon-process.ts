// Finding, starting and stopping the daemon process from the CLI.
//
// The daemon entry is located next to this file in the build (dist/daemon/main.js) and run with
// the same Node binary; it is a path, not an import, so the CLI stays on its side of the layers.

import { spawn } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { LkError } from '../lib/core/errors.js'
import { ControlClient } from '../lib/control/client.js'
import type { DaemonPaths } from '../lib/control/paths.js'

export const DAEMON_ENTRY = fileURLToPath(new URL('../daemon/main.js', import.meta.url))

export interface DaemonArgs {
  store?: string
  cacheDir?: string
  cacheSize?: string
  /** entries of listings each mount keeps in memory */
  listingEntries?: string
  /** config.yaml (declared mounts, socket group, mountRoots) */
  config?: string
  /** host:port of the Prometheus endpoint */
  metrics?: string
  /** seconds all mounts get to settle on stop */
  stopTimeout?: string
  system?: boolean
}

export function daemonArgv (a: DaemonArgs): string[] {
  const out = [DAEMON_ENTRY]
  if (a.store !== undefined) out.push('--store', a.store)
  if (a.cacheDir !== undefined) out.push('--cache-dir', a.cacheDir)
  if (a.cacheSize !== undefined) out.push('--cache-size', a.cacheSize)
  if (a.listingEntries !== undefined) out.push('--listing-entries', a.listingEntries)
  if (a.config !== undefined) out.push('--config', a.config)
  if (a.metrics !== undefined) out.push('--metrics', a.metrics)
  if (a.stopTimeout !== undefined) out.push('--stop-timeout', a.stopTimeout)
  if (a.system === true) out.push('--system')
  return out
}

function tail (file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Starts the daemon detached (its output appended to the log file) and waits until it answers
 * the handshake, at most `timeoutMs`. If another CLI started one at the same moment, ours exits
 * with LK_DAEMON_RUNNING and we simply connect to theirs.
 */
export async function startDaemon (paths: DaemonPaths, a: DaemonArgs, timeoutMs = 15_000): Promise<ControlClient> {
  mkdirSync(paths.home, { recursive: true, mode: 0o700 })
  const fd = openSync(paths.logfile, 'a', 0o600)
  const child = spawn(process.execPath, daemonArgv(a), { detached: true, stdio: ['ignore', fd, fd], env: process.env })
  closeSync(fd)
  let exited: number | null = null
  child.once('exit', (code, sig) => { exited = code ?? (sig === null ? 1 : 128) })
  child.once('error', () => { exited = 1 })
  child.unref()
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      return await ControlClient.connect({ socketPath: paths.socket, timeoutMs: 2000 })
    } catch (e) {
      last = e
      if (e instanceof LkError && e.code === 'LK_DAEMON_VERSION') throw e
    }
    if (exited !== null && exited !== 8) break // 8: another daemon won the race; keep trying
    await sleep(100)
  }
  const why = exited !== null ? `it exited with status ${exited as number}` : `it did not answer within ${timeoutMs} ms`
  throw new LkError('LK_DAEMON_UNAVAILABLE', `could not start the daemon: ${why}; its log is ${paths.logfile}:\n${tail(paths.logfile)}`, { cause: last })
}

export function pidAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM' }
}

export async function waitForExit (pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true
    await sleep(50)
  }
  return !pidAlive(pid)
}

export function readPidfile (paths: DaemonPaths): number | undefined {
  if (!existsSync(paths.pidfile)) return undefined
  const n = Number(readFileSync(paths.pidfile, 'utf8').trim())
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}
