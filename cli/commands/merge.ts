// lk-mount merge lakefs://repo/<source> lakefs://repo/<dest-branch> [--strategy] [-m msg] [--meta k=v] [--allow-empty]

import type { CommandModule } from 'yargs'
import { METHODS } from '../../lib/control/methods/index.js'
import { call, out, parseMeta, printJson, shortId, targetOf, type GlobalArgs } from '../context.js'

export const mergeCommand: CommandModule<GlobalArgs, GlobalArgs & { source: string, dest: string, strategy?: 'source-wins' | 'dest-wins', message?: string, meta?: string[], allowEmpty?: boolean }> = {
  command: 'merge <source> <dest>',
  describe: METHODS.merge.title,
  builder: (y) => y
    .positional('source', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<ref> to merge from' })
    .positional('dest', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<branch> to merge into' })
    .option('strategy', { type: 'string', choices: ['source-wins', 'dest-wins'] as const, describe: 'how to settle conflicting paths (default: stop and list them)' })
    .option('message', { alias: 'm', type: 'string', describe: 'merge commit message' })
    .option('meta', { type: 'string', array: true, describe: 'commit metadata key=value (repeatable)' })
    .option('allow-empty', { type: 'boolean', describe: 'write the merge commit even when the source brings nothing new' })
    .example('$0 merge lakefs://images/exp-42 lakefs://images/main -m "promote exp-42" --meta run=42', '')
    .epilog(METHODS.merge.help + ' On a conflict the exit status is 4 and the conflicting paths are listed on stderr (in details.conflicts with --json).'),
  handler: async (a) => {
    const meta = parseMeta(a.meta)
    const r = await call(a, 'merge', {
      target: targetOf(a),
      source: a.source,
      dest: a.dest,
      ...(a.strategy === undefined ? {} : { strategy: a.strategy }),
      ...(a.message === undefined ? {} : { message: a.message }),
      ...(meta === undefined ? {} : { metadata: meta }),
      ...(a.allowEmpty === true ? { allowEmpty: true } : {}),
    })
    if (a.json) { printJson(r); return }
    out(`merged ${a.source} into ${a.dest}: merge commit ${shortId(r.commitId)}`)
  },
}
