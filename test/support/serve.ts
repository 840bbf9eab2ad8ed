// `lk-mount serve` as a real child process on 127.0.0.1 with a free port (it prints the URL it
// listens on), killed by pid at teardown.

import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { cliHome, type CliHome } from './cli.js'

const SERVE = fileURLToPath(new URL('../../daemon/serve.js', import.meta.url))

export interface ServeProcess {
  url: string
  child: ChildProcess
  /** everything it printed so far (JSON log lines) */
  output (): string
}

export async function startServe (t: { teardown (fn: () => unknown): void }, o: { dir: string, accessKeyId: string, secretAccessKey: string, args?: string[], env?: NodeJS.ProcessEnv }): Promise<ServeProcess> {
  const child = spawn(process.execPath, [SERVE, '--store', join(o.dir, 'srv'), '--listen', '127.0.0.1:0', '--access-key-id', o.accessKeyId, ...(o.args ?? [])], {
    env: { ...process.env, ...o.env, LK_SERVE_SECRET_ACCESS_KEY: o.secretAccessKey, LK_MOUNT_HOME: join(o.dir, 'serve-home') },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // SIGTERM first, so serve removes its upload spool; SIGKILL if it does not exit in time
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>(resolve => { child.once('exit', () => { resolve() }) })
    child.kill('SIGTERM')
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
    await exited
    clearTimeout(timer)
  })
  let out = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`serve did not start: ${out}`)) }, 20_000)
    const onData = (d: Buffer): void => {
      out += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(out)
      if (m?.[1] !== undefined) { clearTimeout(timer); resolve(m[1]) }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('exit', code => { clearTimeout(timer); reject(new Error(`serve exited ${String(code)}: ${out}`)) })
  })
  return { url, child, output: () => out }
}

/**
 * A CLI home (test/support/cli.ts) whose commands address `url` the lakectl way (LAKECTL_*
 * variables); its daemon is stopped at teardown. `ok` runs a command and asserts exit 0.
 */
export function lakefsCli (t: Test, o: { url: string, accessKeyId: string, secretAccessKey: string }): { cli: CliHome, ok: (args: string[], opts?: { timeoutMs?: number }) => Promise<string> } {
  const cli = cliHome(t)
  Object.assign(cli.env, { LAKECTL_SERVER_ENDPOINT_URL: o.url, LAKECTL_CREDENTIALS_ACCESS_KEY_ID: o.accessKeyId, LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY: o.secretAccessKey })
  t.teardown(async () => { await cli.killDaemon() })
  const ok = async (args: string[], opts: { timeoutMs?: number } = {}): Promise<string> => {
    const r = await cli.run(args, opts)
    t.equal(r.code, 0, `lk-mount ${args.join(' ')}`, { stderr: r.stderr })
    return r.stdout
  }
  return { cli, ok }
}
