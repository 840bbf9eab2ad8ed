// The daemon's side of the control socket.
//
// Each connection must open with `hello`; a protocol mismatch is answered with LK_DAEMON_VERSION
// and the connection is closed. Requests are dispatched to the handler registered for the method
// after the method's validator has turned the params into typed values. A handler that throws
// produces an error response — never a dead daemon. Closing a connection aborts the requests it
// had in flight (their AbortSignal fires); their results are dropped.
//
// Listening: the socket's directory is created 0700 and the socket made 0600 (umask during
// bind, chmod after) so only the owner can drive the daemon; with `mode: 0o660` and a `gid` the
// socket's group may drive it too (the system service's `socket.group`). A socket file nobody listens on
// (a crashed daemon) is replaced; one that answers means another daemon runs: LK_DAEMON_RUNNING.

import { mkdirSync, chmodSync, chownSync, lstatSync, unlinkSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { dirname } from 'node:path'
import { LkError, toLkError } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import { silentLogger } from '../core/log.js'
import { protocolError } from './check.js'
import { checkSocketPath } from './paths.js'
import { MAX_CHUNK_BYTES, encodeChunk } from './messages/chunk.js'
import { isHelloMessage, parseClientHello, type ServerHello } from './messages/hello.js'
import type { ProgressEvent } from './messages/progress.js'
import { parseRequest, requestIdOf } from './messages/request.js'
import { toWireError } from './messages/response.js'
import { METHODS, isMethodName, type MethodName, type ParamsOf, type ResultOf } from './methods/index.js'
import { LineReader, MAX_REQUEST_LINE, sendLine } from './wire.js'
import { PACKAGE_VERSION, PROTOCOL_VERSION } from './version.js'

export interface HandlerContext {
  /** fires when the client disconnects or the server closes */
  readonly signal: AbortSignal
  /** advisory progress; rate-limited to one event per PROGRESS_INTERVAL_MS (the last one is kept) */
  progress (ev: ProgressEvent): void
  /** sends binary data in protocol-sized chunks; resolves when the socket took it (back-pressure) */
  chunk (data: Buffer): Promise<void>
  readonly log: Logger
}

export type Handler<M extends MethodName> = (params: ParamsOf<M>, ctx: HandlerContext) => Promise<ResultOf<M>>

export interface ControlServerOptions {
  socketPath: string
  log?: Logger
  /** overridable for tests of the handshake */
  protocol?: number
  version?: string
  pid?: number
  /** socket permission bits: 0o600 (default, owner only) or 0o660 (owner and `gid`) */
  mode?: number
  /** group owning the socket (and its directory, when the daemon owns that) for mode 0o660 */
  gid?: number
}

export const PROGRESS_INTERVAL_MS = 100

/** directories other programs share: the daemon never changes their owner or mode */
const SHARED_DIRS = new Set(['/', '/run', '/var/run', '/tmp', '/var/tmp', '/dev/shm', '/var/lib'])

export class ControlServer {
  readonly #opts: Required<Omit<ControlServerOptions, 'log' | 'mode' | 'gid'>>
  readonly #mode: number
  readonly #gid: number | undefined
  readonly #log: Logger
  readonly #handlers = new Map<string, Handler<MethodName>>()
  readonly #sockets = new Set<Socket>()
  #server: Server | undefined

  constructor (opts: ControlServerOptions) {
    this.#opts = {
      socketPath: opts.socketPath,
      protocol: opts.protocol ?? PROTOCOL_VERSION,
      version: opts.version ?? PACKAGE_VERSION,
      pid: opts.pid ?? process.pid,
    }
    this.#log = opts.log ?? silentLogger
    this.#mode = opts.mode ?? 0o600
    this.#gid = opts.gid
  }

  get socketPath (): string { return this.#opts.socketPath }

  handle<M extends MethodName> (name: M, handler: Handler<M>): this {
    this.#handlers.set(name, handler as unknown as Handler<MethodName>)
    return this
  }

  async listen (): Promise<void> {
    const path = this.#opts.socketPath
    checkSocketPath(path)
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    try {
      await this.#bind()
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw toLkError(e)
      await this.#replaceStale()
      await this.#bind()
    }
    if (this.#gid !== undefined) {
      // a group may use the socket: it must also be able to reach it, so the socket's own
      // directory (never a shared one like /run or /tmp) becomes root:group 0750
      const dir = dirname(path)
      const st = lstatSync(dir)
      if (!SHARED_DIRS.has(dir) && st.isDirectory() && st.uid === process.getuid?.()) {
        chownSync(dir, -1, this.#gid)
        chmodSync(dir, 0o750)
      }
      chownSync(path, -1, this.#gid)
    }
    chmodSync(path, this.#mode)
  }

  async #replaceStale (): Promise<void> {
    const path = this.#opts.socketPath
    const st = lstatSync(path, { throwIfNoEntry: false })
    if (st !== undefined && !st.isSocket()) {
      throw new LkError('LK_USAGE', `${path} exists and is not a socket; remove it or set LK_MOUNT_SOCKET to another path`)
    }
    if (await probe(path)) {
      throw new LkError('LK_DAEMON_RUNNING', `a daemon already listens on ${path}`)
    }
    this.#log.warn('replacing a stale control socket', { socket: path })
    try { unlinkSync(path) } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e }
  }

  #bind (): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer(sock => { this.#accept(sock) })
      const old = process.umask(0o177)
      const fail = (e: Error): void => { process.umask(old); reject(e) }
      server.once('error', fail)
      server.listen(this.#opts.socketPath, () => {
        process.umask(old)
        server.off('error', fail)
        server.on('error', e => { this.#log.error('control socket error', { err: e }) })
        this.#server = server
        resolve()
      })
    })
  }

  /** stops accepting, aborts in-flight requests, closes every connection, removes the socket */
  async close (): Promise<void> {
    const server = this.#server
    this.#server = undefined
    for (const s of this.#sockets) s.destroy()
    if (server !== undefined) await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  }

  #accept (sock: Socket): void {
    this.#sockets.add(sock)
    const inflight = new Map<number, AbortController>()
    let greeted = false
    const reader = new LineReader(MAX_REQUEST_LINE, {
      line: (text) => {
        let msg: unknown
        try {
          msg = JSON.parse(text)
        } catch {
          void sendLine(sock, { id: null, error: toWireError(protocolError('a line that is not JSON')) })
          return
        }
        if (!greeted) {
          greeted = this.#greet(sock, msg)
          return
        }
        this.#dispatch(sock, msg, inflight)
      },
      overflow: () => {
        void sendLine(sock, { id: null, error: toWireError(protocolError(`a line longer than ${MAX_REQUEST_LINE} bytes`)) }).then(() => sock.end())
      },
    })
    sock.on('data', d => { reader.push(d) })
    sock.on('error', () => { /* a client that went away: its requests are aborted on close */ })
    sock.on('close', () => {
      reader.stop()
      this.#sockets.delete(sock)
      for (const ac of inflight.values()) ac.abort(new LkError('LK_DAEMON_UNAVAILABLE', 'client disconnected'))
      inflight.clear()
    })
  }

  /** answers the hello; returns false (and closes) when the client cannot talk to us */
  #greet (sock: Socket, msg: unknown): boolean {
    const hello: ServerHello = { hello: { protocol: this.#opts.protocol, version: this.#opts.version, pid: this.#opts.pid } }
    try {
      if (!isHelloMessage(msg)) throw protocolError('the first message must be hello')
      const client = parseClientHello(msg)
      if (client.hello.protocol !== this.#opts.protocol) {
        throw new LkError('LK_DAEMON_VERSION', `the daemon (lk-mount ${this.#opts.version}) speaks control protocol ${this.#opts.protocol}, the client (lk-mount ${client.hello.version}) speaks ${client.hello.protocol}`)
      }
    } catch (e) {
      void sendLine(sock, { ...hello, error: toWireError(e) }).then(() => sock.end())
      return false
    }
    void sendLine(sock, hello)
    return true
  }

  #dispatch (sock: Socket, msg: unknown, inflight: Map<number, AbortController>): void {
    let id: number | null = requestIdOf(msg)
    let ac: AbortController | undefined
    let pending: ProgressEvent | undefined
    let timer: NodeJS.Timeout | undefined
    let lastSent = 0
    const flushProgress = (): void => {
      if (timer !== undefined) { clearTimeout(timer); timer = undefined }
      if (pending !== undefined && id !== null) {
        void sendLine(sock, { id, progress: pending })
        lastSent = Date.now()
        pending = undefined
      }
    }
    const run = async (): Promise<unknown> => {
      const req = parseRequest(msg)
      id = req.id
      if (inflight.has(id)) throw protocolError(`request id ${id} is already in flight`)
      if (!isMethodName(req.method)) throw new LkError('LK_USAGE', `unknown method ${JSON.stringify(req.method)}`)
      const handler = this.#handlers.get(req.method)
      if (handler === undefined) throw new LkError('LK_USAGE', `this daemon does not serve ${req.method}`)
      const params = METHODS[req.method].parse(req.params) as ParamsOf<MethodName>
      ac = new AbortController()
      inflight.set(id, ac)
      const reqId = id
      const log = this.#log.child({ req: reqId, method: req.method })
      const ctx: HandlerContext = {
        signal: ac.signal,
        log,
        progress: (ev) => {
          pending = ev
          const wait = PROGRESS_INTERVAL_MS - (Date.now() - lastSent)
          if (wait <= 0) flushProgress()
          else if (timer === undefined) timer = setTimeout(flushProgress, wait)
        },
        chunk: async (data) => {
          for (let off = 0; off < data.length; off += MAX_CHUNK_BYTES) {
            if (sock.destroyed) throw new LkError('LK_DAEMON_UNAVAILABLE', 'client disconnected')
            await sendLine(sock, encodeChunk(reqId, data.subarray(off, off + MAX_CHUNK_BYTES)))
          }
        },
      }
      return await handler(params, ctx)
    }
    run().then(result => {
      flushProgress()
      return sendLine(sock, { id, result: result ?? null })
    }, (e: unknown) => {
      flushProgress()
      const lk = toLkError(e)
      if (lk.code === 'LK_INTERNAL') this.#log.error('request failed', { id, err: e, stack: e instanceof Error ? e.stack : undefined })
      return sendLine(sock, { id, error: toWireError(lk) })
    }).catch(e => { this.#log.error('could not answer a request', { id, err: e }) })
      .finally(() => { if (id !== null && ac !== undefined) inflight.delete(id) })
  }
}

/** true when something accepts connections on the socket path */
export function probe (path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise(resolve => {
    const s = createConnection(path)
    const done = (v: boolean): void => { clearTimeout(t); s.destroy(); resolve(v) }
    const t = setTimeout(() => { done(true) }, timeoutMs) // a listener that is slow to accept is still a listener
    s.once('connect', () => { done(true) })
    s.once('error', () => { done(false) })
  })
}
