// lk-mount revert lakefs://repo/<branch> <commit> [-m msg] [--meta k=v] [--parent N] [--allow-empty]

import type { CommandModule } from 'yargs'
import { METHODS } from '../../lib/control/methods/index.js'
import { call, out, parseMeta, printJson, shortId, targetOf, type GlobalArgs } from '../context.js'

export const revertCommand: CommandModule<GlobalArgs, GlobalArgs & { uri: string, commit: string, message?: string, meta?: string[], parent?: number, allowEmpty?: boolean }> = {
  command: 'revert <uri> <commit>',
  describe: METHODS.revert.title,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<branch> to add the undoing commit to' })
    .positional('commit', { type: 'string', demandOption: true, describe: 'the commit to undo: an id (or unique prefix), a ref expression like main~2, or lakefs://<repo>/<ref>' })
    .option('message', { alias: 'm', type: 'string', describe: 'message of the new commit (default "Revert <commit>")' })
    .option('meta', { type: 'string', array: true, describe: 'commit metadata key=value (repeatable)' })
    .option('parent', { type: 'number', describe: 'for a merge commit: the 1-based parent to revert against (1 undoes what the merge brought in)' })
    .option('allow-empty', { type: 'boolean', describe: 'commit even if the revert changes nothing' })
    .example('$0 revert lakefs://images/main 3f2a9c1d0b7e', 'undo one bad data drop, keeping history')
    .example('$0 revert lakefs://images/main main~1 --parent 1', 'undo the last merge')
    .epilog(METHODS.revert.help + ' On a conflict the exit status is 4 and the paths are listed (details.conflicts with --json).'),
  handler: async (a) => {
    const meta = parseMeta(a.meta)
    const c = await call(a, 'revert', {
      target: targetOf(a),
      uri: a.uri,
      commit: a.commit,
      ...(a.message === undefined ? {} : { message: a.message }),
      ...(meta === undefined ? {} : { metadata: meta }),
      ...(a.parent === undefined ? {} : { parent: a.parent }),
      ...(a.allowEmpty === true ? { allowEmpty: true } : {}),
    })
    if (a.json) { printJson(c); return }
    out(`reverted ${a.commit} on ${a.uri}: commit ${shortId(c.id)}`)
  },
}
