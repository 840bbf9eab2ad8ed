// lk-mount tag create|list

import type { Argv, CommandModule } from 'yargs'
import { METHODS } from '../../lib/control/methods/index.js'
import { call, out, printJson, shortId, targetOf, type GlobalArgs } from '../context.js'

const create: CommandModule<GlobalArgs, GlobalArgs & { uri: string, ref: string }> = {
  command: 'create <uri> <ref>',
  describe: METHODS['tag.create'].title,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<tag>' })
    .positional('ref', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<ref> to tag' })
    .example('$0 tag create lakefs://images/v1 lakefs://images/main', '')
    .epilog(METHODS['tag.create'].help),
  handler: async (a) => {
    const r = await call(a, 'tag.create', { target: targetOf(a), uri: a.uri, ref: a.ref })
    if (a.json) printJson(r)
    else out(`created tag ${a.uri} at ${shortId(r.commitId)}`)
  },
}

const list: CommandModule<GlobalArgs, GlobalArgs & { uri: string }> = {
  command: 'list <uri>',
  aliases: ['ls'],
  describe: METHODS['tag.list'].title,
  builder: (y) => y.positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>' }).epilog(METHODS['tag.list'].help),
  handler: async (a) => {
    const ts = await call(a, 'tag.list', { target: targetOf(a), uri: a.uri })
    if (a.json) { printJson(ts); return }
    for (const t of ts) out(`${t.name}\t${shortId(t.commitId)}`)
  },
}

export const tagCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'tag <command>',
  describe: 'Create and list tags',
  builder: (y: Argv<GlobalArgs>) => y.command(create).command(list).demandCommand(1, 'name a tag subcommand: create or list'),
  handler: () => {},
}
