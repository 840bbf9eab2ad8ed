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
import { revertCommand } from './revert.js'
import { cherryPickCommand } from './cherry-pick.js'
import { mountCommand, umountCommand, commitCommand, prefetchCommand } from './mount.js'
import { statusCommand } from './status.js'
import { daemonCommand } from './daemon.js'
import { findCommand } from './find.js'
import { runCommand } from './run.js'
import { serveCommand } from './serve.js'
import { doctorCommand } from './doctor.js'
import { syncCommand, pullCommand } from './sync.js'

export const COMMANDS = [
  mountCommand, umountCommand, commitCommand, statusCommand, prefetchCommand, runCommand,
  syncCommand, pullCommand,
  repoCommand, branchCommand, tagCommand, importCommand, lsCommand, catCommand, logCommand, showCommand, findCommand, diffCommand, mergeCommand, revertCommand, cherryPickCommand,
  daemonCommand, serveCommand, doctorCommand,
] as unknown as Array<CommandModule<GlobalArgs, GlobalArgs>>
