// lk-mount mount, umount, commit, prefetch

import type { CommandModule } from 'yargs'
import { LkError } from '../../lib/core/errors.js'
import { METHODS } from '../../lib/control/methods/index.js'
import { formatSize, parseSize } from '../../lib/control/size.js'
import { absolute, connect, out, parseMeta, printJson, progressBar, shortId, targetOf, type GlobalArgs } from '../context.js'

type OnUnmount = 'commit' | 'keep' | 'discard'

export const mountCommand: CommandModule<GlobalArgs, GlobalArgs & {
  uri: string, mountpoint: string, write: boolean, 'cache-dir'?: string, 'cache-size'?: string,
  'on-unmount'?: OnUnmount, message?: string, meta?: string[], xattrs: boolean
}> = {
  command: 'mount <uri> <mountpoint>',
  describe: METHODS.mount.title,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<ref>[/<path>]' })
    .positional('mountpoint', { type: 'string', demandOption: true, describe: 'an empty or new directory' })
    .option('write', { alias: 'w', type: 'boolean', default: false, describe: 'allow writes (branches only); they become one commit on unmount' })
    .option('cache-dir', { type: 'string', describe: 'cache directory for this mount (default: the daemon\'s shared cache)' })
    .option('cache-size', { type: 'string', describe: 'cache size, e.g. 50G or 100M' })
    .option('on-unmount', { type: 'string', choices: ['commit', 'keep', 'discard'] as const, describe: 'what unmount does with staged changes (default: commit)' })
    .option('message', { alias: 'm', type: 'string', describe: 'commit message used at unmount' })
    .option('meta', { type: 'string', array: true, describe: 'commit metadata key=value (repeatable)' })
    .option('xattrs', { type: 'boolean', default: true, describe: 'serve object metadata as user.* extended attributes (--no-xattrs: none, and `ls -l`/`find -ls` make no daemon round trip per entry for their security/ACL probes)' })
    .example('$0 mount lakefs://images/main /data', 'read-only, pinned to main\'s current commit')
    .example('$0 mount lakefs://images/exp-42 /out --write -m "run 17" --meta run=17', 'outputs become one commit on unmount')
    .example('$0 mount lakefs://logs/main /logs --no-xattrs', 'fastest `ls -l` of huge directories, no metadata xattrs')
    .epilog(METHODS.mount.help + ' The pinned commit is readable as the user.lakefs.commit extended attribute of the mount\'s root (and always in /.lakefs-mount.json inside the mount).'),
  handler: async (a) => {
    const cacheSize = a['cache-size'] === undefined ? undefined : parseSize(a['cache-size'])
    const meta = parseMeta(a.meta)
    const c = await connect(a, {
      ...(a['cache-dir'] === undefined ? {} : { cacheDir: absolute(a['cache-dir']) }),
      ...(a['cache-size'] === undefined ? {} : { cacheSize: a['cache-size'] }),
    })
    try {
      const st = await c.request('mount', {
        target: targetOf(a),
        uri: a.uri,
        mountpoint: absolute(a.mountpoint),
        write: a.write,
        ...(a['on-unmount'] === undefined ? {} : { onUnmount: a['on-unmount'] }),
        ...(a.message === undefined ? {} : { message: a.message }),
        ...(meta === undefined ? {} : { metadata: meta }),
        ...(cacheSize === undefined ? {} : { cacheSize }),
        ...(a['cache-dir'] === undefined ? {} : { cacheDir: absolute(a['cache-dir']) }),
        ...(a.xattrs ? {} : { xattrs: false }),
      })
      if (a.json) { printJson(st); return }
      out(`mounted ${st.uri} at ${st.mountpoint} (commit ${shortId(st.pinnedCommit)}, ${st.write ? 'read-write' : 'read-only'}${st.stats.stagedPaths > 0 ? `, ${st.stats.stagedPaths} staged changes resumed` : ''})`)
    } finally {
      c.close()
    }
  },
}

export const umountCommand: CommandModule<GlobalArgs, GlobalArgs & { mountpoint: string, commit?: boolean, keep?: boolean, discard?: boolean, message?: string, meta?: string[] }> = {
  command: 'umount <mountpoint>',
  aliases: ['unmount'],
  describe: METHODS.umount.title,
  builder: (y) => y
    .positional('mountpoint', { type: 'string', demandOption: true })
    .option('commit', { type: 'boolean', describe: 'commit staged changes (default for write mounts)' })
    .option('keep', { type: 'boolean', describe: 'keep staged changes for a later mount or commit' })
    .option('discard', { type: 'boolean', describe: 'drop staged changes' })
    .conflicts('commit', ['keep', 'discard'])
    .conflicts('keep', 'discard')
    .option('message', { alias: 'm', type: 'string', describe: 'commit message' })
    .option('meta', { type: 'string', array: true, describe: 'commit metadata key=value (repeatable)' })
    .example('$0 umount /out -m "run 17 outputs"', '')
    .epilog(METHODS.umount.help + ' If the commit conflicts, the mount point is unmounted anyway and the changes stay staged (state "staged" in `lk-mount status`).'),
  handler: async (a) => {
    const action: OnUnmount | undefined = a.commit === true ? 'commit' : a.keep === true ? 'keep' : a.discard === true ? 'discard' : undefined
    const meta = parseMeta(a.meta)
    const c = await connect({ ...a, spawn: false })
    try {
      const r = await c.request('umount', {
        mountpoint: absolute(a.mountpoint),
        ...(action === undefined ? {} : { action }),
        ...(a.message === undefined ? {} : { message: a.message }),
        ...(meta === undefined ? {} : { metadata: meta }),
      })
      if (a.json) { printJson(r); return }
      const what = r.commit !== undefined ? `committed ${shortId(r.commit.id)}` : r.action === 'discard' ? 'staged changes discarded' : r.action === 'keep' && (r.staged ?? 1) > 0 ? `${r.staged ?? ''} staged changes kept`.trimStart() : 'nothing to commit'
      out(`unmounted ${absolute(a.mountpoint)}: ${what}`)
    } finally {
      c.close()
    }
  },
}

export const commitCommand: CommandModule<GlobalArgs, GlobalArgs & { mountpoint: string, message?: string, meta?: string[], branch?: string }> = {
  command: 'commit <mountpoint>',
  describe: METHODS['mount.commit'].title,
  builder: (y) => y
    .positional('mountpoint', { type: 'string', demandOption: true })
    .option('message', { alias: 'm', type: 'string', demandOption: true, describe: 'commit message' })
    .option('meta', { type: 'string', array: true, describe: 'commit metadata key=value (repeatable)' })
    .option('branch', { type: 'string', describe: 'commit to this new branch (created from the pinned commit) instead, e.g. after a conflict' })
    .epilog(METHODS['mount.commit'].help),
  handler: async (a) => {
    if (a.message === undefined || a.message === '') throw new LkError('LK_USAGE', 'commit needs a message: -m "..."')
    const meta = parseMeta(a.meta)
    const c = await connect({ ...a, spawn: false })
    try {
      const r = await c.request('mount.commit', {
        mountpoint: absolute(a.mountpoint),
        message: a.message,
        ...(meta === undefined ? {} : { metadata: meta }),
        ...(a.branch === undefined ? {} : { branch: a.branch }),
      })
      if (a.json) { printJson(r); return }
      out(`committed ${shortId(r.id)}`)
    } finally {
      c.close()
    }
  },
}

export const prefetchCommand: CommandModule<GlobalArgs, GlobalArgs & { path: string }> = {
  command: 'prefetch <path>',
  describe: METHODS.prefetch.title,
  builder: (y) => y
    .positional('path', { type: 'string', demandOption: true, describe: 'a file or directory inside a mount' })
    .example('$0 prefetch /data/train', 'warm the cache before the first epoch')
    .epilog(METHODS.prefetch.help),
  handler: async (a) => {
    const bar = progressBar(!a.json)
    const c = await connect({ ...a, spawn: false })
    try {
      const r = await c.request('prefetch', { path: absolute(a.path) }, { onProgress: bar.onProgress })
      bar.done()
      if (a.json) { printJson(r); return }
      out(`fetched ${r.files} files (${formatSize(r.bytes)})`)
    } finally {
      bar.done()
      c.close()
    }
  },
}
