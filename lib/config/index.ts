// lib/config: the daemon's configuration file (`/etc/lk-mount/config.yaml` for the system
// service, `--config FILE` or `$LK_MOUNT_CONFIG` otherwise) and the credentials file it names.
//
// What it owns: the schema of config.yaml (parsed strictly: an unknown key or a wrong type is
// LK_CONFIG with the key's path, so a typo never silently drops a mount), the defaults, and the
// rule for secrets on disk: a credentials file must be owned by the reading user (or root) and
// readable by nobody else, or it is refused (LK_CREDENTIALS_INSECURE). Both the daemon and the
// CLI (`doctor`, the fstab helper) read the same file through this module, so they agree on the
// socket, the cache and the mounts.
//
// What it must never do: return or throw anything that contains a secret (the YAML parser's
// messages quote the source, so they are reduced to a line number), or touch the network.

import { readFileSync, statSync } from 'node:fs'
import { isAbsolute, normalize } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { LkError } from '../core/errors.js'
import { parseUri } from '../core/uri.js'
import { parseSize } from '../control/size.js'

export const SYSTEM_CONFIG = '/etc/lk-mount/config.yaml'

export type OnUnmountPolicy = 'commit' | 'keep' | 'discard'

export interface DeclaredMount {
  uri: string
  mountpoint: string
  write: boolean
  onUnmount?: OnUnmountPolicy
  message?: string
  metadata?: Record<string, string>
  allowOther: boolean
  /** false: no extended attributes (fast `ls -l` of huge directories); absent: served */
  xattrs?: boolean
  /** embedded store directory for this mount (default: the daemon's store) */
  store?: string
}

export interface LakefsSettings {
  endpoint?: string
  /** a lakectl-style YAML file (credentials.access_key_id / secret_access_key, server.endpoint_url) */
  credentialsFile?: string
}

export interface DaemonConfig {
  /** where the file was read from; undefined when no file exists (all defaults) */
  file: string | undefined
  home?: string
  store?: string
  socket: {
    path?: string
    /** octal permission bits of the socket (0600 or 0660) */
    mode: number
    /** group that may use the socket when mode is 0660 (name or numeric gid) */
    group?: string
  }
  /** listingEntries: a mount's in-memory listing budget (lib/fs/base.ts DEFAULT_MAX_ENTRIES) */
  cache: { dir?: string, sizeBytes?: number, listingEntries?: number }
  lakefs: LakefsSettings
  /** seconds the daemon gives all mounts to settle on SIGTERM before forcing */
  shutdownTimeoutSec: number
  /** `127.0.0.1:9464`: the Prometheus text endpoint */
  metricsListen?: string
  /** when non-empty, every mount point must lie under one of these directories */
  mountRoots: string[]
  mounts: DeclaredMount[]
}

export const DEFAULT_SHUTDOWN_TIMEOUT_SEC = 90

type Obj = Record<string, unknown>

class Reader {
  constructor (readonly file: string) {}

  fail (where: string, what: string): never {
    throw new LkError('LK_CONFIG', `${this.file}: ${where}: ${what}`)
  }

  obj (v: unknown, where: string, keys: readonly string[]): Obj {
    if (v === null || v === undefined) return {}
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(where, 'must be a mapping')
    for (const k of Object.keys(v)) {
      if (!keys.includes(k)) this.fail(where, `unknown key ${JSON.stringify(k)} (known: ${keys.join(', ')})`)
    }
    return v as Obj
  }

  str (o: Obj, k: string, where: string): string | undefined {
    const v = o[k]
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'string' || v === '') this.fail(`${where}.${k}`, 'must be a non-empty string')
    return v
  }

  bool (o: Obj, k: string, where: string): boolean | undefined {
    const v = o[k]
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'boolean') this.fail(`${where}.${k}`, 'must be true or false')
    return v
  }

  abs (o: Obj, k: string, where: string): string | undefined {
    const v = this.str(o, k, where)
    if (v === undefined) return undefined
    if (!isAbsolute(v) || v.includes('\0')) this.fail(`${where}.${k}`, 'must be an absolute path')
    return normalize(v).replace(/(.)\/+$/, '$1')
  }
}

/** `90`, `90s`, `2m`, `1h` → seconds */
export function parseDuration (v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v) : null
  if (m === null) throw new LkError('LK_CONFIG', `${what}: ${JSON.stringify(v)} is not a duration (e.g. 90s, 2m)`)
  const n = Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] ?? 's'] ?? 1)
  if (!(n > 0)) throw new LkError('LK_CONFIG', `${what}: must be more than zero`)
  return n
}

/** Parses config.yaml content; `file` names it in errors. */
export function parseConfig (text: string, file: string): DaemonConfig {
  const r = new Reader(file)
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (e) {
    const line = (e as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line
    throw new LkError('LK_CONFIG', `${file} is not valid YAML${line === undefined ? '' : ` (line ${line})`}`)
  }
  const top = r.obj(doc, 'config', ['home', 'store', 'socket', 'cache', 'lakefs', 'shutdown', 'metrics', 'mountRoots', 'mounts'])
  const sock = r.obj(top.socket, 'socket', ['path', 'mode', 'group'])
  let mode = 0o600
  if (sock.mode !== undefined && sock.mode !== null) {
    const raw = typeof sock.mode === 'number' ? sock.mode.toString(8) : String(sock.mode)
    if (!/^0?[0-7]{3}$/.test(raw)) r.fail('socket.mode', 'write it as an octal string, e.g. "0660"')
    mode = parseInt(raw, 8)
    if (mode !== 0o600 && mode !== 0o660) r.fail('socket.mode', 'must be 0600 (owner only) or 0660 (owner and socket.group)')
  }
  const group = sock.group === undefined || sock.group === null ? undefined : String(sock.group)
  if (mode === 0o660 && group === undefined) r.fail('socket.group', 'mode 0660 needs a group')
  const cache = r.obj(top.cache, 'cache', ['dir', 'size', 'listingEntries'])
  const listingEntries = cache.listingEntries === undefined || cache.listingEntries === null ? undefined : parseListingEntries(cache.listingEntries, `${file}: cache.listingEntries`)
  const sizeText = cache.size === undefined || cache.size === null ? undefined : String(cache.size)
  let sizeBytes: number | undefined
  if (sizeText !== undefined) {
    try { sizeBytes = parseSize(sizeText) } catch { r.fail('cache.size', `${JSON.stringify(sizeText)} is not a size (e.g. 100G)`) }
  }
  const lk = r.obj(top.lakefs, 'lakefs', ['endpoint', 'credentialsFile'])
  const shutdown = r.obj(top.shutdown, 'shutdown', ['timeout'])
  const metrics = r.obj(top.metrics, 'metrics', ['listen'])
  const metricsListen = r.str(metrics, 'listen', 'metrics')
  if (metricsListen !== undefined) parseListen(metricsListen)
  const roots: unknown[] = Array.isArray(top.mountRoots) ? top.mountRoots : (top.mountRoots === undefined || top.mountRoots === null ? [] : r.fail('mountRoots', 'must be a list of absolute directories'))
  const mountRoots = roots.map((v, i) => r.abs({ v }, 'v', `mountRoots[${i}]`) ?? r.fail(`mountRoots[${i}]`, 'empty'))
  const list: unknown[] = Array.isArray(top.mounts) ? top.mounts : (top.mounts === undefined || top.mounts === null ? [] : r.fail('mounts', 'must be a list'))
  const seen = new Set<string>()
  const mounts = list.map((raw, i): DeclaredMount => {
    const where = `mounts[${i}]`
    const m = r.obj(raw, where, ['uri', 'mountpoint', 'write', 'onUnmount', 'message', 'meta', 'allowOther', 'xattrs', 'store'])
    const uri = r.str(m, 'uri', where) ?? r.fail(`${where}.uri`, 'is required')
    try { parseUri(uri) } catch (e) { r.fail(`${where}.uri`, (e as Error).message) }
    const mountpoint = r.abs(m, 'mountpoint', where) ?? r.fail(`${where}.mountpoint`, 'is required')
    if (seen.has(mountpoint)) r.fail(`${where}.mountpoint`, `${mountpoint} is declared twice`)
    seen.add(mountpoint)
    const write = r.bool(m, 'write', where) ?? false
    const policy = r.str(m, 'onUnmount', where)
    if (policy !== undefined && policy !== 'commit' && policy !== 'keep' && policy !== 'discard') r.fail(`${where}.onUnmount`, 'must be commit, keep or discard')
    const meta = r.obj(m.meta, `${where}.meta`, Object.keys((m.meta ?? {}) as Obj))
    const metadata: Record<string, string> = {}
    for (const [k, v] of Object.entries(meta)) {
      if (k === '' || (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')) r.fail(`${where}.meta.${k}`, 'must be a string')
      metadata[k] = String(v)
    }
    const out: DeclaredMount = { uri, mountpoint, write, allowOther: r.bool(m, 'allowOther', where) ?? false }
    if (policy !== undefined) out.onUnmount = policy as OnUnmountPolicy
    const message = r.str(m, 'message', where)
    if (message !== undefined) out.message = message
    if (Object.keys(metadata).length > 0) out.metadata = metadata
    const xattrs = r.bool(m, 'xattrs', where)
    if (xattrs !== undefined) out.xattrs = xattrs
    const store = r.abs(m, 'store', where)
    if (store !== undefined) out.store = store
    return out
  })
  const cfg: DaemonConfig = {
    file,
    socket: { mode },
    cache: {},
    lakefs: {},
    shutdownTimeoutSec: shutdown.timeout === undefined || shutdown.timeout === null ? DEFAULT_SHUTDOWN_TIMEOUT_SEC : parseDuration(shutdown.timeout, `${file}: shutdown.timeout`),
    mountRoots,
    mounts,
  }
  const home = r.abs(top, 'home', 'config')
  if (home !== undefined) cfg.home = home
  const store = r.abs(top, 'store', 'config')
  if (store !== undefined) cfg.store = store
  const sockPath = r.abs(sock, 'path', 'socket')
  if (sockPath !== undefined) cfg.socket.path = sockPath
  if (group !== undefined) cfg.socket.group = group
  const cacheDir = r.abs(cache, 'dir', 'cache')
  if (cacheDir !== undefined) cfg.cache.dir = cacheDir
  if (sizeBytes !== undefined) cfg.cache.sizeBytes = sizeBytes
  if (listingEntries !== undefined) cfg.cache.listingEntries = listingEntries
  const endpoint = r.str(lk, 'endpoint', 'lakefs')
  if (endpoint !== undefined) cfg.lakefs.endpoint = endpoint
  const credentialsFile = r.abs(lk, 'credentialsFile', 'lakefs')
  if (credentialsFile !== undefined) cfg.lakefs.credentialsFile = credentialsFile
  if (metricsListen !== undefined) cfg.metricsListen = metricsListen
  return cfg
}

export function emptyConfig (): DaemonConfig {
  return { file: undefined, socket: { mode: 0o600 }, cache: {}, lakefs: {}, shutdownTimeoutSec: DEFAULT_SHUTDOWN_TIMEOUT_SEC, mountRoots: [], mounts: [] }
}

/**
 * Which config file applies: `--config` when given (it must exist), else `$LK_MOUNT_CONFIG`
 * (must exist), else /etc/lk-mount/config.yaml for the system daemon when present; else none.
 */
export function configFileFor (opts: { explicit?: string | undefined, system: boolean, env?: NodeJS.ProcessEnv }): { file: string, required: boolean } | undefined {
  const env = opts.env ?? process.env
  if (opts.explicit !== undefined && opts.explicit !== '') return { file: opts.explicit, required: true }
  const fromEnv = env.LK_MOUNT_CONFIG
  if (fromEnv !== undefined && fromEnv !== '') return { file: fromEnv, required: true }
  if (opts.system) return { file: SYSTEM_CONFIG, required: false }
  return undefined
}

export function loadConfig (opts: { explicit?: string | undefined, system: boolean, env?: NodeJS.ProcessEnv }): DaemonConfig {
  const which = configFileFor(opts)
  if (which === undefined) return emptyConfig()
  let text: string
  try {
    text = readFileSync(which.file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT' && !which.required) return emptyConfig()
    throw new LkError('LK_CONFIG', `cannot read the configuration file ${which.file}: ${code ?? String(e)}`)
  }
  return parseConfig(text, which.file)
}

/** `host:port` (IPv6 as `[::1]:9464`) */
export function parseListen (s: string): { host: string, port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s)
  const port = Number(m?.[3])
  if (m === null || !(port >= 0 && port <= 65535)) throw new LkError('LK_CONFIG', `${JSON.stringify(s)} is not host:port (e.g. 127.0.0.1:9464)`)
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port }
}

// ------------------------------------------------------------------ credentials

export interface Credentials {
  endpoint?: string
  accessKeyId: string
  secretAccessKey: string
  source: 'file' | 'env'
  /** the file, for messages (never the secret) */
  where: string
}

/**
 * Refuses a secret file another user could read or replace: it must be a regular file owned by
 * `uid` (the reading process) or root, with no group or other permission bits at all.
 */
export function checkSecretFile (file: string, uid = process.getuid?.() ?? 0): void {
  let st
  try {
    st = statSync(file)
  } catch (e) {
    throw new LkError('LK_CONFIG', `cannot read the credentials file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`)
  }
  if (!st.isFile()) throw new LkError('LK_CREDENTIALS_INSECURE', `${file} is not a regular file`)
  if ((st.mode & 0o077) !== 0) {
    throw new LkError('LK_CREDENTIALS_INSECURE', `${file} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}: group or others may read it; run \`chmod 600 ${file}\``)
  }
  if (st.uid !== uid && st.uid !== 0) {
    throw new LkError('LK_CREDENTIALS_INSECURE', `${file} is owned by uid ${st.uid}, not by this user (uid ${uid}) or root`)
  }
}

/**
 * The lakeFS credentials: `LAKECTL_CREDENTIALS_*` from the environment win (systemd's
 * `EnvironmentFile=` or `LoadCredential=` put them there); otherwise the credentials file, which
 * must pass `checkSecretFile`. Undefined when neither is configured.
 */
export function loadCredentials (settings: LakefsSettings, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  const key = env.LAKECTL_CREDENTIALS_ACCESS_KEY_ID
  const secret = env.LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY
  const endpoint = settings.endpoint ?? env.LAKECTL_SERVER_ENDPOINT_URL
  if (key !== undefined && key !== '' && secret !== undefined && secret !== '') {
    return { ...(endpoint === undefined ? {} : { endpoint }), accessKeyId: key, secretAccessKey: secret, source: 'env', where: 'environment (LAKECTL_CREDENTIALS_*)' }
  }
  const file = settings.credentialsFile
  if (file === undefined) return undefined
  checkSecretFile(file)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new LkError('LK_CONFIG', `cannot read the credentials file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`)
  }
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (e) {
    const line = (e as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line
    throw new LkError('LK_CONFIG', `${file} is not valid YAML${line === undefined ? '' : ` (line ${line})`}`)
  }
  const sec = (name: string): Obj => {
    const v = (doc as Obj | null)?.[name]
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Obj : {}
  }
  const s = (v: unknown): string | undefined => typeof v === 'string' && v !== '' ? v : undefined
  const accessKeyId = s(sec('credentials').access_key_id)
  const secretAccessKey = s(sec('credentials').secret_access_key)
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    throw new LkError('LK_CREDENTIALS', `${file} lacks credentials.access_key_id or credentials.secret_access_key`)
  }
  const ep = endpoint ?? s(sec('server').endpoint_url)
  return { ...(ep === undefined ? {} : { endpoint: ep }), accessKeyId, secretAccessKey, source: 'file', where: file }
}

/**
 * entries of the pinned commit's listings a mount keeps in memory: an integer from 1,000 up
 * (about 0.7 KB each; more means fewer remote lookups on trees bigger than the budget)
 */
export function parseListingEntries (v: unknown, what: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d[\d_,]*\s*$/.test(v) ? Number(v.replace(/[_,\s]/g, '')) : NaN
  if (!Number.isSafeInteger(n) || n < 1000) throw new LkError('LK_CONFIG', `${what}: ${JSON.stringify(v)} is not a number of entries of at least 1000 (e.g. 100000)`)
  return n
}
