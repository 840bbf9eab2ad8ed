// What every command shares: the global options, the connection to the daemon (started on
// demand), output in human or JSON form, `--meta k=v` parsing and the progress bar.

import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { LkError } from '../lib/core/errors.js'
import { ControlClient, type RequestOptions } from '../lib/control/client.js'
import { daemonPaths, type DaemonPaths } from '../lib/control/paths.js'
import type { ProgressEvent } from '../lib/control/messages/progress.js'
import type { MethodName, ResultOf, WireParamsOf } from '../lib/control/methods/index.js'
import { LAKEFS_ENV_NAMES, type LakefsTarget, type RemoteTarget } from '../lib/control/target.js'
import { formatSize } from '../lib/control/size.js'
import { startDaemon } from './daemon-process.js'

export interface GlobalArgs {
  json: boolean
  spawn: boolean
  store?: string | undefined
  system: boolean
  endpoint?: string | undefined
  accessKeyId?: string | undefined
  secretAccessKey?: string | undefined
  lakectlConfig?: string | undefined
  /** false with --no-presign */
  presign?: boolean | undefined
  s3Endpoint?: string | undefined
}

export function pathsOf (a: GlobalArgs): DaemonPaths {
  return daemonPaths({ system: a.system })
}

/**
 * The store a command addresses: `--store DIR` names an embedded store; otherwise a lakeFS
 * endpoint when one is configured the lakectl way (flags, LAKECTL_* variables, the lakectl config
 * file), which the daemon resolves; otherwise the daemon's default embedded store.
 */
export function targetOf (a: GlobalArgs, env: NodeJS.ProcessEnv = process.env): RemoteTarget {
  if (a.store !== undefined) return { store: resolve(a.store) }
  const lakefs: LakefsTarget = {}
  if (a.endpoint !== undefined) lakefs.endpoint = a.endpoint
  if (a.accessKeyId !== undefined) lakefs.accessKeyId = a.accessKeyId
  if (a.secretAccessKey !== undefined) lakefs.secretAccessKey = a.secretAccessKey
  const lakectlEnv: Record<string, string> = {}
  for (const name of LAKEFS_ENV_NAMES) {
    const v = env[name]
    if (v !== undefined && v !== '') lakectlEnv[name] = v
  }
  // an explicitly named config file must exist (the daemon says so); the default one is optional
  const defaultFile = join(env.HOME ?? homedir(), '.lakectl.yaml')
  const configFile = a.lakectlConfig !== undefined ? resolve(a.lakectlConfig) : existsSync(defaultFile) ? defaultFile : undefined
  if (configFile !== undefined) lakefs.configFile = configFile
  if (Object.keys(lakefs).length === 0 && Object.keys(lakectlEnv).length === 0) return {}
  if (a.presign === false) lakefs.presign = 'never'
  // storage credentials of the caller: the daemon then reads and writes s3:// addresses directly
  const key = env.AWS_ACCESS_KEY_ID
  const secret = env.AWS_SECRET_ACCESS_KEY
  if (key !== undefined && key !== '' && secret !== undefined && secret !== '') {
    const endpoint = a.s3Endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL
    const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION
    lakefs.s3 = {
      accessKeyId: key,
      secretAccessKey: secret,
      ...(endpoint === undefined || endpoint === '' ? {} : { endpoint }),
      ...(region === undefined || region === '' ? {} : { region }),
      ...(env.AWS_SESSION_TOKEN === undefined || env.AWS_SESSION_TOKEN === '' ? {} : { sessionToken: env.AWS_SESSION_TOKEN }),
    }
  }
  return { lakefs: { ...lakefs, env: lakectlEnv } }
}

/** connects to the daemon, starting it when none answers (unless --no-spawn) */
export async function connect (a: GlobalArgs, spawnArgs: { cacheDir?: string, cacheSize?: string } = {}): Promise<ControlClient> {
  const paths = pathsOf(a)
  try {
    return await ControlClient.connect({ socketPath: paths.socket })
  } catch (e) {
    if (!(e instanceof LkError) || e.code !== 'LK_DAEMON_UNAVAILABLE' || !a.spawn) throw e
  }
  return await startDaemon(paths, { ...spawnArgs, system: a.system })
}

/** one request on a fresh connection: the usual shape of a command */
export async function call<M extends MethodName> (a: GlobalArgs, method: M, params: WireParamsOf<M>, opts: RequestOptions = {}): Promise<ResultOf<M>> {
  const c = await connect(a)
  try {
    return await c.request(method, params, opts)
  } finally {
    c.close()
  }
}

export function out (line = ''): void {
  process.stdout.write(line + '\n')
}

export function printJson (v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n')
}

/** `--meta k=v` (repeatable) into a record; `=` inside the value is kept */
export function parseMeta (items: readonly string[] | undefined): Record<string, string> | undefined {
  if (items === undefined || items.length === 0) return undefined
  const m: Record<string, string> = {}
  for (const item of items) {
    const eq = item.indexOf('=')
    if (eq <= 0) throw new LkError('LK_BAD_METADATA', `--meta ${JSON.stringify(item)} is not key=value`)
    m[item.slice(0, eq)] = item.slice(eq + 1)
  }
  return m
}

export function shortId (id: string): string { return id.slice(0, 12) }

export function formatTime (sec: number): string {
  return new Date(sec * 1000).toISOString().replace('.000Z', 'Z')
}

/**
 * A one-line progress bar on stderr, redrawn at most 10 times a second; silent when stderr is
 * not a terminal (piped, CI, --json), so logs stay clean.
 */
export function progressBar (enabled: boolean): { onProgress: (ev: ProgressEvent) => void, done: () => void } {
  const tty = enabled && process.stderr.isTTY === true
  let drawn = false
  let last = 0
  return {
    onProgress: (ev) => {
      if (!tty) return
      const now = Date.now()
      if (now - last < 100 && ev.done !== ev.total) return
      last = now
      const width = 30
      const frac = ev.total !== undefined && ev.total > 0 ? Math.min(1, ev.done / ev.total) : 0
      const bar = ev.total === undefined ? '' : `[${'#'.repeat(Math.round(frac * width)).padEnd(width)}] `
      const count = ev.total === undefined ? `${ev.done}` : `${ev.done}/${ev.total}`
      const bytes = ev.bytes === undefined ? '' : ` ${formatSize(ev.bytes)}`
      process.stderr.write(`\r\x1b[K${ev.phase.padEnd(7)} ${bar}${count}${bytes}`)
      drawn = true
    },
    done: () => { if (drawn) process.stderr.write('\r\x1b[K') },
  }
}

/** the absolute path of a local argument, as the daemon needs it */
export function absolute (p: string): string {
  return resolve(p)
}
