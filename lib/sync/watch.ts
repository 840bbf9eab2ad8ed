// The one chokidar importer: turns filesystem events under a synced directory into "this path
// changed" calls. Events carry no content and no judgement: the session stats and hashes the
// path itself, so a lost, duplicated or reordered event costs at most a redundant check (and
// `rescan` before every commit catches what no event reported).

import { watch } from 'chokidar'
import type { Logger } from '../core/log.js'
import type { StartWatcher, Watcher } from './session.js'

export function chokidarWatcher (log: Logger): StartWatcher {
  return async (dir, ignored, onPath): Promise<Watcher> => {
    const w = watch(dir, {
      ignoreInitial: true,
      persistent: true,
      followSymlinks: false,
      // the session waits for files to settle itself (size, mtime and ctime still)
      awaitWriteFinish: false,
      atomic: false,
      ignored: (p: string, stats?: { isDirectory (): boolean }) => ignored(p, stats?.isDirectory()),
    })
    w.on('add', (p) => { onPath(p, 'file') })
    w.on('change', (p) => { onPath(p, 'file') })
    w.on('unlink', (p) => { onPath(p, 'file') })
    w.on('addDir', (p) => { onPath(p, 'dir') })
    w.on('unlinkDir', (p) => { onPath(p, 'dir') })
    w.on('error', (e) => { log.warn('sync: watcher error', { err: e }) })
    await new Promise<void>((resolve) => { w.once('ready', () => { resolve() }) })
    return { close: async () => { await w.close() } }
  }
}
