// lk-mount ls lakefs://repo/<ref>[/<prefix>] [--recursive]

import type { CommandModule } from 'yargs'
import { METHODS } from '../../lib/control/methods/index.js'
import { call, formatTime, out, printJson, targetOf, type GlobalArgs } from '../context.js'

export const lsCommand: CommandModule<GlobalArgs, GlobalArgs & { uri: string, recursive: boolean }> = {
  command: 'ls <uri>',
  describe: METHODS.ls.title,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<ref>[/<prefix>]' })
    .option('recursive', { alias: 'r', type: 'boolean', default: false, describe: 'list every object below the prefix' })
    .example('$0 ls lakefs://images/main/train/', '')
    .epilog(METHODS.ls.help),
  handler: async (a) => {
    const r = await call(a, 'ls', { target: targetOf(a), uri: a.uri, recursive: a.recursive })
    if (a.json) { printJson(r.entries); return }
    for (const e of r.entries) {
      if (e.type === 'prefix') out(`${'dir'.padStart(12)}  ${''.padEnd(20)}  ${e.path}`)
      else out(`${String(e.stat.size).padStart(12)}  ${formatTime(e.stat.mtime).padEnd(20)}  ${e.stat.path}`)
    }
  },
}
