// lk-mount status [<mountpoint>]

import type { CommandModule } from 'yargs'
import { METHODS } from '../../lib/control/methods/index.js'
import type { MountStatus } from '../../lib/control/methods/index.js'
import { formatSize } from '../../lib/control/size.js'
import { LkError } from '../../lib/core/errors.js'
import { absolute, connect, out, printJson, shortId, type GlobalArgs } from '../context.js'
import { printSync } from './sync.js'

function printMount (m: MountStatus): void {
  out(`${m.mountpoint}`)
  out(`  uri:       ${m.uri}`)
  out(`  commit:    ${m.pinnedCommit === '' ? '-' : m.pinnedCommit}`)
  out(`  state:     ${m.state} since ${m.since}${m.write ? `, writable, on unmount: ${m.onUnmount}` : ', read-only'}`)
  if (m.write) out(`  staged:    ${m.stats.stagedPaths} paths, ${formatSize(m.stats.stagedBytes)}`)
  const lookups = m.stats.cacheHits + m.stats.cacheMisses
  out(`  reads:     ${m.stats.reads} (${formatSize(m.stats.bytesRead)}), fetched ${formatSize(m.stats.bytesFetched)}${lookups > 0 ? `, cache hit rate ${(100 * m.stats.cacheHits / lookups).toFixed(1)}%` : ''}`)
}

export const statusCommand: CommandModule<GlobalArgs, GlobalArgs & { mountpoint?: string }> = {
  command: 'status [mountpoint]',
  describe: METHODS['daemon.status'].title,
  builder: (y) => y
    .positional('mountpoint', { type: 'string', describe: 'show only this mount' })
    .epilog(`${METHODS['daemon.status'].help} With a mount point: ${METHODS['mount.status'].help}`),
  handler: async (a) => {
    const c = await connect({ ...a, spawn: false })
    try {
      if (a.mountpoint !== undefined) {
        let r
        try {
          r = await c.request('mount.status', { mountpoint: absolute(a.mountpoint) })
        } catch (e) {
          // not a mount: a synced directory?
          if (!(e instanceof LkError && e.code === 'LK_NOT_MOUNTED')) throw e
          const s = await c.request('sync.status', { dir: absolute(a.mountpoint) })
          if (a.json) { printJson(s[0] ?? null); return }
          for (const x of s) printSync(x)
          return
        }
        if (a.json) { printJson(r.mounts[0] ?? null); return }
        for (const m of r.mounts) printMount(m)
        return
      }
      const s = await c.request('daemon.status', {})
      if (a.json) { printJson({ ...s, syncs: await c.request('sync.status', {}) }); return }
      out(`lk-mountd ${s.version} (protocol ${s.protocol}), pid ${s.pid}, up ${s.uptimeSec} s`)
      out(`home:  ${s.home}`)
      out(`store: ${s.defaultStore}`)
      if (s.cache !== null) {
        out(`cache: ${s.cache.dir}: ${formatSize(s.cache.usedBytes)} of ${formatSize(s.cache.maxBytes)}, ${s.cache.entries} chunks, hit rate ${(100 * s.cache.hitRate).toFixed(1)}%`)
      }
      const syncs = await c.request('sync.status', {})
      if (s.mounts.length === 0 && syncs.length === 0) out('no mounts')
      for (const m of s.mounts) printMount(m)
      for (const x of syncs) printSync(x)
      void shortId
    } finally {
      c.close()
    }
  },
}
