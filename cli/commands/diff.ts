// lk-mount diff <left-uri> <right-uri>   (two refs)
// lk-mount diff <mountpoint>             (a write mount's staged changes)

import type { CommandModule } from 'yargs'
import { LkError } from '../../lib/core/errors.js'
import { METHODS } from '../../lib/control/methods/index.js'
import type { DiffEntry } from '../../lib/control/methods/index.js'
import { absolute, call, out, printJson, targetOf, type GlobalArgs } from '../context.js'

const SIGN: Record<DiffEntry['type'], string> = { added: '+', removed: '-', changed: '~', conflict: '!' }

export const diffCommand: CommandModule<GlobalArgs, GlobalArgs & { left: string, right?: string }> = {
  command: 'diff <left> [right]',
  describe: `${METHODS.diff.title}, or show a mount's staged changes`,
  builder: (y) => y
    .positional('left', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<ref>, or a mount point' })
    .positional('right', { type: 'string', describe: 'lakefs://<repo>/<ref> (omit with a mount point)' })
    .example('$0 diff lakefs://images/main lakefs://images/exp-42', 'what exp-42 changed relative to main')
    .example('$0 diff /data', 'what was written under the mount /data and is not committed yet')
    .epilog(`${METHODS.diff.help} With one argument that is not a lakefs:// URI: ${METHODS['mount.diff'].help} Lines start with + (added), - (removed), ~ (changed).`),
  handler: async (a) => {
    let entries: DiffEntry[]
    if (a.right === undefined) {
      if (a.left.startsWith('lakefs://')) throw new LkError('LK_USAGE', 'diff of refs needs two URIs: lk-mount diff lakefs://<repo>/<left> lakefs://<repo>/<right>')
      entries = await call(a, 'mount.diff', { mountpoint: absolute(a.left) })
    } else {
      entries = await call(a, 'diff', { target: targetOf(a), left: a.left, right: a.right })
    }
    if (a.json) { printJson(entries); return }
    for (const e of entries) out(`${SIGN[e.type]} ${e.path}`)
  },
}
