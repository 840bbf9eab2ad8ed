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
// with stdout/stderr on `<home>/lk-mountd.log`; systemd runs it directly.

import { mkdirSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs'
import { resolve, join } from 'node:path'
import { parseArgs } from 'node:util'
import { LkError, toLkError } from '../lib/core/errors.js'
import { createLogger, type Logger } from '../lib/core/log.js'
import { systemClock } from '../lib/core/clock.js'
import { daemonPaths, type DaemonPaths } from '../lib/control/paths.js'
import { ControlServer } from '../lib/control/server.js'
import { parseSize } from '../lib/control/size.js'
import { parseTarget, targetKey, type RemoteTarget } from '../lib/control/target.js'
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../lib/control/version.js'
import type { DaemonStatus } from '../lib/control/methods/index.js'
import { ContentCache } from '../lib/cache/index.js'
import { LocalRemote } from '../lib/remote/local.js'
import { LakefsRemote } from '../lib/remote/lakefs.js'
import { describeLakefsConfig, loadLakefsConfig, type LakefsConfig } from '../lib/remote/lakefs-config.js'
import type { Remote } from '../lib/remote/types.js'
import { Manager } from '../lib/manager/index.js'
import { registerHandlers } from './handlers.js'

export interface DaemonOptions {
  paths: DaemonPaths
  /** the default embedded store */
  store: string
  cacheDir: string
  cacheBytes: number
  log: Logger
  /**
   * A lakeFS endpoint found the lakectl way (flags, LAKECTL_* variables, ~/.lakectl.yaml): the
   * default target is then that server, not the embedded store. A request naming a store
   * directory still gets that embedded store.
   */
  lakefs?: LakefsConfig
}

const DEFAULT_CACHE_BYTES = 10 * 1024 ** 3
/**
 * chunks (8 MiB each) fetched ahead of a sequential reader: one range GET runs well below what
 * the object store gives to several at once, so a cold big-file read needs a few in flight
 */
const READ_AHEAD_CHUNKS = 4
const SHUTDOWN_TIMEOUT_MS = 120_000

export async function runDaemon (o: DaemonOptions): Promise<void> {
  const { paths, log } = o
  mkdirSync(paths.home, { recursive: true, mode: 0o700 })
  const startedAt = new Date()

  const remotes = new Map<string, Promise<Remote>>()
  const remoteFor = async (t: RemoteTarget): Promise<Remote> => {
    const key = targetKey(t, o.store)
    let p = remotes.get(key)
    if (p === undefined) {
      const dir = t.store ?? o.store
      const lk = o.lakefs
      p = t.store === undefined && lk !== undefined
        ? Promise.resolve(new LakefsRemote({ endpoint: lk.endpoint, accessKeyId: lk.accessKeyId, secretAccessKey: lk.secretAccessKey, logger: log.child({ lakefs: lk.endpoint }) }))
        : LocalRemote.open({ dir, log: log.child({ store: dir }), clock: systemClock })
      remotes.set(key, p)
      p.catch(() => { remotes.delete(key) }) // a failed open is retried by the next request
    }
    return await p
  }

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
    remoteFor: async (target) => {
      const t = parseTarget(target)
      return { remote: await remoteFor(t), key: targetKey(t, o.store) }
    },
    cacheFor,
    sharedCache: () => shared,
    log,
    clock: systemClock,
  })

  const server = new ControlServer({ socketPath: paths.socket, log })
  let ready: Promise<Manager> | undefined
  let stopping: Promise<void> | undefined

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log.info('stopping: unmounting every mount per its policy')
      try {
        await ready?.catch(() => {})
        await manager.shutdown({ timeoutMs: SHUTDOWN_TIMEOUT_MS })
      } catch (e) {
        log.error('shutdown of the mounts failed', { err: e })
      }
      await server.close().catch(() => {})
      for (const c of caches.values()) await c.then(async cc => { await cc.close() }).catch(() => {})
      for (const r of remotes.values()) await r.then(async rr => { await rr.close() }).catch(() => {})
      removePidfile(paths.pidfile)
      log.info('stopped')
    })()
    return stopping
  }

  registerHandlers(server, {
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
  ready = (async () => {
    shared = await cacheFor()
    await manager.recover()
    return manager
  })()
  ready.catch((e: unknown) => { log.error('recovery failed', { err: e }) })

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
  process.on('SIGHUP', () => { log.info('SIGHUP ignored') })

  await ready.catch(() => {})
  log.info('lk-mountd ready', { pid: process.pid, version: PACKAGE_VERSION, socket: paths.socket, store: o.store, remote: o.lakefs === undefined ? 'embedded store' : describeLakefsConfig(o.lakefs) })
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
      store: { type: 'string' },
      'cache-dir': { type: 'string' },
      'cache-size': { type: 'string' },
    },
    allowPositionals: false,
  })
  const paths = daemonPaths({ system: values.system })
  const log = createLogger({ fields: { daemon: process.pid } })
  // Nothing that escapes a handler may kill the daemon: its mounts would die with it.
  process.on('uncaughtException', (e) => { log.error('uncaught exception (daemon keeps running)', { err: e, stack: e.stack }) })
  process.on('unhandledRejection', (e) => { log.error('unhandled rejection (daemon keeps running)', { err: e }) })
  try {
    // an explicit --store means the embedded store; otherwise a configured lakeFS endpoint wins
    const lakefs = values.store === undefined ? await loadLakefsConfig() : undefined
    await runDaemon({
      paths,
      store: resolve(values.store ?? paths.store),
      cacheDir: resolve(values['cache-dir'] ?? paths.cache),
      cacheBytes: values['cache-size'] === undefined ? DEFAULT_CACHE_BYTES : parseSize(values['cache-size']),
      log,
      ...(lakefs === undefined ? {} : { lakefs }),
    })
  } catch (e) {
    const lk = toLkError(e)
    log.error('daemon failed to start', { code: lk.code, err: lk.message })
    process.stderr.write(`error: ${lk.message}\n  ${lk.hint}\n`)
    process.exit(lk.exitCode)
  }
}

await main()
