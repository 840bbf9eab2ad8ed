// The daemon's Prometheus metrics: a text endpoint (`--metrics 127.0.0.1:9464`, GET /metrics).
//
// Two kinds of numbers: those the daemon already keeps (each mount's MountStats, the shared
// cache's counters) are read from the manager at scrape time, so nothing is counted twice; and
// those only visible at the edges are counted here by wrappers the composition root installs:
// the Remote (fetch latency histogram of readRange, commits, remote errors by errno) and each
// mount's FsCore (filesystem errors by operation and errno, as the kernel saw them).
//
// What it must never do: slow the hot path. The FsCore wrapper adds one closure per async call
// and binds getattrSync straight through; nothing here does I/O outside the HTTP handler.

import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { errnoOf } from '../lib/core/errors.js'
import type { Logger } from '../lib/core/log.js'
import type { FsCore } from '../lib/fs/types.js'
import type { Remote } from '../lib/remote/types.js'
import type { CacheStatus, MountStatus } from '../lib/manager/types.js'

/** seconds; lazy fetches run from sub-millisecond (local store) to tens of seconds (slow WAN) */
const FETCH_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

class Histogram {
  readonly counts = new Array<number>(FETCH_BUCKETS.length).fill(0)
  sum = 0
  count = 0
  observe (sec: number): void {
    this.sum += sec
    this.count++
    for (let i = 0; i < FETCH_BUCKETS.length; i++) if (sec <= (FETCH_BUCKETS[i] ?? Infinity)) this.counts[i] = (this.counts[i] ?? 0) + 1
  }
}

function esc (v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function labels (l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

export interface MetricsSource {
  mounts (): Promise<{ mounts: MountStatus[], cache: CacheStatus | null }>
  startedAt: Date
  version: string
}

export class Metrics {
  readonly fetch = new Histogram()
  /** `${op}\0${errno}` → count */
  readonly fsErrors = new Map<string, number>()
  readonly remoteErrors = new Map<string, number>()
  commits = 0
  commitFailures = 0
  #server: Server | undefined

  #bump (m: Map<string, number>, op: string, errno: string): void {
    const k = `${op}\0${errno}`
    m.set(k, (m.get(k) ?? 0) + 1)
  }

  /** times readRange, counts commits and errors; every other call passes straight through */
  wrapRemote (remote: Remote): Remote {
    const self = this
    return new Proxy(remote, {
      get (target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown
        if (typeof v !== 'function') return v
        const fn = v as (...a: unknown[]) => unknown
        const op = String(prop)
        return function (this: unknown, ...args: unknown[]): unknown {
          const t0 = process.hrtime.bigint()
          let r: unknown
          try {
            r = fn.apply(target, args)
          } catch (e) {
            self.#bump(self.remoteErrors, op, errnoOf(e))
            throw e
          }
          if (!(r instanceof Promise)) return r
          return r.then(val => {
            if (op === 'readRange') self.fetch.observe(Number(process.hrtime.bigint() - t0) / 1e9)
            if (op === 'commitChanges' || op === 'commit') self.commits++
            return val
          }, (e: unknown) => {
            self.#bump(self.remoteErrors, op, errnoOf(e))
            if (op === 'commitChanges' || op === 'commit') self.commitFailures++
            throw e
          })
        }
      },
    })
  }

  /** counts the errors each FUSE operation answers with, by errno name */
  wrapFs (fs: FsCore): FsCore {
    const self = this
    const out: Record<string, unknown> = {}
    const proto = fs as unknown as Record<string, unknown>
    for (const name of FS_ASYNC_OPS) {
      const fn = proto[name]
      if (typeof fn !== 'function') continue
      const f = fn as (...a: unknown[]) => Promise<unknown>
      out[name] = (...args: unknown[]): Promise<unknown> => {
        let p: Promise<unknown>
        try { p = f.apply(fs, args) } catch (e) { self.#bump(self.fsErrors, name, errnoOf(e)); throw e }
        return p.catch((e: unknown) => { self.#bump(self.fsErrors, name, errnoOf(e)); throw e })
      }
    }
    out.getattrSync = (fs.getattrSync as (p: string) => unknown).bind(fs)
    Object.defineProperty(out, 'readOnly', { get: () => fs.readOnly, enumerable: true })
    return out as unknown as FsCore
  }

  async render (src: MetricsSource): Promise<string> {
    const lines: string[] = []
    const family = (name: string, type: string, help: string): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    }
    const { mounts, cache } = await src.mounts()
    family('lkmount_up', 'gauge', 'The daemon answers.')
    lines.push(`lkmount_up${labels({ version: src.version })} 1`)
    family('lkmount_start_time_seconds', 'gauge', 'When the daemon started (Unix time).')
    lines.push(`lkmount_start_time_seconds ${Math.floor(src.startedAt.getTime() / 1000)}`)
    family('lkmount_mounts', 'gauge', 'Mounts by state (staged: unmounted with changes waiting).')
    const byState = new Map<string, number>()
    for (const m of mounts) byState.set(m.state, (byState.get(m.state) ?? 0) + 1)
    for (const st of ['mounted', 'committing', 'unmounting', 'staged', 'failed']) lines.push(`lkmount_mounts${labels({ state: st })} ${byState.get(st) ?? 0}`)
    const perMount: Array<[string, string, string, (m: MountStatus) => number]> = [
      ['lkmount_reads_total', 'counter', 'Reads served by a mount.', m => m.stats.reads],
      ['lkmount_read_bytes_total', 'counter', 'Bytes served by a mount.', m => m.stats.bytesRead],
      ['lkmount_cache_hits_total', 'counter', 'Chunk reads served from the cache, per mount.', m => m.stats.cacheHits],
      ['lkmount_cache_misses_total', 'counter', 'Chunk reads fetched from the remote, per mount.', m => m.stats.cacheMisses],
      ['lkmount_fetched_bytes_total', 'counter', 'Bytes fetched from the remote, per mount.', m => m.stats.bytesFetched],
      ['lkmount_staged_paths', 'gauge', 'Staged (uncommitted) paths of a write mount.', m => m.stats.stagedPaths],
      ['lkmount_staged_bytes', 'gauge', 'Staged (uncommitted) bytes of a write mount.', m => m.stats.stagedBytes],
    ]
    for (const [name, type, help, get] of perMount) {
      family(name, type, help)
      for (const m of mounts) lines.push(`${name}${labels({ mountpoint: m.mountpoint, repo: m.repo, ref: m.ref, write: String(m.write) })} ${get(m)}`)
    }
    if (cache !== null) {
      family('lkmount_cache_used_bytes', 'gauge', 'Bytes in the shared cache.')
      lines.push(`lkmount_cache_used_bytes ${cache.usedBytes}`)
      family('lkmount_cache_max_bytes', 'gauge', 'Size limit of the shared cache.')
      lines.push(`lkmount_cache_max_bytes ${cache.maxBytes}`)
      family('lkmount_cache_entries', 'gauge', 'Objects in the shared cache.')
      lines.push(`lkmount_cache_entries ${cache.entries}`)
      family('lkmount_cache_requests_total', 'counter', 'Shared cache lookups by result.')
      lines.push(`lkmount_cache_requests_total${labels({ result: 'hit' })} ${cache.hits}`)
      lines.push(`lkmount_cache_requests_total${labels({ result: 'miss' })} ${cache.misses}`)
    }
    family('lkmount_fetch_duration_seconds', 'histogram', 'Latency of one ranged read from the remote (a cache miss).')
    FETCH_BUCKETS.forEach((b, i) => { lines.push(`lkmount_fetch_duration_seconds_bucket${labels({ le: String(b) })} ${this.fetch.counts[i] ?? 0}`) })
    lines.push(`lkmount_fetch_duration_seconds_bucket${labels({ le: '+Inf' })} ${this.fetch.count}`)
    lines.push(`lkmount_fetch_duration_seconds_sum ${this.fetch.sum}`, `lkmount_fetch_duration_seconds_count ${this.fetch.count}`)
    family('lkmount_commits_total', 'counter', 'Commits made by mounts, by result.')
    lines.push(`lkmount_commits_total${labels({ result: 'ok' })} ${this.commits}`)
    lines.push(`lkmount_commits_total${labels({ result: 'failed' })} ${this.commitFailures}`)
    family('lkmount_fs_errors_total', 'counter', 'Filesystem operations answered with an error, by operation and errno.')
    for (const [k, n] of this.fsErrors) { const [op = '', errno = ''] = k.split('\0'); lines.push(`lkmount_fs_errors_total${labels({ op, errno })} ${n}`) }
    family('lkmount_remote_errors_total', 'counter', 'Remote calls that failed, by call and errno.')
    for (const [k, n] of this.remoteErrors) { const [op = '', errno = ''] = k.split('\0'); lines.push(`lkmount_remote_errors_total${labels({ op, errno })} ${n}`) }
    return lines.join('\n') + '\n'
  }

  /** serves GET /metrics; resolves with the bound address (port 0 picks a free one) */
  async listen (host: string, port: number, src: MetricsSource, log: Logger): Promise<AddressInfo> {
    if (host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') {
      log.warn('the metrics endpoint listens beyond loopback: anyone who reaches it reads mount points and repository names', { host, port })
    }
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n')
        return
      }
      this.render(src).then(body => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body)
      }, (e: unknown) => {
        log.error('metrics: render failed', { err: e })
        res.writeHead(500).end()
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    })
    server.on('error', e => { log.error('metrics server error', { err: e }) })
    this.#server = server
    return server.address() as AddressInfo
  }

  async close (): Promise<void> {
    const s = this.#server
    this.#server = undefined
    if (s !== undefined) await new Promise<void>(resolve => { s.close(() => { resolve() }); s.closeAllConnections() })
  }
}

const FS_ASYNC_OPS = [
  'getattr', 'readdir', 'open', 'create', 'read', 'write', 'truncate', 'ftruncate', 'flush', 'fsync', 'release',
  'unlink', 'mkdir', 'rmdir', 'rename', 'utimens', 'chmod', 'chown', 'symlink', 'link', 'mknod',
  'getxattr', 'setxattr', 'listxattr', 'removexattr', 'statfs',
] as const satisfies ReadonlyArray<keyof FsCore>
