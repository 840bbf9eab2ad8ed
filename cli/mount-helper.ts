#!/usr/bin/env node
// The mount(8)/umount(8) helper: installed as /sbin/mount.fuse.lk-mount and
// /sbin/umount.fuse.lk-mount (by scripts/install-systemd.sh), so that
//
//   mount -t fuse.lk-mount lakefs://repo/main /data -o ro,cache-size=100G
//   lakefs://repo/main  /data  fuse.lk-mount  _netdev,ro,cache-size=100G  0 0     (fstab)
//   a systemd .mount unit with Type=fuse.lk-mount
//
// all work: mount(8) runs `mount.<type> SOURCE DIR [-sfnv] -o OPTIONS` for a type it has no
// kernel support for (mount.fuse.lk-mount is found before the generic mount.fuse, which would
// instead run a program named after the subtype with the same arguments), and umount(8) runs
// `umount.<type> DIR [-flags]` for a mount whose type in /proc/self/mountinfo is fuse.lk-mount.
// The helper asks the system daemon over its socket to mount (starting lk-mountd.service when
// systemd runs, or the daemon itself otherwise) and exits once the mount is live; unmounting goes
// through the daemon too, so a write mount's on-unmount policy (commit) applies.
//
// Exit statuses follow mount(8): 0 ok, 1 incorrect invocation, 32 mount failure.

import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { LkError, toLkError } from '../lib/core/errors.js'
import { ControlClient } from '../lib/control/client.js'
import { daemonPaths, type DaemonPaths } from '../lib/control/paths.js'
import { parseSize } from '../lib/control/size.js'
import { loadConfig } from '../lib/config/index.js'
import { startDaemon } from './daemon-process.js'

const EX_USAGE = 1
const EX_FAIL = 32

/** options mount(8), systemd and fstab use for themselves: accepted and ignored */
const GENERIC = new Set(['defaults', 'auto', 'noauto', '_netdev', 'nofail', 'user', 'users', 'nouser', 'owner', 'group', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'atime', 'noatime', 'relatime', 'norelatime', 'strictatime', 'lazytime', 'sync', 'async', 'dirsync', 'silent', 'loud', 'comment'])

export interface HelperMount {
  source: string
  mountpoint: string
  write: boolean
  allowOther: boolean
  /** false: -o noxattrs */
  xattrs?: boolean
  cacheSize?: number
  cacheDir?: string
  onUnmount?: 'commit' | 'keep' | 'discard'
  message?: string
  metadata?: Record<string, string>
  store?: string
  fake: boolean
  verbose: boolean
}

function usage (msg: string): never {
  throw Object.assign(new LkError('LK_USAGE', msg), { helperExit: EX_USAGE })
}

/** `SOURCE DIR [-s] [-f] [-n] [-v] [-o opts]...` as mount(8) passes them */
export function parseMountArgs (argv: readonly string[]): HelperMount {
  const pos: string[] = []
  const opts: string[] = []
  let fake = false
  let verbose = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? ''
    if (a === '-o') { const v = argv[++i]; if (v === undefined) usage('-o needs options'); opts.push(v); continue }
    if (a.startsWith('-o')) { opts.push(a.slice(2)); continue }
    if (/^-[sfnvNrw]+$/.test(a)) {
      if (a.includes('f')) fake = true
      if (a.includes('v')) verbose = true
      if (a.includes('w')) opts.push('rw')
      if (a.includes('r')) opts.push('ro')
      continue
    }
    if (a === '-t') { i++; continue }
    pos.push(a)
  }
  if (pos.length !== 2) usage(`expected SOURCE and DIRECTORY, got ${pos.length} arguments`)
  const [source = '', dir = ''] = pos
  const m: HelperMount = { source, mountpoint: resolve(dir), write: false, allowOther: false, fake, verbose }
  for (const o of opts.flatMap(s => s.split(',')).filter(s => s !== '')) {
    const eq = o.indexOf('=')
    const key = eq < 0 ? o : o.slice(0, eq)
    const val = eq < 0 ? undefined : o.slice(eq + 1)
    const need = (): string => { if (val === undefined || val === '') usage(`option ${key} needs a value (${key}=...)`); return val }
    if (key === 'ro') m.write = false
    else if (key === 'rw' || key === 'write') m.write = true
    else if (key === 'allow_other') m.allowOther = true
    else if (key === 'noxattrs' || key === 'no-xattrs') m.xattrs = false
    else if (key === 'cache-size' || key === 'cache_size') m.cacheSize = parseSize(need())
    else if (key === 'cache-dir' || key === 'cache_dir') m.cacheDir = need()
    else if (key === 'on-unmount' || key === 'on_unmount') {
      const v = need()
      if (v !== 'commit' && v !== 'keep' && v !== 'discard') usage('on-unmount must be commit, keep or discard')
      m.onUnmount = v
    } else if (key === 'message') m.message = need()
    else if (key.startsWith('meta.') && key.length > 5) (m.metadata ??= {})[key.slice(5)] = val ?? ''
    else if (key === 'store') m.store = need()
    else if (GENERIC.has(key) || key.startsWith('x-') || key.startsWith('comment=')) continue
    else usage(`unknown option ${JSON.stringify(o)}; lk-mount takes ro, rw, allow_other, noxattrs, cache-size=, cache-dir=, on-unmount=, message=, meta.KEY=VALUE, store=`)
  }
  return m
}

function run (cmd: string, args: string[]): Promise<{ code: number, stderr: string }> {
  return new Promise(resolve => {
    execFile(cmd, args, { timeout: 120_000 }, (err, _o, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stderr: String(stderr) })
    })
  })
}

function systemPaths (): DaemonPaths {
  const config = loadConfig({ system: true })
  const env = { ...process.env, ...(config.home === undefined ? {} : { LK_MOUNT_HOME: config.home }) }
  const p = daemonPaths({ system: true, env })
  const socket = process.env.LK_MOUNT_SOCKET !== undefined && process.env.LK_MOUNT_SOCKET !== '' ? p.socket : (config.socket.path ?? p.socket)
  return { ...p, socket }
}

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** the system daemon: connects, or starts it (systemd unit when systemd runs, else directly) */
async function daemon (paths: DaemonPaths): Promise<ControlClient> {
  try {
    return await ControlClient.connect({ socketPath: paths.socket })
  } catch (e) {
    if (!(e instanceof LkError) || e.code !== 'LK_DAEMON_UNAVAILABLE') throw e
  }
  if (existsSync('/run/systemd/system') && process.env.LK_MOUNT_HELPER_NO_SYSTEMD !== '1') {
    const r = await run('systemctl', ['start', 'lk-mountd.service'])
    if (r.code !== 0) throw new LkError('LK_DAEMON_UNAVAILABLE', `systemctl start lk-mountd.service failed: ${r.stderr.trim()}`)
    const deadline = Date.now() + 30_000
    for (;;) {
      try { return await ControlClient.connect({ socketPath: paths.socket }) } catch (e) { if (Date.now() > deadline) throw e }
      await sleep(200)
    }
  }
  return await startDaemon(paths, { system: true })
}

async function mountMain (argv: string[]): Promise<void> {
  const m = parseMountArgs(argv)
  if (m.fake) return
  const c = await daemon(systemPaths())
  try {
    const st = await c.request('mount', {
      uri: m.source,
      mountpoint: m.mountpoint,
      write: m.write,
      allowOther: m.allowOther,
      target: m.store === undefined ? {} : { store: resolve(m.store) },
      ...(m.cacheSize === undefined ? {} : { cacheSize: m.cacheSize }),
      ...(m.cacheDir === undefined ? {} : { cacheDir: resolve(m.cacheDir) }),
      ...(m.onUnmount === undefined ? {} : { onUnmount: m.onUnmount }),
      ...(m.message === undefined ? {} : { message: m.message }),
      ...(m.metadata === undefined ? {} : { metadata: m.metadata }),
      ...(m.xattrs === false ? { xattrs: false } : {}),
    })
    if (m.verbose) process.stdout.write(`mounted ${st.uri} at ${st.mountpoint} (commit ${st.pinnedCommit})\n`)
  } finally {
    c.close()
  }
}

async function umountMain (argv: string[]): Promise<void> {
  const dir = argv.find(a => !a.startsWith('-'))
  if (dir === undefined) usage('expected the mount point')
  const flags = argv.filter(a => /^-[lfnrvd]+$/.test(a)).join('').replace(/-/g, '')
  const mountpoint = resolve(dir)
  let c: ControlClient | undefined
  try {
    c = await ControlClient.connect({ socketPath: systemPaths().socket })
    await c.request('umount', { mountpoint })
    return
  } catch (e) {
    // not ours (or no daemon any more): a plain kernel unmount, without calling this helper again
    if (!(e instanceof LkError) || (e.code !== 'LK_NOT_MOUNTED' && e.code !== 'LK_DAEMON_UNAVAILABLE')) throw e
  } finally {
    c?.close()
  }
  const args = ['-i', ...(flags.includes('l') ? ['-l'] : []), ...(flags.includes('f') ? ['-f'] : []), mountpoint]
  const r = await run('umount', args)
  if (r.code !== 0) throw new LkError('LK_MOUNTPOINT_BUSY', `umount ${args.join(' ')} failed: ${r.stderr.trim()}`)
}

async function main (): Promise<void> {
  const argv = process.argv.slice(2)
  const unmounting = argv[0] === '--umount'
  try {
    if (unmounting) await umountMain(argv.slice(1))
    else await mountMain(argv)
  } catch (e) {
    const lk = toLkError(e)
    const name = unmounting ? 'umount.fuse.lk-mount' : 'mount.fuse.lk-mount'
    process.stderr.write(`${name}: ${lk.message}\n  ${lk.hint}\n`)
    process.exitCode = (e as { helperExit?: number }).helperExit ?? (lk.code === 'LK_USAGE' || lk.code === 'LK_BAD_URI' ? EX_USAGE : EX_FAIL)
  }
}

if (process.argv[1] !== undefined && /mount-helper\.js$/.test(process.argv[1])) await main()
