// lk-mount doctor: checks what a node needs to mount, says how to fix each problem, and exits
// non-zero when something is broken (warnings alone exit 0). With --json: one object with every
// check. It never imports fuse-native (the CLI's layer rule): a child node process loads it.

import { execFile } from 'node:child_process'
import { accessSync, constants as fsc, existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CommandModule } from 'yargs'
import { LkError } from '../../lib/core/errors.js'
import { ControlClient } from '../../lib/control/client.js'
import { daemonPaths } from '../../lib/control/paths.js'
import { PACKAGE_VERSION } from '../../lib/control/version.js'
import { checkSecretFile, configFileFor, emptyConfig, loadConfig, loadCredentials, type DaemonConfig } from '../../lib/config/index.js'
import { out, printJson, type GlobalArgs } from '../context.js'

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip'

export interface Check {
  name: string
  status: CheckStatus
  detail: string
  fix?: string
}

function run (cmd: string, args: string[], timeoutMs = 15_000): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise(resolve => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : e.code === 'ENOENT' ? 127 : 1, stdout: String(stdout), stderr: String(stderr) })
    })
  })
}

function which (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = join(dir, name)
    try { accessSync(p, fsc.X_OK); return p } catch { /* next */ }
  }
  return undefined
}

const root = (process.getuid?.() ?? 0) === 0

function checkFuseDevice (): Check {
  const name = 'fuse device'
  if (!existsSync('/dev/fuse')) {
    return { name, status: 'fail', detail: '/dev/fuse does not exist', fix: 'load the module (`modprobe fuse`); in a container run it with `--device /dev/fuse --cap-add SYS_ADMIN`; or use `lk-mount sync` where FUSE cannot exist' }
  }
  const st = statSync('/dev/fuse')
  if (!st.isCharacterDevice()) return { name, status: 'fail', detail: '/dev/fuse is not a character device', fix: 'remove it and reload the fuse module (`modprobe -r fuse && modprobe fuse`)' }
  try {
    accessSync('/dev/fuse', fsc.R_OK | fsc.W_OK)
  } catch {
    return { name, status: root ? 'fail' : 'warn', detail: `/dev/fuse (mode ${(st.mode & 0o777).toString(8)}) is not readable and writable by this user`, fix: root ? 'check the device cgroup (DeviceAllow=/dev/fuse rw in the unit)' : 'the system daemon runs as root and can use it; for a user daemon: `chmod 666 /dev/fuse` or a udev rule' }
  }
  return { name, status: 'ok', detail: '/dev/fuse is usable' }
}

function checkFusermount (): Check {
  const name = 'fusermount'
  const p = which('fusermount3') ?? which('fusermount')
  if (p === undefined) return { name, status: 'fail', detail: 'neither fusermount3 nor fusermount is on PATH (unmounting and auto-unmount need it)', fix: 'install fuse3: `apt-get install fuse3` (not the `fuse` package, which conflicts)' }
  const st = statSync(p)
  if (!root && (st.mode & 0o4000) === 0) return { name, status: 'warn', detail: `${p} is not setuid: only root can mount with it`, fix: `chmod u+s ${p}, or use the system daemon` }
  return { name, status: 'ok', detail: p }
}

async function checkLibfuse (): Promise<Check> {
  const name = 'libfuse.so.2'
  const dirs = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(d => d !== '')
  for (const d of dirs) if (existsSync(join(d, 'libfuse.so.2'))) return { name, status: 'ok', detail: join(d, 'libfuse.so.2') + ' (LD_LIBRARY_PATH)' }
  const r = await run('ldconfig', ['-p'])
  const line = r.stdout.split('\n').find(l => /\blibfuse\.so\.2\b/.test(l))
  if (line !== undefined) return { name, status: 'ok', detail: line.trim() }
  return { name, status: 'fail', detail: 'libfuse.so.2 is not in the linker cache nor on LD_LIBRARY_PATH (fuse-native loads it)', fix: 'install libfuse2 (`apt-get install libfuse2`, `libfuse2t64` on Ubuntu 24.04), or point LD_LIBRARY_PATH at a directory with libfuse.so.2' }
}

async function checkFuseNative (): Promise<Check> {
  const name = 'fuse-native'
  // resolved the way the daemon resolves it: from the installation this CLI belongs to
  const from = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'daemon', 'main.js')
  const r = await run(process.execPath, ['--input-type=module', '-e', `import { createRequire } from 'node:module'; const req = createRequire(${JSON.stringify(from)}); const F = req('fuse-native'); if (typeof F !== 'function') throw new Error('unexpected export'); console.log(req.resolve('fuse-native'))`])
  if (r.code === 0) return { name, status: 'ok', detail: `loads (${r.stdout.trim()})` }
  const why = r.stderr.split('\n').find(l => /Error|cannot open/i.test(l))?.trim() ?? r.stderr.trim().slice(0, 200)
  return { name, status: 'fail', detail: `the binding does not load: ${why}`, fix: /libfuse/.test(why) ? 'install libfuse2 (see libfuse.so.2)' : 'reinstall the package (`npm ci` in the lk-mount tree) with a Node version its prebuilds support' }
}

async function checkPackages (): Promise<Check> {
  const name = 'packages'
  if (which('dpkg-query') === undefined) return { name, status: 'skip', detail: 'not a dpkg system: see the libfuse.so.2 and fusermount checks' }
  const r = await run('dpkg-query', ['-W', '-f', '${Package} ${Status}\\n', 'libfuse2', 'libfuse2t64', 'fuse3', 'fuse'])
  const installed = new Set(r.stdout.split('\n').filter(l => l.includes('install ok installed')).map(l => l.split(' ')[0]))
  const missing: string[] = []
  if (!installed.has('libfuse2') && !installed.has('libfuse2t64')) missing.push('libfuse2 (libfuse2t64 on Ubuntu 24.04)')
  if (!installed.has('fuse3')) missing.push('fuse3')
  if (missing.length > 0) return { name, status: 'warn', detail: `not installed: ${missing.join(', ')}`, fix: `apt-get install ${missing.map(m => m.split(' ')[0]).join(' ')}` }
  return { name, status: 'ok', detail: [...installed].join(', ') }
}

function checkNode (): Check {
  const [maj = 0, min = 0] = process.versions.node.split('.').map(Number)
  if (maj < 20 || (maj === 20 && min < 19)) return { name: 'node', status: 'fail', detail: `Node ${process.versions.node}`, fix: 'install Node.js 20.19 or newer' }
  return { name: 'node', status: 'ok', detail: `Node ${process.versions.node} (${process.execPath})` }
}

function checkNotify (): Check | undefined {
  if (!existsSync('/run/systemd/system')) return undefined
  const p = which('systemd-notify')
  if (p === undefined) return { name: 'systemd-notify', status: 'fail', detail: 'systemd runs but systemd-notify is missing: lk-mountd.service (Type=notify) would never become ready', fix: 'install the systemd package, or set Type=simple in a drop-in' }
  return { name: 'systemd-notify', status: 'ok', detail: p }
}

function checkMountHelper (): Check {
  const name = 'mount helper'
  const p = ['/sbin/mount.fuse.lk-mount', '/usr/sbin/mount.fuse.lk-mount'].find(f => existsSync(f))
  if (p === undefined) return { name, status: 'warn', detail: 'mount.fuse.lk-mount is not installed: fstab lines and .mount units of type fuse.lk-mount will not work', fix: 'run scripts/install-systemd.sh' }
  return { name, status: 'ok', detail: p }
}

async function checkSocket (socket: string, cfg: DaemonConfig): Promise<Check> {
  const name = 'control socket'
  let st
  try {
    st = statSync(socket)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EACCES') {
      return { name, status: 'fail', detail: `${socket}: this user may not even reach it (a directory on the way refuses)`, fix: `join the socket's group (\`usermod -aG ${cfg.socket.group ?? 'lk-mount'} $USER\`, with socket.mode "0660" in the config), or use sudo` }
    }
    return { name, status: 'warn', detail: `${socket} does not exist: no daemon is running`, fix: 'start it: `systemctl start lk-mountd` (or `lk-mount daemon`)' }
  }
  const mode = st.mode & 0o777
  const problems: string[] = []
  if ((mode & 0o007) !== 0) problems.push(`others have access (mode ${mode.toString(8)})`)
  if (st.uid !== 0 && st.uid !== process.getuid?.()) problems.push(`owned by uid ${st.uid}`)
  const desc = `${socket} mode ${mode.toString(8).padStart(4, '0')} uid ${st.uid} gid ${st.gid}${cfg.socket.group === undefined ? '' : ` (group ${cfg.socket.group} configured)`}`
  if (problems.length > 0) return { name, status: 'fail', detail: `${desc}: ${problems.join('; ')}`, fix: 'restart the daemon: it recreates the socket 0600 (or 0660 with socket.group)' }
  try {
    const c = await ControlClient.connect({ socketPath: socket, timeoutMs: 3000 })
    const d = c.daemon
    c.close()
    return { name, status: 'ok', detail: `${desc}; daemon pid ${d.pid}, lk-mount ${d.version}${d.version === PACKAGE_VERSION ? '' : ` (this CLI is ${PACKAGE_VERSION})`}` }
  } catch (e) {
    const code = e instanceof LkError ? e.code : 'LK_INTERNAL'
    if (code === 'LK_SOCKET_PERMISSION') return { name, status: 'fail', detail: `${desc}: this user may not connect`, fix: `join the socket's group (\`usermod -aG ${cfg.socket.group ?? 'lk-mount'} $USER\`, then log in again) or use sudo` }
    if (code === 'LK_DAEMON_VERSION') return { name, status: 'fail', detail: `${desc}: ${(e as Error).message}`, fix: 'restart the daemon after upgrading: `systemctl restart lk-mountd`' }
    return { name, status: 'fail', detail: `${desc}: nothing answers (${(e as Error).message})`, fix: 'the daemon died and left its socket: `systemctl restart lk-mountd`, see `journalctl -u lk-mountd`' }
  }
}

function checkCredentials (cfg: DaemonConfig): Check {
  const name = 'credentials'
  if (cfg.lakefs.credentialsFile === undefined && process.env.LAKECTL_CREDENTIALS_ACCESS_KEY_ID === undefined) {
    return { name, status: 'skip', detail: cfg.lakefs.endpoint === undefined ? 'no lakeFS endpoint configured: the embedded store needs none' : 'no credentials configured' }
  }
  try {
    if (cfg.lakefs.credentialsFile !== undefined && process.env.LAKECTL_CREDENTIALS_ACCESS_KEY_ID === undefined) checkSecretFile(cfg.lakefs.credentialsFile)
    const c = loadCredentials(cfg.lakefs)
    if (c === undefined) return { name, status: 'skip', detail: 'none configured' }
    return { name, status: 'ok', detail: `access key ${c.accessKeyId} from ${c.where}` }
  } catch (e) {
    const lk = e instanceof LkError ? e : new LkError('LK_CONFIG', String(e))
    const unreadable = /EACCES/.test(lk.message)
    return { name, status: 'fail', detail: lk.message, fix: unreadable ? 'run doctor as root (the daemon reads the file as root), or check the file\'s owner' : lk.hint }
  }
}

async function checkRemote (cfg: DaemonConfig): Promise<Check> {
  const name = 'remote'
  let endpoint = cfg.lakefs.endpoint
  let creds
  try { creds = loadCredentials(cfg.lakefs) } catch { creds = undefined }
  endpoint ??= creds?.endpoint
  if (endpoint === undefined) return { name, status: 'skip', detail: 'no lakeFS endpoint configured: mounts use the embedded store' }
  const base = endpoint.replace(/\/+$/, '').replace(/\/api\/v1$/, '') + '/api/v1'
  try {
    const h = await fetch(base + '/healthcheck', { signal: AbortSignal.timeout(5000) })
    if (!h.ok) return { name, status: 'fail', detail: `${base}/healthcheck answered HTTP ${h.status}`, fix: 'check the endpoint URL (lakefs.endpoint) and that lakeFS runs' }
    if (creds === undefined) return { name, status: 'warn', detail: `${base} answers, but no credentials are configured`, fix: 'set lakefs.credentialsFile or LAKECTL_CREDENTIALS_* (see the credentials check)' }
    const auth = 'Basic ' + Buffer.from(`${creds.accessKeyId}:${creds.secretAccessKey}`).toString('base64')
    const u = await fetch(base + '/user', { headers: { authorization: auth }, signal: AbortSignal.timeout(5000) })
    if (u.status === 401 || u.status === 403) return { name, status: 'fail', detail: `${base} refused access key ${creds.accessKeyId} (HTTP ${u.status})`, fix: 'the key or secret is wrong or revoked: create a new one in lakeFS and update the credentials file' }
    if (!u.ok) return { name, status: 'warn', detail: `${base}/user answered HTTP ${u.status}` }
    return { name, status: 'ok', detail: `${base} answers and accepts access key ${creds.accessKeyId}` }
  } catch (e) {
    return { name, status: 'fail', detail: `${base} is unreachable: ${(e as Error).message}`, fix: 'check DNS, routes and firewalls between this node and lakeFS; `curl ${endpoint}/api/v1/healthcheck` should answer' }
  }
}

export async function runChecks (opts: { system: boolean, config?: string | undefined }): Promise<Check[]> {
  const checks: Check[] = [checkNode(), checkFuseDevice(), checkFusermount(), await checkLibfuse(), await checkFuseNative(), await checkPackages(), checkMountHelper()]
  const notify = checkNotify()
  if (notify !== undefined) checks.push(notify)
  let cfg = emptyConfig()
  const which = configFileFor({ explicit: opts.config, system: opts.system })
  try {
    cfg = loadConfig({ explicit: opts.config, system: opts.system })
    checks.push({ name: 'config', status: 'ok', detail: cfg.file === undefined ? `none (${which?.file ?? 'no config file for a user daemon'}): defaults` : `${cfg.file}: ${cfg.mounts.length} declared mounts${cfg.mountRoots.length > 0 ? `, mountRoots ${cfg.mountRoots.join(' ')}` : ''}` })
  } catch (e) {
    const lk = e instanceof LkError ? e : new LkError('LK_CONFIG', String(e))
    checks.push({ name: 'config', status: 'fail', detail: lk.message, fix: lk.hint })
  }
  const env = { ...process.env, ...(cfg.home === undefined ? {} : { LK_MOUNT_HOME: cfg.home }) }
  const paths = daemonPaths({ system: opts.system, env })
  const socket = process.env.LK_MOUNT_SOCKET !== undefined && process.env.LK_MOUNT_SOCKET !== '' ? paths.socket : (cfg.socket.path ?? paths.socket)
  checks.push(await checkSocket(socket, cfg))
  checks.push(checkCredentials(cfg))
  checks.push(await checkRemote(cfg))
  for (const m of cfg.mounts) {
    if (m.allowOther && !root && !readdirSafe('/etc').includes('fuse.conf')) {
      checks.push({ name: 'allow_other', status: 'warn', detail: `${m.mountpoint} asks allowOther`, fix: 'a non-root daemon needs user_allow_other in /etc/fuse.conf' })
    }
  }
  return checks
}

function readdirSafe (d: string): string[] {
  try { return readdirSync(d) } catch { return [] }
}

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: '--  ' }

export const doctorCommand: CommandModule<GlobalArgs, GlobalArgs & { config?: string }> = {
  command: 'doctor',
  describe: 'Check this machine for what mounting needs, and say how to fix what is missing',
  builder: (y) => y
    .option('config', { type: 'string', describe: 'the daemon\'s config file (default $LK_MOUNT_CONFIG, or /etc/lk-mount/config.yaml with --system)' })
    .epilog('Checks /dev/fuse, fusermount, libfuse.so.2, that fuse-native loads, the packages, the mount helper, config.yaml, the control socket and its permissions, the credentials file and the configured remote. Exit status 1 when a check fails (warnings alone exit 0).'),
  handler: async (a) => {
    const checks = await runChecks({ system: a.system, config: a.config })
    const failed = checks.filter(c => c.status === 'fail').length
    if (a.json) {
      printJson({ ok: failed === 0, checks })
    } else {
      for (const c of checks) {
        out(`${MARK[c.status]}  ${c.name}: ${c.detail}`)
        if (c.fix !== undefined && c.status !== 'ok') out(`      fix: ${c.fix}`)
      }
      out(failed === 0 ? 'no problems found' : `${failed} problem${failed === 1 ? '' : 's'} found`)
    }
    if (failed > 0) process.exitCode = 1
  },
}
