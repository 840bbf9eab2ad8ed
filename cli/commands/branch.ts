// lk-mount branch create|list|delete

import type { Argv, CommandModule } from 'yargs'
import { METHODS } from '../../lib/control/methods/index.js'
import { call, out, printJson, shortId, targetOf, type GlobalArgs } from '../context.js'

const create: CommandModule<GlobalArgs, GlobalArgs & { uri: string, source: string }> = {
  command: 'create <uri>',
  describe: METHODS['branch.create'].title,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<new-branch>' })
    .option('source', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<ref> the branch starts from' })
    .example('$0 branch create lakefs://images/exp-42 --source lakefs://images/main', '')
    .epilog(METHODS['branch.create'].help),
  handler: async (a) => {
    const r = await call(a, 'branch.create', { target: targetOf(a), uri: a.uri, source: a.source })
    if (a.json) printJson(r)
    else out(`created branch ${a.uri} at ${shortId(r.commitId)}`)
  },
}

const list: CommandModule<GlobalArgs, GlobalArgs & { uri: string }> = {
  command: 'list <uri>',
  aliases: ['ls'],
  describe: METHODS['branch.list'].title,
  builder: (y) => y.positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>' }).epilog(METHODS['branch.list'].help),
  handler: async (a) => {
    const bs = await call(a, 'branch.list', { target: targetOf(a), uri: a.uri })
    if (a.json) { printJson(bs); return }
    for (const b of bs) out(`${b.default ? '*' : ' '} ${b.name}\t${shortId(b.commitId)}`)
  },
}

const del: CommandModule<GlobalArgs, GlobalArgs & { uri: string }> = {
  command: 'delete <uri>',
  describe: METHODS['branch.delete'].title,
  builder: (y) => y.positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<branch>' }).epilog(METHODS['branch.delete'].help),
  handler: async (a) => {
    const r = await call(a, 'branch.delete', { target: targetOf(a), uri: a.uri })
    if (a.json) printJson(r)
    else out(`deleted branch ${a.uri}`)
  },
}

const reset: CommandModule<GlobalArgs, GlobalArgs & { uri: string, hard?: string }> = {
  command: 'reset <uri>',
  describe: METHODS['branch.reset'].title,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<branch>' })
    .option('hard', { type: 'string', describe: 'move the branch to this ref (a commit id, main~2, a tag, or lakefs://<repo>/<ref>)' })
    .example('$0 branch reset lakefs://images/exp-42', 'drop the uncommitted changes')
    .example('$0 branch reset lakefs://images/exp-42 --hard exp-42~1', 'drop the last commit from the branch')
    .epilog(METHODS['branch.reset'].help),
  handler: async (a) => {
    const r = await call(a, 'branch.reset', { target: targetOf(a), uri: a.uri, ...(a.hard === undefined ? {} : { hard: a.hard }) })
    if (a.json) printJson(r)
    else out(r.dropped ? `dropped the uncommitted changes of ${a.uri} (at ${shortId(r.commitId)})` : `moved ${a.uri} to ${shortId(r.commitId)}`)
  },
}

export const branchCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'branch <command>',
  describe: 'Create, list, delete and reset branches',
  builder: (y: Argv<GlobalArgs>) => y.command(create).command(list).command(del).command(reset).demandCommand(1, 'name a branch subcommand: create, list, delete or reset'),
  handler: () => {},
}
