// Child processes and mounts of one benchmark run, tracked so that every one of them is stopped
// and every mount point detached at the end, also when the run fails or is interrupted.
//
// Contract: a process is stopped by its own pid (SIGTERM, then SIGKILL after a grace period),
// never by name: other engineers run the same programs on this machine. Mount points are
// detached with `fusermount3 -u` (lazy `-uz` as the last resort) before their server process is
// stopped, so no reader is left with ENOTCONN.

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { readFileSync } from 'node:fs'

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

export interface Tracked {
  name: string
  child: ChildProcess
  /** stdout+stderr tail, for failure messages */
  output: () => string
  exited: Promise<number | null>
}

export function isMounted (mountpoint: string): boolean {
  const text = readFileSync('/proc/self/mountinfo', 'utf8')
  return text.split('\n').some(line => line.split(' ')[4] === mountpoint)
}

export class Procs {
  readonly #procs: Tracked[] = []
  readonly #mounts = new Set<string>()

  spawn (name: string, cmd: string, args: string[], opts: SpawnOptions = {}): Tracked {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    let tail = ''
    const keep = (d: Buffer): void => { tail = (tail + d.toString()).slice(-8000) }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    const exited = new Promise<number | null>(resolve => {
      child.once('exit', (code) => { resolve(code) })
      child.once('error', (e) => { tail += `\nspawn error: ${e.message}`; resolve(-1) })
    })
    const t: Tracked = { name, child, output: () => tail, exited }
    this.#procs.push(t)
    return t
  }

  /** a mount point to detach at cleanup unless unmounted before */
  trackMount (mountpoint: string): void { this.#mounts.add(mountpoint) }
  untrackMount (mountpoint: string): void { this.#mounts.delete(mountpoint) }

  /** fusermount3 -u with retries for a busy mount, then a lazy detach */
  async unmount (mountpoint: string): Promise<void> {
    for (let i = 0; i < 20 && isMounted(mountpoint); i++) {
      spawnSync('fusermount3', ['-u', mountpoint], { stdio: 'ignore' })
      if (!isMounted(mountpoint)) break
      await sleep(250)
    }
    if (isMounted(mountpoint)) spawnSync('fusermount3', ['-uz', mountpoint], { stdio: 'ignore' })
    this.#mounts.delete(mountpoint)
  }

  /** SIGTERM, wait, SIGKILL: by pid only */
  async stop (t: Tracked, graceMs = 15_000): Promise<void> {
    const i = this.#procs.indexOf(t)
    if (i !== -1) this.#procs.splice(i, 1)
    if (t.child.exitCode !== null || t.child.signalCode !== null) return
    t.child.kill('SIGTERM')
    const done = await Promise.race([t.exited.then(() => true), sleep(graceMs).then(() => false)])
    if (!done) {
      t.child.kill('SIGKILL')
      await t.exited
    }
  }

  async cleanup (): Promise<void> {
    for (const m of [...this.#mounts]) await this.unmount(m).catch(() => {})
    for (const t of [...this.#procs].reverse()) await this.stop(t).catch(() => {})
  }

  /** synchronous last resort for process 'exit': SIGKILL what is left, detach mounts lazily */
  killAllSync (): void {
    for (const m of this.#mounts) spawnSync('fusermount3', ['-uz', m], { stdio: 'ignore' })
    for (const t of this.#procs) { try { t.child.kill('SIGKILL') } catch {} }
  }
}

/** waits until `mountpoint` appears in the mount table or the process dies */
export async function waitMounted (mountpoint: string, t: Tracked | undefined, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!isMounted(mountpoint)) {
    if (t !== undefined && (t.child.exitCode !== null || t.child.signalCode !== null)) throw new Error(`${t.name} exited before mounting: ${t.output()}`)
    if (Date.now() > end) throw new Error(`${mountpoint} not mounted after ${timeoutMs} ms${t === undefined ? '' : `: ${t.output()}`}`)
    await sleep(50)
  }
}

/** runs a command to completion; resolves with stdout, rejects with stderr on failure */
export async function run (cmd: string, args: string[], opts: SpawnOptions = {}): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    let out = ''
    let err = ''
    child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-8000) })
    child.once('error', reject)
    child.once('exit', (code, sig) => {
      if (code === 0) resolve(out)
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? sig}): ${err}`))
    })
  })
}
