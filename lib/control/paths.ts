// Where the daemon keeps its socket, pidfile, log, state and default store.
//
// LK_MOUNT_HOME: `$LK_MOUNT_HOME` when set; for the system service (`--system`, or uid 0 with
// LK_MOUNT_SYSTEM=1) `/var/lib/lk-mount`; otherwise `$XDG_DATA_HOME/lk-mount` or
// `~/.local/share/lk-mount`. The socket is `$LK_MOUNT_SOCKET`, else for the system service
// `/run/lk-mount/lk-mountd.sock` (a directory a socket group can traverse, unlike the 0700 home),
// else `<home>/lk-mountd.sock`.
// Pure functions of the environment: both the CLI and the daemon call them with the same env, so
// they agree on the socket without talking.

import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { LkError } from '../core/errors.js'

export interface HomeOptions {
  env?: NodeJS.ProcessEnv
  /** `--system`: use the system service's home */
  system?: boolean
  uid?: number
}

export const SYSTEM_HOME = '/var/lib/lk-mount'
export const SYSTEM_SOCKET = '/run/lk-mount/lk-mountd.sock'

export function isSystemMode (opts: HomeOptions = {}): boolean {
  const env = opts.env ?? process.env
  const uid = opts.uid ?? (typeof process.getuid === 'function' ? process.getuid() : -1)
  return opts.system === true || (uid === 0 && env.LK_MOUNT_SYSTEM === '1')
}

export function resolveHome (opts: HomeOptions = {}): string {
  const env = opts.env ?? process.env
  if (env.LK_MOUNT_HOME !== undefined && env.LK_MOUNT_HOME !== '') return resolve(env.LK_MOUNT_HOME)
  if (isSystemMode(opts)) return SYSTEM_HOME
  const xdg = env.XDG_DATA_HOME
  if (xdg !== undefined && xdg !== '') return join(resolve(xdg), 'lk-mount')
  return join(env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir(), '.local', 'share', 'lk-mount')
}

export interface DaemonPaths {
  home: string
  socket: string
  pidfile: string
  logfile: string
  /** default embedded store */
  store: string
  /** per-mount state dirs live under <state>/mounts/<id> */
  state: string
  /** default shared cache */
  cache: string
}

export function daemonPaths (opts: HomeOptions = {}): DaemonPaths {
  const env = opts.env ?? process.env
  const home = resolveHome(opts)
  const homeFromEnv = env.LK_MOUNT_HOME !== undefined && env.LK_MOUNT_HOME !== ''
  const socket = env.LK_MOUNT_SOCKET !== undefined && env.LK_MOUNT_SOCKET !== ''
    ? resolve(env.LK_MOUNT_SOCKET)
    : (isSystemMode(opts) && !homeFromEnv ? SYSTEM_SOCKET : join(home, 'lk-mountd.sock'))
  return {
    home,
    socket,
    pidfile: join(home, 'lk-mountd.pid'),
    logfile: join(home, 'lk-mountd.log'),
    store: join(home, 'store'),
    state: join(home, 'state'),
    cache: join(home, 'cache'),
  }
}

/** Unix socket paths are limited to 107 bytes (sun_path); longer ones fail obscurely, so say so. */
export const MAX_SOCKET_PATH = 107

export function checkSocketPath (path: string): void {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new LkError('LK_USAGE', `the control socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes; set LK_MOUNT_SOCKET (or LK_MOUNT_HOME) to a shorter path`)
  }
}
