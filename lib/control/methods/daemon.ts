// Methods about the daemon itself.

import type { CacheStatus, MountStatus } from '../../manager/types.js'
import { record } from '../check.js'
import { defineMethod } from './define.js'

export interface DaemonStatus {
  pid: number
  version: string
  protocol: number
  home: string
  socket: string
  defaultStore: string
  /** ISO time the daemon started */
  startedAt: string
  uptimeSec: number
  mounts: MountStatus[]
  cache: CacheStatus | null
}

export const daemonStatus = defineMethod<Record<string, never>, Record<string, never>, DaemonStatus>({
  name: 'daemon.status',
  title: 'Show the daemon and its mounts',
  help: 'Answers the daemon\'s pid, version, paths, every mount (including staged ones left by a crash or --keep) and the shared cache\'s use.',
  parse: (raw) => { record(raw, 'params'); return {} },
})

export const daemonStop = defineMethod<Record<string, never>, Record<string, never>, { pid: number }>({
  name: 'daemon.stop',
  title: 'Stop the daemon gracefully',
  help: 'Unmounts every mount applying its --on-unmount policy, closes the stores and exits. The answer comes before the shutdown starts; the client waits for the process to exit.',
  parse: (raw) => { record(raw, 'params'); return {} },
})

export interface MethodHelp { name: string, title: string, help: string }

export const daemonMethods = defineMethod<Record<string, never>, Record<string, never>, MethodHelp[]>({
  name: 'daemon.methods',
  title: 'List the control methods',
  help: 'Answers the name, title and help text of every method this daemon serves.',
  parse: (raw) => { record(raw, 'params'); return {} },
})
