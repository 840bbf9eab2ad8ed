// A throw-away single-node Ceph RGW for integration tests: one monitor, one OSD on memstore
// (the data lives in the OSD's RAM) and one radosgw, configured as /work/shared/TESTBED.md
// describes. Everything — config, monitor store, pid files, sockets, logs — lives under one
// temporary directory that `stop()` removes.
//
// Lifecycle contract: `startRgw` either resolves with a ready server (GET / answers 200 and an
// S3 user exists) or rejects with an error that carries the tail of the Ceph logs, having killed
// whatever it started. The Ceph daemons fork, so they are tracked by the pids in their pid files
// (and by this cluster's own ceph.conf path in /proc/*/cmdline, for a daemon that has none yet),
// never by name: other engineers' clusters run on the same machine. A process 'exit' hook kills
// the daemons of any cluster a test forgot to stop, so a crashed test does not leak them.
//
// Needs the Debian packages radosgw, ceph-mon and ceph-osd (`scripts/setup.sh --test`).

import { spawn, execFile } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { openSync, closeSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs'
import { mkdtemp, mkdir, writeFile, readdir, readFile, rm, open } from 'node:fs/promises'
import { createServer } from 'node:net'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3'
import { makeS3Client } from './s3.js'

const execFileP = promisify(execFile)

export interface RgwOptions {
  /** RAM the memstore OSD may use, bytes (default 2 GiB; allocated as data arrives) */
  memstoreBytes?: number
  /** bound on the whole start, per attempt (default 60 s) */
  timeoutMs?: number
  /** attempts with fresh ports when a daemon cannot bind (default 3) */
  attempts?: number
  /** picks a free port other than those in `avoid` (default: bind port 0 and release it); for the harness's own tests */
  pickPort?: (avoid: number[]) => Promise<number>
}

export interface Rgw {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly region: 'us-east-1'
  /** the temporary directory holding config, logs and pid files (removed by stop) */
  readonly dir: string
  /** milliseconds from startRgw() to a ready server with its user */
  readonly startMs: number
  /** a client for this server (path style, WHEN_REQUIRED checksums); destroyed by stop() */
  readonly client: S3Client
  createBucket (name: string): Promise<void>
  /** the last lines of every Ceph log, for failure messages */
  logTail (lines?: number): Promise<string>
  /** kills the daemons (SIGKILL) found by their pid files and by this cluster's ceph.conf in their command line, waits for them to exit, removes the directory; idempotent */
  stop (): Promise<void>
}

/** clusters started by this process and not yet stopped: killed by the exit hook */
const live = new Set<string>()
let exitHookInstalled = false

function killLiveSync (): void {
  for (const dir of live) {
    for (const pid of clusterPidsSync(dir)) { try { process.kill(pid, 'SIGKILL') } catch {} }
    try { rmSync(dir, { recursive: true, force: true }) } catch {}
  }
  live.clear()
}

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', killLiveSync)
  // tap ends a test file that runs past its timeout with SIGALRM and then SIGKILL, and 'exit'
  // never fires on a signal: kill the clusters on the signal itself
  for (const sig of ['SIGALRM', 'SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killLiveSync()
      // with no other handler, die of the signal as the process would have without this one
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal)
        process.kill(process.pid, sig)
      }
    }
    process.on(sig, onSignal)
  }
}

/**
 * The pids of this cluster's daemons: those in the pid files, plus any process started with this
 * cluster's ceph.conf (radosgw writes its pid file only once its frontend runs, so a radosgw that
 * hangs or fails early has none). The temp dir in the command line makes the match exact.
 */
function clusterPidsSync (dir: string): number[] {
  const pids = new Set(readPidsSync(dir))
  const conf = join(dir, 'ceph.conf')
  let entries: string[] = []
  try { entries = readdirSync('/proc') } catch {}
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0')
      if (argv.includes(conf)) pids.add(Number(e))
    } catch {}
  }
  pids.delete(process.pid)
  return [...pids]
}

function readPidsSync (dir: string): number[] {
  const run = join(dir, 'run')
  let names: string[]
  try { names = readdirSync(run) } catch { return [] }
  const pids: number[] = []
  for (const n of names) {
    if (!n.endsWith('.pid')) continue
    try {
      const pid = Number.parseInt(readFileSync(join(run, n), 'utf8').trim(), 10)
      if (Number.isInteger(pid) && pid > 1) pids.push(pid)
    } catch {}
  }
  return pids
}

/** alive and not a zombie: daemons re-parented to a pid 1 that does not reap stay as zombies */
function alive (pid: number): boolean {
  let stat: string
  try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return false }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return state !== 'Z' && state !== 'X'
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** a port that was free a moment ago (bind port 0, release it); the default `pickPort` */
export async function freePort (avoid: number[] = []): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer()
      srv.unref()
      srv.once('error', reject)
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address()
        const p = typeof addr === 'object' && addr !== null ? addr.port : 0
        srv.close(() => resolve(p))
      })
    })
    if (!avoid.includes(port)) return port
  }
}

function cephConf (dir: string, monPort: number, rgwPort: number, fsid: string, memstoreBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon max pg per osd = 1000
mon data avail warn = 1
# these two cut the monitor's start from ~13 s to ~2 s
paxos propose interval = 0.05
paxos min wait = 0.01
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
run dir = ${dir}/run
# $pid: radosgw-admin runs as client.rgw too and must not collide with the daemon's socket
admin socket = ${dir}/run/$name.$pid.asok
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
mon data = ${dir}/mon/$cluster-$id
osd data = ${dir}/osd/$cluster-$id

[client.rgw]
# without these two radosgw hangs ~300 s on get_initial_auth_request returned -13
ms mon client mode = crc
auth client required = none
# without tcp_nodelay small GETs stall ~40 ms on delayed ACKs
rgw frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw dns name = localhost
rgw thread pool size = 64
`
}

class StartError extends Error {
  constructor (message: string, readonly bindFailure: boolean) { super(message) }
}

const BIND_FAILURE = /Address already in use|EADDRINUSE|failed to bind|bind.*\(98\)|unable to bind/i

/**
 * Runs a command that daemonizes (ceph-mon, ceph-osd, radosgw): its output goes to a launch log,
 * and we wait for the launcher process itself to exit, not for its pipes (the forked daemon
 * would hold them open).
 */
async function launch (dir: string, cmd: string, args: string[], timeoutMs: number): Promise<void> {
  const logFile = join(dir, 'log', 'launch.log')
  const fd = openSync(logFile, 'a')
  try {
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] })
    const code = await new Promise<number | string>((resolve) => {
      const done = (c: number | string): void => { clearTimeout(timer); clearInterval(watch); resolve(c) }
      const timer = setTimeout(() => { child.kill('SIGKILL'); done('timeout') }, timeoutMs)
      // ceph-mon retries a taken port for 10 s before it gives up: give up at the first complaint
      const watch = setInterval(() => {
        readFile(logFile, 'utf8').then((text) => {
          if (BIND_FAILURE.test(text)) { child.kill('SIGKILL'); done('port taken') }
        }, () => {})
      }, 100)
      child.once('error', (e) => { done(e.message) })
      child.once('exit', (c, sig) => { done(c ?? String(sig)) })
    })
    if (code !== 0) {
      const text = await readFile(logFile, 'utf8').catch(() => '')
      throw new StartError(`${cmd} ${args.join(' ')} failed: ${code}`, BIND_FAILURE.test(text))
    }
  } finally {
    closeSync(fd)
  }
}

async function run (cmd: string, args: string[], timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 })
    return stdout
  } catch (e) {
    const err = e as { stderr?: string, message?: string, killed?: boolean }
    const why = err.killed === true ? `timed out after ${timeoutMs} ms` : (err.message ?? String(e))
    throw new StartError(`${cmd} ${args.join(' ')}: ${why}\n${(err.stderr ?? '').slice(-2000)}`, BIND_FAILURE.test(err.stderr ?? ''))
  }
}

async function httpStatus (url: string, timeoutMs: number): Promise<number> {
  return await new Promise((resolve) => {
    const req = request(url, { timeout: timeoutMs }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.once('timeout', () => { req.destroy(); resolve(0) })
    req.once('error', () => resolve(0))
    req.end()
  })
}

async function logTailOf (dir: string, lines = 20): Promise<string> {
  const out: string[] = []
  let names: string[] = []
  try { names = (await readdir(join(dir, 'log'))).sort() } catch {}
  for (const n of names) {
    // read only the end: Ceph logs grow quickly
    const fh = await open(join(dir, 'log', n), 'r').catch(() => undefined)
    if (fh === undefined) continue
    try {
      const { size } = await fh.stat()
      const len = Math.min(size, 64 * 1024)
      const buf = Buffer.alloc(len)
      await fh.read(buf, 0, len, size - len)
      const tail = buf.toString('utf8').split('\n').filter(l => l !== '').slice(-lines)
      out.push(`--- ${n} (last ${tail.length} lines)`, ...tail)
    } finally {
      await fh.close()
    }
  }
  return out.join('\n')
}

/** true when a Ceph log says a port was taken (the log files are small at start-up) */
async function bindFailureLogged (dir: string): Promise<boolean> {
  let names: string[] = []
  try { names = await readdir(join(dir, 'log')) } catch { return false }
  for (const n of names) {
    const text = await readFile(join(dir, 'log', n), 'utf8').catch(() => '')
    if (BIND_FAILURE.test(text) || text.includes('failed initializing frontend')) return true
  }
  return false
}

async function killAll (dir: string): Promise<void> {
  const pids = clusterPidsSync(dir)
  // SIGKILL at once: a memstore cluster has nothing to flush, and the OSD takes ~3 s to honour
  // SIGTERM, which every test file using RGW would pay
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} }
  const killDeadline = Date.now() + 5000
  while (pids.some(alive) && Date.now() < killDeadline) await sleep(50)
  const left = pids.filter(alive)
  if (left.length > 0) throw new Error(`ceph daemons ${left.join(', ')} did not exit after SIGKILL`)
}

const keyChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
function randomKey (len: number, chars: string): string {
  const bytes = randomBytes(len)
  let s = ''
  for (const b of bytes) s += chars[b % chars.length]
  return s
}

async function startOnce (opts: Required<RgwOptions>, t0: number): Promise<Rgw> {
  const dir = await mkdtemp(join(tmpdir(), 'lk-rgw-'))
  live.add(dir)
  installExitHook()
  const deadline = Date.now() + opts.timeoutMs
  const left = (): number => {
    const ms = deadline - Date.now()
    if (ms <= 0) throw new StartError(`RGW did not become ready within ${opts.timeoutMs} ms`, false)
    return ms
  }
  try {
    for (const sub of ['run', 'log', 'mon', 'osd/ceph-0']) await mkdir(join(dir, sub), { recursive: true })
    const monPort = await opts.pickPort([])
    const rgwPort = await opts.pickPort([monPort])
    const fsid = randomUUID()
    const conf = join(dir, 'ceph.conf')
    await writeFile(conf, cephConf(dir, monPort, rgwPort, fsid, opts.memstoreBytes))
    const c = ['-c', conf]

    await run('monmaptool', [...c, '--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, join(dir, 'monmap')], left())
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')], left())
    await launch(dir, 'ceph-mon', [...c, '-i', 'a'], left())
    const osdUuid = randomUUID()
    await run('ceph', [...c, '--connect-timeout', String(Math.ceil(left() / 1000)), 'osd', 'new', osdUuid], left())
    await run('ceph-osd', [...c, '-i', '0', '--mkfs', '--osd-uuid', osdUuid], left())
    await launch(dir, 'ceph-osd', [...c, '-i', '0'], left())
    await launch(dir, 'radosgw', [...c, '-n', 'client.rgw'], left())

    const endpoint = `http://127.0.0.1:${rgwPort}`
    const pollStart = Date.now()
    for (;;) {
      const status = await httpStatus(endpoint + '/', Math.min(1000, left()))
      if (status === 200) break
      // fail fast when a daemon died (a lost port race shows as a bind error in its log);
      // radosgw writes its pid file only once its frontend runs, so read its log too
      if (await bindFailureLogged(dir)) throw new StartError('a ceph daemon could not bind its port', true)
      const pids = readPidsSync(dir)
      // generous: on a loaded machine radosgw may take a while to create its pools
      const missingPidFile = pids.length < 3 && Date.now() - pollStart > 20_000
      if (missingPidFile || !pids.every(alive)) {
        await sleep(200) // let the dying daemon finish its log
        const tail = await logTailOf(dir, 200)
        throw new StartError(missingPidFile ? 'a ceph daemon wrote no pid file' : 'a ceph daemon exited before RGW was ready', BIND_FAILURE.test(tail))
      }
      left()
      await sleep(50)
    }

    const accessKeyId = randomKey(20, keyChars)
    const secretAccessKey = randomKey(40, keyChars + 'abcdefghijklmnopqrstuvwxyz')
    await run('radosgw-admin', [...c, '-n', 'client.rgw', 'user', 'create', '--uid=lk-test', '--display-name=lk-mount tests',
      `--access-key=${accessKeyId}`, `--secret-key=${secretAccessKey}`], left())

    const client = makeS3Client({ endpoint, accessKeyId, secretAccessKey })
    let stopped: Promise<void> | undefined
    return {
      endpoint,
      accessKeyId,
      secretAccessKey,
      region: 'us-east-1',
      dir,
      startMs: Date.now() - t0,
      client,
      async createBucket (name: string): Promise<void> {
        await client.send(new CreateBucketCommand({ Bucket: name }))
      },
      logTail: async (lines?: number) => await logTailOf(dir, lines),
      async stop (): Promise<void> {
        stopped ??= (async () => {
          client.destroy()
          await killAll(dir)
          await rm(dir, { recursive: true, force: true })
          live.delete(dir)
        })()
        await stopped
      },
    }
  } catch (e) {
    const tail = await logTailOf(dir, 30)
    await killAll(dir).catch(() => {})
    await rm(dir, { recursive: true, force: true }).catch(() => {})
    live.delete(dir)
    const bind = (e instanceof StartError && e.bindFailure) || await bindFailureLogged(dir)
    const err = new StartError(`${(e as Error).message} (cluster dir ${dir}, removed)\n${tail}`, bind)
    throw err
  }
}

/** Starts a fresh single-node RGW with one S3 user. See the file comment for the contract. */
export async function startRgw (opts: RgwOptions = {}): Promise<Rgw> {
  const o: Required<RgwOptions> = {
    memstoreBytes: opts.memstoreBytes ?? 2 * 1024 ** 3,
    timeoutMs: opts.timeoutMs ?? 60_000,
    attempts: opts.attempts ?? 3,
    pickPort: opts.pickPort ?? freePort,
  }
  for (const tool of ['ceph-mon', 'ceph-osd', 'radosgw', 'monmaptool', 'radosgw-admin', 'ceph']) {
    if (!['/usr/bin', '/usr/sbin', '/usr/local/bin'].some(d => existsSync(join(d, tool)))) {
      throw new Error(`${tool} is not installed: run scripts/setup.sh --test (installs radosgw ceph-mon ceph-osd)`)
    }
  }
  const t0 = Date.now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(o, t0)
    } catch (e) {
      if (!(e instanceof StartError && e.bindFailure) || attempt >= o.attempts) {
        throw new Error(`startRgw failed (attempt ${attempt} of ${o.attempts}): ${(e as Error).message}`)
      }
    }
  }
}

/** true when the Ceph RGW packages are installed (tests may skip with a reason otherwise) */
export function rgwAvailable (): boolean {
  return ['ceph-mon', 'ceph-osd', 'radosgw'].every(t => existsSync(join('/usr/bin', t)))
}
