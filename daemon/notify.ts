// sd_notify for the systemd unit (Type=notify). Node has no AF_UNIX datagram sockets, so the
// message goes through the `systemd-notify` binary with `--pid=<our pid>`: systemd-notify then
// sends it with our pid as the sender's credentials (it may, as root) and adds MAINPID=, so the
// message is attributed to the daemon even though the short-lived helper already exited (the
// unit sets NotifyAccess=all so a helper's message is accepted at all).
//
// A no-op without $NOTIFY_SOCKET (not under systemd). Messages are sent one at a time, in order,
// so READY=1 can never overtake an earlier STATUS= or a later STOPPING=1.

import { execFile } from 'node:child_process'
import type { Logger } from '../lib/core/log.js'

export interface Notifier {
  readonly enabled: boolean
  /** e.g. { READY: '1', STATUS: 'serving 2 mounts' }; resolves once sent (or failed, logged) */
  notify (fields: Record<string, string>): Promise<void>
}

export function createNotifier (log: Logger, env: NodeJS.ProcessEnv = process.env): Notifier {
  const socket = env.NOTIFY_SOCKET
  const enabled = socket !== undefined && socket !== ''
  let chain: Promise<void> = Promise.resolve()
  let warned = false
  return {
    enabled,
    notify (fields) {
      if (!enabled) return Promise.resolve()
      // STATUS= values are free text: one line, no NUL, so one field can't inject another
      const args = [`--pid=${process.pid}`, ...Object.entries(fields).map(([k, v]) => `${k}=${v.replace(/[\n\0]/g, ' ')}`)]
      chain = chain.then(() => new Promise<void>(resolve => {
        execFile('systemd-notify', args, { timeout: 10_000 }, (err, _out, stderr) => {
          if (err !== null && !warned) {
            warned = true
            log.warn('systemd-notify failed: systemd will not see the daemon\'s state (install systemd, or use Type=simple)', { err: err.message, stderr: String(stderr).trim() })
          }
          resolve()
        })
      }))
      return chain
    },
  }
}
