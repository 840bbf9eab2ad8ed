// A harness that plays systemd's part for the lk-mountd unit: it installs the unit with
// scripts/install-systemd.sh into a temp root, reads ExecStart/ExecReload/ExecStop and
// Environment= from the installed file, and runs those exact command lines — with the temp
// root prefixed to /etc/lk-mount and the unit's LK_MOUNT_HOME/LK_MOUNT_SOCKET pointed at temp
// directories — with NOTIFY_SOCKET bound by a python3 AF_UNIX datagram listener
// (test/fixtures/notify-listener.py) that records every notification and its sender's pid.
//
// Everything started here is stopped by pid in the teardown, and every mount point is detached.

import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { forceUnmount, isMounted } from '../../lib/fuse/index.js'
import { sh, type ShResult } from './fuse.js'

/** dist/test/support/service.js -> the repository root */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const CLI = join(REPO, 'dist', 'cli', 'main.js')

export interface Unit {
  file: string
  root: string
  service: Map<string, string[]>
  text: string
}

export function parseUnit (text: string, file: string, root: string): Unit {
  const service = new Map<string, string[]>()
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const sec = /^\[(.+)\]$/.exec(line)
    if (sec !== null) { section = sec[1] ?? ''; continue }
    const eq = line.indexOf('=')
    if (section !== 'Service' || eq < 0) continue
    const k = line.slice(0, eq)
    service.set(k, [...(service.get(k) ?? []), line.slice(eq + 1)])
  }
  return { file, root, service, text }
}

/** installs into a fresh temp root and returns the parsed unit */
export async function installUnit (t: Test): Promise<Unit> {
  const root = await mkdtemp(join(tmpdir(), 'lk-root-'))
  t.teardown(async () => { await rm(root, { recursive: true, force: true }) })
  const r = await sh(join(REPO, 'scripts', 'install-systemd.sh'), ['--destdir', root, '--prefix', REPO])
  if (r.code !== 0) throw new Error(`install-systemd.sh failed: ${r.stderr}`)
  const file = join(root, 'etc', 'systemd', 'system', 'lk-mountd.service')
  return parseUnit(await readFile(file, 'utf8'), file, root)
}

export function one (u: Unit, key: string): string {
  const v = u.service.get(key)
  if (v === undefined || v.length !== 1 || v[0] === undefined) throw new Error(`the unit has ${v?.length ?? 0} ${key}= lines`)
  return v[0]
}

export interface Notification { pid: number | null, fields: Record<string, string> }

export class NotifyListener {
  readonly messages: Notification[] = []
  readonly #waiters = new Set<() => void>()
  constructor (readonly path: string, readonly proc: ChildProcess) {}

  static async start (t: Test, dir: string): Promise<NotifyListener> {
    const path = join(dir, 'notify.sock')
    const proc = spawn('python3', [join(REPO, 'test', 'fixtures', 'notify-listener.py'), path], { stdio: ['ignore', 'pipe', 'inherit'] })
    t.teardown(() => { if (proc.exitCode === null) proc.kill('SIGKILL') })
    const l = new NotifyListener(path, proc)
    let buf = ''
    let listening: () => void = () => {}
    const up = new Promise<void>(resolve => { listening = resolve })
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        const msg = JSON.parse(line) as Notification | { listening: string }
        if ('listening' in msg) { listening(); continue }
        l.messages.push(msg)
        for (const w of l.#waiters) w()
      }
    })
    await up
    return l
  }

  /** resolves with the first message (from index `from`) that has `key=value` */
  async waitFor (key: string, value: string, from = 0, timeoutMs = 60_000): Promise<{ msg: Notification, index: number }> {
    const find = (): { msg: Notification, index: number } | undefined => {
      for (let i = from; i < this.messages.length; i++) { const m = this.messages[i]; if (m?.fields[key] === value) return { msg: m, index: i } }
      return undefined
    }
    const hit = find()
    if (hit !== undefined) return hit
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.#waiters.delete(check); reject(new Error(`no ${key}=${value} notification within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`)) }, timeoutMs)
      const check = (): void => {
        const h = find()
        if (h !== undefined) { clearTimeout(timer); this.#waiters.delete(check); resolve(h) }
      }
      this.#waiters.add(check)
    })
  }
}

export interface ServiceEnv {
  dir: string
  home: string
  socket: string
  config: string
  env: NodeJS.ProcessEnv
}

/** the unit's Environment= with the paths moved into `dir`; the config file is the installed one */
export async function serviceEnv (t: Test, u: Unit, configYaml: string): Promise<ServiceEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'lk-svc-'))
  await chmod(dir, 0o755)
  const home = join(dir, 'home')
  const socket = join(dir, 'run', 'lk-mountd.sock')
  const config = join(u.root, 'etc', 'lk-mount', 'config.yaml')
  await writeFile(config, configYaml)
  const unitEnv: Record<string, string> = {}
  for (const e of u.service.get('Environment') ?? []) { const i = e.indexOf('='); unitEnv[e.slice(0, i)] = e.slice(i + 1) }
  const env = { ...process.env, ...unitEnv, LK_MOUNT_HOME: home, LK_MOUNT_SOCKET: socket, LK_MOUNT_LOG_LEVEL: 'info' }
  delete (env as NodeJS.ProcessEnv).NOTIFY_SOCKET
  t.teardown(async () => {
    // any mount under the test dir is detached before the directory goes
    const info = readFileSync('/proc/self/mountinfo', 'utf8')
    for (const line of info.split('\n')) {
      const mp = line.split(' ')[4]
      if (mp !== undefined && mp.startsWith(dir + '/')) await forceUnmount(mp).catch(() => {})
    }
    await rm(dir, { recursive: true, force: true }).catch(() => {})
  })
  return { dir, home, socket, config, env }
}

/** a command line of the unit, with the temp root in front of /etc/lk-mount and $MAINPID set */
export function commandOf (u: Unit, line: string, mainPid?: number): string[] {
  const text = line.replace(/^[-@:+!]+/, '')
    .replace(/\/etc\/lk-mount\//g, join(u.root, 'etc', 'lk-mount') + '/')
    .replace(/\$MAINPID|\$\{MAINPID\}/g, String(mainPid ?? ''))
  return text.split(/\s+/).filter(s => s !== '')
}

export interface Daemon {
  proc: ChildProcess
  pid: number
  log: () => string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** runs ExecStart like systemd would: NOTIFY_SOCKET set, stdout/stderr collected (the journal) */
export function execStart (t: Test, u: Unit, s: ServiceEnv, notify: NotifyListener | undefined, extraEnv: NodeJS.ProcessEnv = {}): Daemon {
  const [cmd = '', ...args] = commandOf(u, one(u, 'ExecStart'))
  const proc = spawn(cmd, args, { env: { ...s.env, ...(notify === undefined ? {} : { NOTIFY_SOCKET: notify.path }), ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  proc.stdout?.on('data', (d: Buffer) => { log += d.toString() })
  proc.stderr?.on('data', (d: Buffer) => { log += d.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => { proc.once('exit', (code, signal) => { resolve({ code, signal }) }) })
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM')
      const done = await Promise.race([exited.then(() => true), new Promise(r => setTimeout(() => { r(false) }, 20_000))])
      if (done !== true) proc.kill('SIGKILL')
    }
  })
  if (proc.pid === undefined) throw new Error('ExecStart did not start')
  return { proc, pid: proc.pid, log: () => log, exited }
}

/** runs ExecStop / ExecReload (or any unit command line) to completion */
export async function execLine (u: Unit, key: string, s: ServiceEnv, mainPid: number, timeoutMs = 150_000): Promise<ShResult> {
  const [cmd = '', ...args] = commandOf(u, one(u, key), mainPid)
  return await sh(cmd, args, { env: s.env, timeoutMs })
}

export async function cli (s: ServiceEnv, args: string[], opts: { timeoutMs?: number } = {}): Promise<ShResult> {
  return await sh(process.execPath, [CLI, '--no-spawn', ...args], { env: s.env, ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) })
}

export async function mountedAt (dir: string): Promise<boolean> {
  return await isMounted(dir)
}

/** parsed JSON log lines of the daemon */
export function logLines (d: Daemon): Array<Record<string, unknown>> {
  return d.log().split('\n').filter(l => l.startsWith('{')).map(l => { try { return JSON.parse(l) as Record<string, unknown> } catch { return {} } })
}
