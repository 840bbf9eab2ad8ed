// lk-mount cherry-pick lakefs://repo/<branch> <commit> [-m msg] [--parent N]

import type { CommandModule } from 'yargs'
import { METHODS } from '../../lib/control/methods/index.js'
import { call, out, printJson, shortId, targetOf, type GlobalArgs } from '../context.js'

export const cherryPickCommand: CommandModule<GlobalArgs, GlobalArgs & { uri: string, commit: string, message?: string, parent?: number }> = {
  command: 'cherry-pick <uri> <commit>',
  describe: METHODS['cherry-pick'].title,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<branch> to replay the commit on' })
    .positional('commit', { type: 'string', demandOption: true, describe: 'the commit to replay: an id (or unique prefix), a ref expression like exp-42~1, or lakefs://<repo>/<ref>' })
    .option('message', { alias: 'm', type: 'string', describe: 'message of the new commit (default: the picked commit\'s)' })
    .option('parent', { type: 'number', describe: 'for a merge commit: the 1-based parent whose changes are replayed' })
    .example('$0 cherry-pick lakefs://images/main lakefs://images/exp-42', 'promote the last commit of one experiment')
    .epilog(METHODS['cherry-pick'].help + ' On a conflict the exit status is 4 and the paths are listed (details.conflicts with --json).'),
  handler: async (a) => {
    const c = await call(a, 'cherry-pick', {
      target: targetOf(a),
      uri: a.uri,
      commit: a.commit,
      ...(a.message === undefined ? {} : { message: a.message }),
      ...(a.parent === undefined ? {} : { parent: a.parent }),
    })
    if (a.json) { printJson(c); return }
    out(`cherry-picked ${a.commit} onto ${a.uri}: commit ${shortId(c.id)}`)
  },
}
