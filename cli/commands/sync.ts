// lk-mount sync <uri> <dir> ... | lk-mount sync stop <dir> ... | lk-mount pull <dir>

import type { CommandModule } from 'yargs'
import { LkError } from '../../lib/core/errors.js'
import { METHODS } from '../../lib/control/methods/index.js'
import type { SyncStatus } from '../../lib/control/methods/index.js'
import { formatSize } from '../../lib/control/size.js'
import { absolute, connect, out, parseMeta, printJson, progressBar, shortId, targetOf, type GlobalArgs } from '../context.js'

type OnStop = 'commit' | 'keep' | 'discard'

/** `90`, `30s`, `10m`, `2h` -> milliseconds */
export function parseDuration (s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(s.trim())
  if (m === null) throw new LkError('LK_USAGE', `${JSON.stringify(s)} is not a duration: write e.g. 30s, 10m or 2h`)
  const n = Number(m[1])
  const unit = m[2] ?? 's'
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000
  if (ms < 1000) throw new LkError('LK_USAGE', `--commit-every must be at least 1s, got ${s}`)
  return Math.round(ms)
}

export function printSync (s: SyncStatus): void {
  out(`${s.dir}`)
  out(`  uri:       ${s.uri} (sync)`)
  out(`  commit:    ${s.baseCommit === '' ? '-' : s.baseCommit}`)
  out(`  state:     ${s.state} since ${s.since}, on stop: ${s.onStop}${s.commitEveryMs > 0 ? `, commit every ${s.commitEveryMs / 1000} s` : ''}${s.pull ? ', pulls the branch' : ''}`)
  out(`  staged:    ${s.stagedPaths} paths, ${formatSize(s.stagedBytes)}${s.pendingPaths > 0 ? ` (${s.pendingPaths} more pending)` : ''}`)
  out(`  files:     ${s.baseFiles} in the base, ${s.downloaded} downloaded (${formatSize(s.downloadedBytes)})`)
  if (s.include.length > 0 || s.exclude.length > 0) out(`  filter:    ${s.include.map(g => `+${g}`).concat(s.exclude.map(g => `-${g}`)).join(' ')}`)
  if (s.lastCommit !== undefined) out(`  last commit: ${s.lastCommit}`)
  if (s.lastError !== undefined) out(`  last error:  ${s.lastError}`)
}

type SyncArgs = GlobalArgs & {
  uri: string, dir?: string, 'on-stop'?: OnStop, 'commit-every'?: string, include?: string[], exclude?: string[], pull: boolean,
  message?: string, meta?: string[], commit?: boolean, keep?: boolean, discard?: boolean
}

export const syncCommand: CommandModule<GlobalArgs, SyncArgs> = {
  command: 'sync <uri> [dir]',
  describe: `${METHODS.sync.title} (or \`sync stop <dir>\`)`,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<branch>[/<path>], or `stop`' })
    .positional('dir', { type: 'string', describe: 'the local directory (created when missing)' })
    .option('on-stop', { type: 'string', choices: ['commit', 'keep', 'discard'] as const, describe: 'what `sync stop` does with staged changes (default: commit)' })
    .option('commit-every', { type: 'string', describe: 'also commit staged changes this often, e.g. 10m' })
    .option('include', { type: 'string', array: true, describe: 'sync only paths matching this glob (repeatable; gitignore syntax)' })
    .option('exclude', { type: 'string', array: true, describe: 'leave paths matching this glob alone (repeatable; gitignore syntax)' })
    .option('pull', { type: 'boolean', default: false, describe: 'also bring in newer commits of the branch (every 30 s) when nothing local conflicts' })
    .option('message', { alias: 'm', type: 'string', describe: 'commit message' })
    .option('meta', { type: 'string', array: true, describe: 'commit metadata key=value (repeatable)' })
    .option('commit', { type: 'boolean', describe: 'with stop: commit staged changes (the default)' })
    .option('keep', { type: 'boolean', describe: 'with stop: keep staged changes for a later sync or commit' })
    .option('discard', { type: 'boolean', describe: 'with stop: drop staged changes and put the branch\'s versions back (local versions are moved to the state directory)' })
    .conflicts('commit', ['keep', 'discard'])
    .conflicts('keep', 'discard')
    .example('$0 sync lakefs://images/exp-42 ./data --commit-every 10m', 'a branch as a plain directory; edits become commits')
    .example('$0 sync stop ./data -m "cleaned labels" --meta run=17', 'stop watching and commit')
    .epilog(`${METHODS.sync.help} Local changes are detected by content (sha256), so rewriting a file with the same bytes is no change. \`.lkignore\` (gitignore syntax) at the root and --include/--exclude name paths that are never downloaded, staged or deleted. ${METHODS['sync.stop'].help} See also: lk-mount status|diff|commit|pull <dir>.`),
  handler: async (a) => {
    const meta = parseMeta(a.meta)
    if (a.uri === 'stop') {
      if (a.dir === undefined) throw new LkError('LK_USAGE', 'sync stop needs the directory: lk-mount sync stop <dir>')
      const action: OnStop | undefined = a.commit === true ? 'commit' : a.keep === true ? 'keep' : a.discard === true ? 'discard' : undefined
      const bar = progressBar(!a.json)
      const c = await connect({ ...a, spawn: false })
      try {
        const r = await c.request('sync.stop', {
          dir: absolute(a.dir),
          ...(action === undefined ? {} : { action }),
          ...(a.message === undefined ? {} : { message: a.message }),
          ...(meta === undefined ? {} : { metadata: meta }),
        }, { onProgress: bar.onProgress })
        bar.done()
        if (a.json) { printJson(r); return }
        const what = r.commit !== undefined ? `committed ${shortId(r.commit.id)}` : r.action === 'discard' ? `staged changes discarded${(r.movedAside?.length ?? 0) > 0 ? ` (${r.movedAside?.length ?? 0} local versions moved aside)` : ''}` : r.action === 'keep' ? 'staged changes kept' : 'nothing to commit'
        out(`stopped syncing ${absolute(a.dir)}: ${what}`)
      } finally {
        bar.done()
        c.close()
      }
      return
    }
    if (a.dir === undefined) throw new LkError('LK_USAGE', 'sync needs a directory: lk-mount sync lakefs://<repo>/<branch> <dir>')
    if (a.commit === true || a.keep === true || a.discard === true) throw new LkError('LK_USAGE', '--commit/--keep/--discard go with `sync stop`; use --on-stop when starting')
    const bar = progressBar(!a.json)
    const c = await connect(a)
    try {
      const st = await c.request('sync', {
        target: targetOf(a),
        uri: a.uri,
        dir: absolute(a.dir),
        pull: a.pull,
        ...(a['on-stop'] === undefined ? {} : { onStop: a['on-stop'] }),
        ...(a['commit-every'] === undefined ? {} : { commitEveryMs: parseDuration(a['commit-every']) }),
        ...(a.include === undefined ? {} : { include: a.include }),
        ...(a.exclude === undefined ? {} : { exclude: a.exclude }),
        ...(a.message === undefined ? {} : { message: a.message }),
        ...(meta === undefined ? {} : { metadata: meta }),
      }, { onProgress: bar.onProgress })
      bar.done()
      if (a.json) { printJson(st); return }
      out(`syncing ${st.uri} into ${st.dir} (commit ${shortId(st.baseCommit)}, ${st.baseFiles} files, ${st.downloaded} downloaded${st.stagedPaths > 0 ? `, ${st.stagedPaths} staged changes` : ''})`)
    } finally {
      bar.done()
      c.close()
    }
  },
}

export const pullCommand: CommandModule<GlobalArgs, GlobalArgs & { dir: string, force: boolean }> = {
  command: 'pull <dir>',
  describe: METHODS['sync.pull'].title,
  builder: (y) => y
    .positional('dir', { type: 'string', demandOption: true, describe: 'a synced directory' })
    .option('force', { type: 'boolean', default: false, describe: 'the branch wins where a path also changed locally (the local version is moved aside, not lost)' })
    .epilog(METHODS['sync.pull'].help),
  handler: async (a) => {
    const bar = progressBar(!a.json)
    const c = await connect({ ...a, spawn: false })
    try {
      const r = await c.request('sync.pull', { dir: absolute(a.dir), force: a.force }, { onProgress: bar.onProgress })
      bar.done()
      if (a.json) { printJson(r); return }
      if (r.from === r.to) { out(`already at ${shortId(r.to)}`); return }
      out(`pulled ${shortId(r.from)}..${shortId(r.to)}: ${r.updated} updated, ${r.removed} removed${r.movedAside.length > 0 ? `, ${r.movedAside.length} local versions moved aside:` : ''}`)
      for (const p of r.movedAside) out(`  ${p}`)
    } finally {
      bar.done()
      c.close()
    }
  },
}
