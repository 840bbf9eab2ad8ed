// lk-mount log lakefs://repo/<ref> and lk-mount show lakefs://repo/<ref>

import type { CommandModule } from 'yargs'
import { METHODS } from '../../lib/control/methods/index.js'
import type { CommitInfo } from '../../lib/control/methods/index.js'
import { call, formatTime, out, parseMeta, printJson, targetOf, type GlobalArgs } from '../context.js'

export function printCommit (c: CommitInfo): void {
  out(`commit ${c.id}`)
  if (c.parents.length > 1) out(`Merge: ${c.parents.map(p => p.slice(0, 12)).join(' ')}`)
  out(`Author: ${c.committer}`)
  out(`Date:   ${formatTime(c.creationDate)}`)
  out()
  for (const line of c.message.split('\n')) out(`    ${line}`)
  const meta = Object.entries(c.metadata)
  if (meta.length > 0) {
    out()
    for (const [k, v] of meta) out(`    ${k} = ${v}`)
  }
  out()
}

export const logCommand: CommandModule<GlobalArgs, GlobalArgs & { uri: string, amount: number, meta?: string[], path?: string[], prefix?: string[], since?: string, firstParent?: boolean }> = {
  command: 'log <uri>',
  describe: METHODS.log.title,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<ref>' })
    .option('amount', { alias: 'n', type: 'number', default: 100, describe: 'at most this many commits' })
    .option('path', { type: 'string', array: true, describe: 'only commits that changed this object (repeatable: any of them)' })
    .option('prefix', { type: 'string', array: true, describe: 'only commits that changed an object under this prefix (repeatable)' })
    .option('since', { type: 'string', describe: 'only commits from this time on (2026-11-01, 2026-11-01T12:00:00Z, or seconds since the epoch)' })
    .option('first-parent', { type: 'boolean', describe: 'follow only the first parent of merge commits' })
    .option('meta', { type: 'string', array: true, describe: 'only commits whose metadata has key=value (repeatable: all must match)' })
    .example('$0 log lakefs://images/main --amount 5 --json', '')
    .example('$0 log lakefs://images/main --path train/labels.csv', 'which commits changed this file')
    .example('$0 log lakefs://images/main --prefix train/ --since 2026-11-01', 'what changed the training set this month')
    .example('$0 log lakefs://images/exp-42 --meta mlflow.run_id=3f2a...', 'the commit an MLflow run produced')
    .epilog(METHODS.log.help),
  handler: async (a) => {
    const meta = parseMeta(a.meta)
    const commits = await call(a, 'log', {
      target: targetOf(a),
      uri: a.uri,
      amount: a.amount,
      ...(meta === undefined ? {} : { meta }),
      ...(a.path === undefined ? {} : { paths: a.path }),
      ...(a.prefix === undefined ? {} : { prefixes: a.prefix }),
      ...(a.since === undefined ? {} : { since: a.since }),
      ...(a.firstParent === true ? { firstParent: true } : {}),
    })
    if (a.json) { printJson(commits); return }
    for (const c of commits) printCommit(c)
  },
}

export const showCommand: CommandModule<GlobalArgs, GlobalArgs & { uri: string }> = {
  command: 'show <uri>',
  describe: METHODS.show.title,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<ref>' })
    .epilog(METHODS.show.help),
  handler: async (a) => {
    const r = await call(a, 'show', { target: targetOf(a), uri: a.uri })
    if (a.json) { printJson(r); return }
    out(`ref ${r.ref} (${r.kind})`)
    printCommit(r.commit)
  },
}
