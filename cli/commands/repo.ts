// lk-mount repo create|list

import type { Argv, CommandModule } from 'yargs'
import { METHODS } from '../../lib/control/methods/index.js'
import { call, formatTime, out, printJson, targetOf, type GlobalArgs } from '../context.js'

const create: CommandModule<GlobalArgs, GlobalArgs & { name: string, 'default-branch': string, 'storage-namespace'?: string }> = {
  command: 'create <name>',
  describe: METHODS['repo.create'].title,
  builder: (y) => y
    .positional('name', { type: 'string', demandOption: true, describe: 'repository name: 3-63 characters of a-z, 0-9 and "-"' })
    .option('default-branch', { type: 'string', default: 'main', describe: 'name of the first branch' })
    .option('storage-namespace', { type: 'string', describe: 'where the repository\'s objects live (informational for the embedded store)' })
    .example('$0 repo create images', 'a repository with a "main" branch')
    .epilog(METHODS['repo.create'].help),
  handler: async (a) => {
    const r = await call(a, 'repo.create', {
      target: targetOf(a),
      name: a.name,
      defaultBranch: a['default-branch'],
      ...(a['storage-namespace'] === undefined ? {} : { storageNamespace: a['storage-namespace'] }),
    })
    if (a.json) printJson(r)
    else out(`created repository lakefs://${r.name} (default branch ${r.defaultBranch})`)
  },
}

const list: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'list',
  aliases: ['ls'],
  describe: METHODS['repo.list'].title,
  builder: (y) => y.epilog(METHODS['repo.list'].help),
  handler: async (a) => {
    const repos = await call(a, 'repo.list', { target: targetOf(a) })
    if (a.json) { printJson(repos); return }
    for (const r of repos) out(`${r.name}\t${r.defaultBranch}\t${formatTime(r.creationDate)}\t${r.storageNamespace}`)
  },
}

export const repoCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'repo <command>',
  describe: 'Create and list repositories',
  builder: (y: Argv<GlobalArgs>) => y.command(create).command(list).demandCommand(1, 'name a repo subcommand: create or list'),
  handler: () => {},
}
