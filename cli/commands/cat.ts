// lk-mount cat lakefs://repo/<ref>/<path>

import type { CommandModule } from 'yargs'
import { METHODS } from '../../lib/control/methods/index.js'
import { call, targetOf, type GlobalArgs } from '../context.js'

/** resolves when stdout took the data (a slow pipe slows the daemon, not our memory) */
function write (data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(data, (err) => { if (err === null || err === undefined) resolve(); else reject(err) })
  })
}

export const catCommand: CommandModule<GlobalArgs, GlobalArgs & { uri: string }> = {
  command: 'cat <uri>',
  describe: METHODS.cat.title,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<ref>/<path>' })
    .example('$0 cat lakefs://images/main/labels.csv | head', '')
    .epilog(METHODS.cat.help),
  handler: async (a) => {
    await call(a, 'cat', { target: targetOf(a), uri: a.uri }, { onChunk: write })
  },
}
