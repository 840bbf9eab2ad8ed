// Every command module, registered in the order `--help` lists them.

import type { CommandModule } from 'yargs'
import type { GlobalArgs } from '../context.js'
import { repoCommand } from './repo.js'
import { branchCommand } from './branch.js'
import { tagCommand } from './tag.js'
import { importCommand } from './import.js'
import { lsCommand } from './ls.js'
import { catCommand } from './cat.js'
import { logCommand, showCommand } from './log.js'
import { diffCommand } from './diff.js'
import { mergeCommand } from './merge.js'
import { mountCommand, umountCommand, commitCommand, prefetchCommand } from './mount.js'
import { statusCommand } from './status.js'
import { daemonCommand } from './daemon.js'
import { serveCommand } from './serve.js'

export const COMMANDS = [
  mountCommand, umountCommand, commitCommand, statusCommand, prefetchCommand,
  repoCommand, branchCommand, tagCommand, importCommand, lsCommand, catCommand, logCommand, showCommand, diffCommand, mergeCommand,
  daemonCommand, serveCommand,
] as unknown as Array<CommandModule<GlobalArgs, GlobalArgs>>
