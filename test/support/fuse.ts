// Helpers for tests that drive a real FUSE mount. The process that serves a mount must never make
// a synchronous syscall into it (its own event loop would be the one to answer: deadlock), so
// tests touch mounts only through node:fs/promises or child processes, both provided here.

import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { forceUnmount, mountFuse } from '../../lib/fuse/index.js'
import type { FuseMount, FuseOptions } from '../../lib/fuse/types.js'
import type { FsCore } from '../../lib/fs/types.js'

/**
 * true when FUSE tests must run. Skips (loudly) only when /dev/fuse is absent; when it exists,
 * a mount that fails makes the test fail, never skip.
 */
export function fuseAvailable (t: Test): boolean {
  if (existsSync('/dev/fuse')) return true
  const msg = '/dev/fuse is absent on this machine: the FUSE tests are NOT running (they pass only where FUSE exists)'
  process.stderr.write(`\n${'!'.repeat(100)}\n!! ${msg}\n${'!'.repeat(100)}\n\n`)
  // a plan of zero with a reason is tap's "skip everything in this test"
  t.plan(0, msg)
  return false
}

export interface ShResult { code: number, stdout: string, stderr: string }

/** runs a command in a child process (never blocks this process's event loop) */
export function sh (cmd: string, args: string[], opts: { cwd?: string, input?: string, timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Promise<ShResult> {
  return new Promise(resolve => {
    const child = execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20, encoding: 'utf8', env: opts.env ?? process.env }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
      resolve({ code, stdout, stderr })
    })
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

export interface TestMount {
  mount: FuseMount
  dir: string
}

/** mounts `core` on a fresh temp directory; the teardown unmounts and removes it, whatever happened */
export async function mountForTest (t: Test, core: FsCore, opts: Partial<FuseOptions> = {}): Promise<TestMount> {
  const dir = await mkdtemp(join(tmpdir(), 'lk-fuse-'))
  const full: FuseOptions = { readOnly: false, immutable: false, fsName: 'lk-test', ...opts }
  let mount: FuseMount
  try {
    mount = await mountFuse(core, dir, full)
  } catch (e) {
    await rm(dir, { recursive: true, force: true })
    throw e
  }
  t.teardown(async () => {
    await mount.unmount({ lazy: true }).catch(() => {})
    await forceUnmount(dir).catch(() => {})
    await rm(dir, { recursive: true, force: true }).catch(() => {})
  })
  return { mount, dir }
}

/** /proc/mounts line of a mount point (the option field shows ro, the fsname, the subtype) */
export async function procMountsLine (dir: string): Promise<string | undefined> {
  const { stdout } = await sh('cat', ['/proc/mounts'])
  return stdout.split('\n').find(l => l.split(' ')[1] === dir)
}
