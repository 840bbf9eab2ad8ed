#!/usr/bin/env node
// lk-mountd: the composition root. The only place that builds things: the logger (a child per
// mount, made by the manager), the clock, the remotes (one per target, opened on first use), the
// shared content cache, the mount manager and the control server. No module-level singletons:
// everything is built here and passed down.
//
// Lifecycle: bind the control socket first (a second daemon fails with LK_DAEMON_RUNNING before it
// touches any mount), then recover the mounts an earlier daemon left, then serve. SIGTERM or
// SIGINT (or `daemon.stop`) unmounts everything applying each mount's policy and exits 0; a
// second signal detaches every mount lazily and exits at once. A handler exception is an error
// response; an exception that escapes anywhere else is logged, never fatal.
//
// It runs in the foreground always: `lk-mount daemon` (without --foreground) starts it detached
// with stdout/stderr on `<home>/lk-mountd.log`; systemd runs it directly (systemd/lk-mountd.service,
// Type=notify: READY=1 goes out once the socket accepts, recovery is done and the declared mounts
// of config.yaml were attempted (waiting at most 60 s for them); STOPPING=1 when a stop begins; RELOADING=1 around a SIGHUP,
// which re-reads config.yaml and applies its declared mounts).
//
// Stop: every mount gets `stopTimeoutMs` in total to unmount and settle; whatever is still
// settling then is detached lazily (its mount point is clean) and its changes stay staged on
// disk, reported at the next start, which resumes them when the mount is declared again.

import { mkdirSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs'
import { resolve, join } from 'node:path'
import { loadConfig, loadCredentials, parseListen, parseListingEntries, emptyConfig, type DaemonConfig } from '../lib/config/index.js'
import { Metrics } from './metrics.js'
import { createNotifier, type Notifier } from './notify.js'
import { PathPolicy, type PathUse } from './policy.js'
import { applyDeclared } from './declared.js'
import { parseArgs } from 'node:util'
import { LkError, toLkError } from '../lib/core/errors.js'
import { createLogger, type Logger } from '../lib/core/log.js'
import { systemClock } from '../lib/core/clock.js'
import { daemonPaths, type DaemonPaths } from '../lib/control/paths.js'
import { ControlServer } from '../lib/control/server.js'
import { parseSize } from '../lib/control/size.js'
import { parseTarget, targetKey, type RemoteTarget } from '../lib/control/target.js'
import { LakefsRemote } from '../lib/remote/lakefs.js'
import { loadLakefsConfig, resolveLakefsConfig } from '../lib/remote/lakefs-config.js'
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../lib/control/version.js'
import type { DaemonStatus } from '../lib/control/methods/index.js'
import { ContentCache } from '../lib/cache/index.js'
import { LocalRemote } from '../lib/remote/local.js'
import type { Remote } from '../lib/remote/types.js'
import { Manager } from '../lib/manager/index.js'
import { registerHandlers } from './handlers.js'

export interface DaemonOptions {
  paths: DaemonPaths
  /** the default embedded store */
  store: string
  cacheDir: string
  cacheBytes: number
  /** a mount's in-memory listing budget, in entries (default lib/fs's) */
  listingEntries?: number
  log: Logger
  /** config.yaml: declared mounts, socket group, mountRoots (defaults: none) */
  config?: DaemonConfig
  /** re-reads config.yaml on SIGHUP */
  reloadConfig?: () => DaemonConfig
  /** total time all mounts get to settle on stop (default 90 s) */
  stopTimeoutMs?: number
  /** `host:port` of the Prometheus endpoint */
  metrics?: string
  notifier?: Notifier
}

const DEFAULT_CACHE_BYTES = 10 * 1024 ** 3
/**
 * chunks (8 MiB each) fetched ahead of a sequential reader: one range GET runs well below what
 * the object store gives to several at once, so a cold big-file read needs a few in flight. The
 * cache asks for them in spans of 4 chunks (32 MiB, one request each), so the window is two spans:
 * one being read while the next arrives (all readers together stay under the cache's 128 MiB)
 */
const READ_AHEAD_CHUNKS = 8
/** below the unit's TimeoutStartSec=120 */
const DECLARED_READY_WAIT_MS = 60_000

/** a group name from /etc/group, or a numeric gid */
function gidOf (group: string): number {
  if (/^\d+$/.test(group)) return Number(group)
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [name, , gid] = line.split(':')
    if (name === group && gid !== undefined) return Number(gid)
  }
  throw new LkError('LK_CONFIG', `socket.group ${JSON.stringify(group)} does not exist; create it (groupadd --system ${group}) or name another`)
}

export async function runDaemon (o: DaemonOptions): Promise<void> {
  const { paths, log } = o
  let config = o.config ?? emptyConfig()
  const notifier = o.notifier ?? createNotifier(log)
  const stopTimeoutMs = o.stopTimeoutMs ?? config.shutdownTimeoutSec * 1000
  mkdirSync(paths.home, { recursive: true, mode: 0o700 })
  const startedAt = new Date()
  const metrics = new Metrics()
  let policy = new PathPolicy({ daemonDirs: [paths.home, o.cacheDir, o.store], mountRoots: config.mountRoots })
  const checkPath = (use: PathUse, p: string): void => { policy.check(use, p) }

  // Credentials are checked before anything listens: an insecure file stops the start here.
  const creds = loadCredentials(config.lakefs)
  if (creds !== undefined) log.info('lakeFS credentials loaded', { endpoint: creds.endpoint, accessKeyId: creds.accessKeyId, from: creds.where })

  const remotes = new Map<string, Promise<Remote>>()
  /** resolves a target to its key and opens (once) the Remote behind it */
  const remoteAndKey = async (t: RemoteTarget): Promise<{ remote: Remote, key: string }> => {
    // the caller's view: its flags, its LAKECTL_* variables and its config file (the CLI names
    // the file only when the caller has one; the daemon's own ~/.lakectl.yaml is never read)
    // A request that names no store and no lakeFS endpoint uses the node's configured lakeFS
    // (config.yaml's endpoint and credentials file), when there is one, else the default store.
    const flags = t.lakefs !== undefined
      ? { endpoint: t.lakefs.endpoint, accessKeyId: t.lakefs.accessKeyId, secretAccessKey: t.lakefs.secretAccessKey }
      : t.store === undefined && creds?.endpoint !== undefined
        ? { endpoint: creds.endpoint, accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey }
        : undefined
    const lakefs = flags === undefined
      ? undefined
      : t.lakefs?.configFile !== undefined
        ? await loadLakefsConfig({ ...flags, configFile: t.lakefs.configFile }, t.lakefs.env ?? {})
        : resolveLakefsConfig({ flags, env: t.lakefs?.env ?? {}, fileContent: undefined })
    const key = targetKey(t, o.store, lakefs)
    let p = remotes.get(key)
    if (p === undefined) {
      if (lakefs !== undefined) {
        const s3 = t.lakefs?.s3
        const remote = LakefsRemote.fromConfig(lakefs, {
          logger: log.child({ lakefs: lakefs.endpoint }),
          ...(t.lakefs?.presign === undefined ? {} : { presign: t.lakefs.presign }),
          ...(s3 === undefined
            ? {}
            : {
                s3: {
                  credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, ...(s3.sessionToken === undefined ? {} : { sessionToken: s3.sessionToken }) },
                  ...(s3.endpoint === undefined ? {} : { endpoint: s3.endpoint }),
                  ...(s3.region === undefined ? {} : { region: s3.region }),
                },
              }),
        })
        // check the credentials once, so a wrong key fails here and not on a mount's first read
        p = remote.serverInfo().then(() => o.metrics === undefined ? remote as Remote : metrics.wrapRemote(remote), async (e: unknown) => { await remote.close(); throw e })
      } else {
        const dir = t.store ?? o.store
        if (dir !== o.store) checkPath('store', dir)
        // the metrics wrappers only when someone reads the metrics: no cost on the hot path otherwise
        p = LocalRemote.open({ dir, log: log.child({ store: dir }), clock: systemClock }).then(r => o.metrics === undefined ? r : metrics.wrapRemote(r))
      }
      remotes.set(key, p)
      p.catch(() => { remotes.delete(key) }) // a failed open is retried by the next request
    }
    return { remote: await p, key }
  }
  const remoteFor = async (t: RemoteTarget): Promise<Remote> => (await remoteAndKey(t)).remote

  const caches = new Map<string, Promise<ContentCache>>()
  let shared: ContentCache | undefined
  const cacheFor = async (dir?: string, maxBytes?: number): Promise<ContentCache> => {
    const d = resolve(dir ?? o.cacheDir)
    let p = caches.get(d)
    if (p === undefined) {
      p = ContentCache.open({ dir: d, maxBytes: d === resolve(o.cacheDir) ? o.cacheBytes : (maxBytes ?? o.cacheBytes), readAhead: READ_AHEAD_CHUNKS, log: log.child({ cache: d }) })
      caches.set(d, p)
      p.catch(() => { caches.delete(d) })
    }
    return await p
  }

  const manager = new Manager({
    stateRoot: join(paths.state, 'mounts'),
    remoteFor: async (target) => await remoteAndKey(parseTarget(target)),
    cacheFor,
    sharedCache: () => shared,
    ...(o.listingEntries === undefined ? {} : { listingBudget: o.listingEntries }),
    log,
    clock: systemClock,
    ...(o.metrics === undefined ? {} : { wrapFs: (fs) => metrics.wrapFs(fs) }),
  })

  const server = new ControlServer({
    socketPath: paths.socket,
    log,
    mode: config.socket.mode,
    ...(config.socket.group === undefined ? {} : { gid: gidOf(config.socket.group) }),
  })
  let ready: Promise<Manager> | undefined
  let declared: Promise<void> | undefined
  let stopping: Promise<void> | undefined

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log.info('stopping: unmounting every mount per its policy', { timeoutSec: stopTimeoutMs / 1000 })
      void notifier.notify({ STOPPING: '1', STATUS: 'stopping: unmounting and settling every mount' })
      const deadline = Date.now() + stopTimeoutMs
      try {
        // mounts still being made at start are part of what the stop settles
        await Promise.race([(declared ?? ready)?.catch(() => {}), new Promise(r => setTimeout(r, stopTimeoutMs).unref())])
        await manager.shutdown({ timeoutMs: Math.max(1, deadline - Date.now()) })
      } catch (e) {
        log.error('shutdown of the mounts failed', { err: e })
      }
      // past the deadline: whatever is still mounted is detached now; its changes stay staged
      const left = (await manager.status().catch(() => ({ mounts: [] }))).mounts
      const unsettled = left.filter(m => m.state !== 'staged' || m.stats.stagedPaths > 0)
      if (unsettled.length > 0) {
        log.warn('stop: mounts not settled in time: detached, their changes stay staged for the next start', { mounts: unsettled.map(m => ({ mountpoint: m.mountpoint, state: m.state, stagedPaths: m.stats.stagedPaths })) })
      }
      await manager.forceDetachAll().catch(() => {})
      await metrics.close().catch(() => {})
      await server.close().catch(() => {})
      for (const c of caches.values()) await c.then(async cc => { await cc.close() }).catch(() => {})
      for (const r of remotes.values()) await r.then(async rr => { await rr.close() }).catch(() => {})
      removePidfile(paths.pidfile)
      log.info('stopped')
    })()
    return stopping
  }

  registerHandlers(server, {
    checkPath,
    remoteFor,
    manager: async () => await (ready ?? Promise.reject(new LkError('LK_DAEMON_UNAVAILABLE', 'the daemon is still starting'))),
    status: async (): Promise<DaemonStatus> => {
      const m = await ready
      const st = m === undefined ? { mounts: [], cache: null } : await m.status()
      return {
        pid: process.pid,
        version: PACKAGE_VERSION,
        protocol: PROTOCOL_VERSION,
        home: paths.home,
        socket: paths.socket,
        defaultStore: o.store,
        startedAt: startedAt.toISOString(),
        uptimeSec: Math.round((Date.now() - startedAt.getTime()) / 1000),
        mounts: st.mounts,
        cache: st.cache,
      }
    },
    stop: () => { void stop().then(() => { process.exit(0) }) },
  })

  // The socket first: if another daemon runs we must not touch its mounts.
  await server.listen()
  writeFileSync(paths.pidfile, `${process.pid}\n`, { mode: 0o644 })
  if (o.metrics !== undefined) {
    const { host, port } = parseListen(o.metrics)
    const addr = await metrics.listen(host, port, {
      mounts: async () => await (ready === undefined ? Promise.resolve({ mounts: [], cache: null }) : ready.then(async m => await m.status(), () => ({ mounts: [], cache: null }))),
      startedAt,
      version: PACKAGE_VERSION,
    }, log)
    log.info('metrics endpoint listening', { url: `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}/metrics` })
  }
  const summary = async (): Promise<string> => {
    const st = await manager.status()
    const mounted = st.mounts.filter(m => m.state === 'mounted').length
    const staged = st.mounts.filter(m => m.state === 'staged' || m.state === 'failed')
    return `${mounted} mounted` + (staged.length === 0 ? '' : `; ${staged.length} with staged changes waiting (lk-mount status): ${staged.map(m => m.mountpoint).join(', ')}`)
  }
  ready = (async () => {
    shared = await cacheFor()
    await manager.recover()
    const waiting = (await manager.status()).mounts.filter(m => m.state === 'staged' || m.state === 'failed')
    for (const m of waiting) {
      log.warn('staged changes from an earlier run are waiting', { mountpoint: m.mountpoint, uri: m.uri, paths: m.stats.stagedPaths, bytes: m.stats.stagedBytes, state: m.state, declared: config.mounts.some(d => d.mountpoint === m.mountpoint) })
    }
    return manager
  })()
  ready.catch((e: unknown) => { log.error('recovery failed', { err: e }) })
  // Declared mounts run after recovery, beside the socket's requests (which only wait for
  // recovery); READY=1 waits for them, but at most DECLARED_READY_WAIT_MS, so an unreachable
  // remote at boot cannot hold the unit in "activating" until systemd kills it.
  declared = ready.then(async m => {
    const r = await applyDeclared(m, [], config.mounts, log, mp => { checkPath('mountpoint', mp) })
    if (r.failed.length > 0) log.warn('some declared mounts failed', { failed: r.failed })
  })
  declared.catch((e: unknown) => { log.error('declared mounts failed', { err: e }) })

  let signals = 0
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++
    if (signals === 1) {
      log.info('signal: stopping gracefully (send it again to force)', { signal: sig })
      void stop().then(() => { process.exit(0) })
      return
    }
    log.warn('second signal: detaching every mount now; staged changes stay on disk', { signal: sig })
    void manager.forceDetachAll().finally(() => {
      removePidfile(paths.pidfile)
      process.exit(1)
    })
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)

  let reloading = Promise.resolve()
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      if (stopping !== undefined) return
      if (o.reloadConfig === undefined) { log.info('SIGHUP: no configuration file to reload'); return }
      // RELOADING=1 needs MONOTONIC_USEC on newer systemd (Type=notify-reload); harmless before
      await notifier.notify({ RELOADING: '1', STATUS: 'reloading the configuration', MONOTONIC_USEC: String(Math.floor(performance.timeOrigin * 1000 + performance.now() * 1000)) })
      try {
        const next = o.reloadConfig()
        await declared?.catch(() => {})
        if (next.socket.mode !== config.socket.mode || next.socket.group !== config.socket.group || next.socket.path !== config.socket.path) {
          log.warn('reload: socket settings change only on restart')
        }
        policy = new PathPolicy({ daemonDirs: [paths.home, o.cacheDir, o.store], mountRoots: next.mountRoots })
        const r = await applyDeclared(manager, config.mounts, next.mounts, log, mp => { checkPath('mountpoint', mp) })
        config = next
        log.info('configuration reloaded', { file: next.file, mounted: r.mounted, unmounted: r.unmounted, failed: r.failed })
      } catch (e) {
        log.error('reload failed: the previous configuration stays in force', { err: e })
      }
      await notifier.notify({ READY: '1', STATUS: await summary().catch(() => 'ready') })
    })
  })

  let waited: NodeJS.Timeout | undefined
  const inTime = await Promise.race([
    declared.then(() => true, () => true),
    new Promise<boolean>(resolve => { waited = setTimeout(() => { resolve(false) }, DECLARED_READY_WAIT_MS) }),
  ])
  clearTimeout(waited)
  if (!inTime) log.warn('declared mounts still in progress: reporting ready anyway', { waitedSec: DECLARED_READY_WAIT_MS / 1000 })
  log.info('lk-mountd ready', { pid: process.pid, version: PACKAGE_VERSION, socket: paths.socket, store: o.store, config: config.file })
  await notifier.notify({ READY: '1', STATUS: await summary().catch(() => 'ready') })
}

function removePidfile (file: string): void {
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file)
  } catch { /* gone already */ }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      foreground: { type: 'boolean', default: false },
      system: { type: 'boolean', default: false },
      config: { type: 'string' },
      store: { type: 'string' },
      'cache-dir': { type: 'string' },
      'cache-size': { type: 'string' },
      'listing-entries': { type: 'string' },
      metrics: { type: 'string' },
      'stop-timeout': { type: 'string' },
    },
    allowPositionals: false,
  })
  // Secrets are redacted by key name in lib/core/log; on top of that, every line is scrubbed of
  // the secret values the daemon knows (an error text quoting a credential cannot leak it).
  const secrets: string[] = []
  const log = createLogger({
    fields: { daemon: process.pid },
    write: (line) => {
      let out = line
      for (const sec of secrets) if (sec.length >= 8) out = out.split(sec).join('[redacted]')
      process.stderr.write(out + '\n')
    },
  })
  // Nothing that escapes a handler may kill the daemon: its mounts would die with it.
  process.on('uncaughtException', (e) => { log.error('uncaught exception (daemon keeps running)', { err: e, stack: e.stack }) })
  process.on('unhandledRejection', (e) => { log.error('unhandled rejection (daemon keeps running)', { err: e }) })
  try {
    const cfgOpts = { explicit: values.config, system: values.system }
    const config = loadConfig(cfgOpts)
    try {
      const c = loadCredentials(config.lakefs)
      if (c !== undefined) secrets.push(c.secretAccessKey)
    } catch { /* runDaemon reports it */ }
    // flags > config.yaml > environment defaults
    const env = { ...process.env, ...(config.home === undefined ? {} : { LK_MOUNT_HOME: config.home }) }
    const base = daemonPaths({ system: values.system, env })
    const paths: DaemonPaths = { ...base, ...(config.socket.path === undefined ? {} : { socket: config.socket.path }) }
    const cacheSize = values['cache-size'] ?? undefined
    const listingEntries = values['listing-entries'] !== undefined ? parseListingEntries(values['listing-entries'], '--listing-entries') : config.cache.listingEntries
    await runDaemon({
      paths,
      store: resolve(values.store ?? config.store ?? paths.store),
      cacheDir: resolve(values['cache-dir'] ?? config.cache.dir ?? paths.cache),
      cacheBytes: cacheSize !== undefined ? parseSize(cacheSize) : (config.cache.sizeBytes ?? DEFAULT_CACHE_BYTES),
      ...(listingEntries === undefined ? {} : { listingEntries }),
      log,
      config,
      ...(config.file === undefined ? {} : { reloadConfig: () => loadConfig(cfgOpts) }),
      ...(values['stop-timeout'] === undefined ? {} : { stopTimeoutMs: parseStopTimeout(values['stop-timeout']) }),
      ...((values.metrics ?? config.metricsListen) === undefined ? {} : { metrics: values.metrics ?? config.metricsListen }),
    })
  } catch (e) {
    const lk = toLkError(e)
    log.error('daemon failed to start', { code: lk.code, err: lk.message })
    process.stderr.write(`error: ${lk.message}\n  ${lk.hint}\n`)
    process.exit(lk.exitCode)
  }
}

function parseStopTimeout (v: string): number {
  const n = Number(v.replace(/s$/, ''))
  if (!(n > 0)) throw new LkError('LK_USAGE', `--stop-timeout ${JSON.stringify(v)}: give seconds, e.g. 90`)
  return n * 1000
}

await main()
