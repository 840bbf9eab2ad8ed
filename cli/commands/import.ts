// lk-mount import <local-dir> lakefs://repo/<branch>[/<path>]

import type { CommandModule } from 'yargs'
import { METHODS } from '../../lib/control/methods/index.js'
import { formatSize } from '../../lib/control/size.js'
import { absolute, call, out, parseMeta, printJson, progressBar, shortId, targetOf, type GlobalArgs } from '../context.js'

export const importCommand: CommandModule<GlobalArgs, GlobalArgs & { dir: string, uri: string, message?: string, meta?: string[] }> = {
  command: 'import <dir> <uri>',
  describe: METHODS.import.title,
  builder: (y) => y
    .positional('dir', { type: 'string', demandOption: true, describe: 'local directory to read (by the daemon)' })
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<branch>[/<path>] to store the files under' })
    .option('message', { alias: 'm', type: 'string', describe: 'commit message' })
    .option('meta', { type: 'string', array: true, describe: 'commit metadata key=value (repeatable)' })
    .example('$0 import ./photos lakefs://images/main/raw -m "raw photos" --meta source=camera-3', '')
    .epilog(METHODS.import.help + ' A progress bar is drawn on stderr when it is a terminal.'),
  handler: async (a) => {
    const bar = progressBar(!a.json)
    try {
      const r = await call(a, 'import', {
        target: targetOf(a),
        dir: absolute(a.dir),
        uri: a.uri,
        ...(a.message === undefined ? {} : { message: a.message }),
        ...(a.meta === undefined ? {} : { metadata: parseMeta(a.meta) ?? {} }),
      }, { onProgress: bar.onProgress })
      bar.done()
      if (a.json) { printJson(r); return }
      out(`imported ${r.files} files (${formatSize(r.bytes)}) into ${a.uri}: commit ${shortId(r.commit.id)}`)
      if (r.skipped.length > 0) out(`skipped ${r.skipped.length} entries that are not regular files: ${r.skipped.slice(0, 5).join(', ')}${r.skipped.length > 5 ? ', ...' : ''}`)
    } finally {
      bar.done()
    }
  },
}
