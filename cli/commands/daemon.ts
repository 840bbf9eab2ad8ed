// lk-mount daemon [--foreground] | daemon stop | daemon status

import { spawn } from 'node:child_process'
import type { Argv, CommandModule } from 'yargs'
import { LkError } from '../../lib/core/errors.js'
import { ControlClient } from '../../lib/control/client.js'
import { METHODS } from '../../lib/control/methods/index.js'
import { daemonArgv, startDaemon, waitForExit } from '../daemon-process.js'
import { absolute, out, pathsOf, printJson, type GlobalArgs } from '../context.js'

type StartArgs = GlobalArgs & { foreground: boolean, 'cache-dir'?: string, 'cache-size'?: string, 'listing-entries'?: string, config?: string, metrics?: string, 'stop-timeout'?: string }

async function running (a: GlobalArgs): Promise<ControlClient | undefined> {
  try {
    return await ControlClient.connect({ socketPath: pathsOf(a).socket })
  } catch (e) {
    if (e instanceof LkError && e.code === 'LK_DAEMON_UNAVAILABLE') return undefined
    throw e
  }
}

const start: CommandModule<GlobalArgs, StartArgs> = {
  command: '$0',
  describe: 'Start the daemon (in the background unless --foreground)',
  builder: (y) => y
    .option('foreground', { type: 'boolean', default: false, describe: 'stay attached: log to stderr, stop with Ctrl-C or SIGTERM (for systemd)' })
    .option('cache-dir', { type: 'string', describe: 'the shared cache directory (default $LK_MOUNT_HOME/cache)' })
    .option('cache-size', { type: 'string', describe: 'the shared cache size, e.g. 50G (default 10G)' })
    .option('listing-entries', { type: 'string', describe: 'directory entries each mount keeps in memory (default 10000, ~0.7 KB each); raise it for trees of millions of files read at random' })
    .option('config', { type: 'string', describe: 'config.yaml with declared mounts, socket group, mountRoots (default $LK_MOUNT_CONFIG; /etc/lk-mount/config.yaml with --system)' })
    .option('metrics', { type: 'string', describe: 'serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 127.0.0.1:9464' })
    .option('stop-timeout', { type: 'string', describe: 'seconds all mounts get to unmount and commit on stop before they are detached with changes kept staged (default 90)' }),
  handler: async (a) => {
    const paths = pathsOf(a)
    const args = {
      ...(a.store === undefined ? {} : { store: absolute(a.store) }),
      ...(a['cache-dir'] === undefined ? {} : { cacheDir: absolute(a['cache-dir']) }),
      ...(a['cache-size'] === undefined ? {} : { cacheSize: a['cache-size'] }),
      ...(a['listing-entries'] === undefined ? {} : { listingEntries: a['listing-entries'] }),
      ...(a.config === undefined ? {} : { config: absolute(a.config) }),
      ...(a.metrics === undefined ? {} : { metrics: a.metrics }),
      ...(a['stop-timeout'] === undefined ? {} : { stopTimeout: a['stop-timeout'] }),
      system: a.system,
    }
    const live = await running(a)
    if (live !== undefined) {
      const pid = live.daemon.pid
      live.close()
      throw new LkError('LK_DAEMON_RUNNING', `a daemon (pid ${pid}) already answers on ${paths.socket}`)
    }
    if (a.foreground) {
      const child = spawn(process.execPath, daemonArgv(args), { stdio: 'inherit', env: process.env })
      // the daemon handles the signals; forwarding makes `kill <cli pid>` work too
      const forward = (sig: NodeJS.Signals): void => { child.kill(sig) }
      process.on('SIGTERM', forward)
      process.on('SIGINT', forward)
      const code = await new Promise<number>(resolve => child.once('exit', (c, s) => { resolve(c ?? (s === null ? 1 : 128)) }))
      process.exitCode = code
      return
    }
    const c = await startDaemon(paths, args)
    const pid = c.daemon.pid
    c.close()
    if (a.json) printJson({ pid, socket: paths.socket, log: paths.logfile })
    else out(`lk-mountd started (pid ${pid}); socket ${paths.socket}, log ${paths.logfile}`)
  },
}

const stop: CommandModule<GlobalArgs, GlobalArgs & { timeout: number }> = {
  command: 'stop',
  describe: METHODS['daemon.stop'].title,
  builder: (y) => y
    .option('timeout', { type: 'number', default: 150, describe: 'seconds to wait for the daemon to exit' })
    .epilog(METHODS['daemon.stop'].help),
  handler: async (a) => {
    const c = await running(a)
    if (c === undefined) {
      if (a.json) printJson({ stopped: false, running: false })
      else out('no daemon is running')
      return
    }
    let pid: number
    try {
      pid = (await c.request('daemon.stop', {})).pid
    } finally {
      c.close()
    }
    if (!await waitForExit(pid, a.timeout * 1000)) {
      throw new LkError('LK_DAEMON_UNAVAILABLE', `the daemon (pid ${pid}) did not exit within ${a.timeout} s; see ${pathsOf(a).logfile}`)
    }
    if (a.json) printJson({ stopped: true, pid })
    else out(`lk-mountd (pid ${pid}) stopped`)
  },
}

export const daemonCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'daemon',
  describe: 'Start or stop the daemon (lk-mountd)',
  builder: (y: Argv<GlobalArgs>) => y.command(start as unknown as CommandModule<GlobalArgs, GlobalArgs>).command(stop as unknown as CommandModule<GlobalArgs, GlobalArgs>)
    .epilog('The daemon owns every mount of this user (or of the machine, with --system), one shared cache, and the staged changes of write mounts. Commands start it on demand; `daemon stop` unmounts everything, applying each mount\'s --on-unmount policy.'),
  handler: () => {},
}
