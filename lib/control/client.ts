// The CLI's side of the control socket: connect (bounded), hello (bounded), then typed requests.
//
// Failure modes map to the catalogue so the CLI can print something useful:
// - nothing listens (no file, ECONNREFUSED) or the connect takes too long -> LK_DAEMON_UNAVAILABLE
// - the socket's permissions refuse this user (EACCES) -> LK_SOCKET_PERMISSION
// - the daemon answers hello with another protocol, or never answers it -> LK_DAEMON_VERSION
// - the connection drops with requests in flight -> LK_DAEMON_UNAVAILABLE for each of them
//
// Chunk callbacks run one at a time in arrival order; while one is pending the socket is paused,
// so a slow consumer (stdout into a pipe) slows the daemon instead of buffering the object here.

import { createConnection, type Socket } from 'node:net'
import { LkError } from '../core/errors.js'
import { isRecord } from './check.js'
import { checkSocketPath } from './paths.js'
import { isChunkMessage, parseChunk } from './messages/chunk.js'
import { parseServerHello, type ServerHello } from './messages/hello.js'
import { isProgressMessage, parseProgress, type ProgressEvent } from './messages/progress.js'
import { fromWireError, isResponseMessage, parseResponse } from './messages/response.js'
import type { MethodName, ResultOf, WireParamsOf } from './methods/index.js'
import { LineReader, MAX_RESPONSE_LINE, sendLine } from './wire.js'
import { PACKAGE_VERSION, PROTOCOL_VERSION } from './version.js'

export interface ConnectOptions {
  socketPath: string
  /** for connect and for the handshake, each; default 5 s */
  timeoutMs?: number
  /** overridable for tests of the handshake */
  protocol?: number
  version?: string
}

export interface RequestOptions {
  onProgress?: (ev: ProgressEvent) => void
  onChunk?: (data: Buffer) => void | Promise<void>
  /** no default: imports and commits may take as long as they take */
  timeoutMs?: number
}

interface Pending {
  resolve (v: unknown): void
  reject (e: unknown): void
  opts: RequestOptions
  /** chunk callbacks, serialised */
  chain: Promise<void>
  timer?: NodeJS.Timeout
}

export class ControlClient {
  readonly #sock: Socket
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #closed: LkError | undefined
  #busyChunks = 0
  readonly daemon: ServerHello['hello']
  readonly socketPath: string

  private constructor (sock: Socket, hello: ServerHello['hello'], socketPath: string, reader: LineReader) {
    this.#sock = sock
    this.daemon = hello
    this.socketPath = socketPath
    reader.stop() // the handshake reader hands over to ours
    const r = new LineReader(MAX_RESPONSE_LINE, {
      line: (text) => { this.#onLine(text) },
      overflow: () => { this.#fail(new LkError('LK_PROTOCOL', 'the daemon sent an over-long line')) },
    })
    sock.on('data', d => { r.push(d) })
    sock.on('close', () => { this.#fail(new LkError('LK_DAEMON_UNAVAILABLE', 'the daemon closed the connection')) })
    sock.on('error', (e) => { this.#fail(new LkError('LK_DAEMON_UNAVAILABLE', `control connection failed: ${e.message}`)) })
  }

  static async connect (opts: ConnectOptions): Promise<ControlClient> {
    const timeoutMs = opts.timeoutMs ?? 5000
    checkSocketPath(opts.socketPath)
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(opts.socketPath)
      const t = setTimeout(() => {
        s.destroy()
        reject(new LkError('LK_DAEMON_UNAVAILABLE', `no answer from the daemon socket ${opts.socketPath} within ${timeoutMs} ms`))
      }, timeoutMs)
      s.once('connect', () => { clearTimeout(t); resolve(s) })
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(t)
        // EACCES: a daemon may well run, but this user is not in the socket's group; starting
        // another daemon would not help, so this is not LK_DAEMON_UNAVAILABLE
        if (e.code === 'EACCES' || e.code === 'EPERM') reject(new LkError('LK_SOCKET_PERMISSION', `permission denied on the control socket ${opts.socketPath}`, { cause: e }))
        else reject(new LkError('LK_DAEMON_UNAVAILABLE', `no daemon answers on ${opts.socketPath} (${e.code ?? e.message})`, { cause: e }))
      })
    })
    // The handshake: read exactly one line, bounded in time and size.
    const first = await new Promise<{ hello: ServerHello, reader: LineReader, rest: Buffer[] }>((resolve, reject) => {
      let got: ServerHello | undefined
      const rest: Buffer[] = []
      const fail = (e: LkError): void => { cleanup(); sock.destroy(); reject(e) }
      const reader = new LineReader(64 * 1024, {
        line: (text) => {
          if (got !== undefined) return
          try {
            got = parseServerHello(JSON.parse(text))
          } catch {
            fail(new LkError('LK_DAEMON_VERSION', `the process on ${opts.socketPath} did not answer with an lk-mount hello`))
            return
          }
          cleanup()
          resolve({ hello: got, reader, rest })
        },
        overflow: () => { fail(new LkError('LK_DAEMON_VERSION', `the process on ${opts.socketPath} sent an over-long handshake`)) },
      })
      const onData = (d: Buffer): void => {
        if (got !== undefined) { rest.push(d); return }
        const nl = d.indexOf(0x0a)
        // keep what follows the hello line for the request reader
        if (nl !== -1 && nl + 1 < d.length) rest.push(d.subarray(nl + 1))
        reader.push(nl === -1 ? d : d.subarray(0, nl + 1))
      }
      const onClose = (): void => { fail(new LkError('LK_DAEMON_VERSION', `the daemon on ${opts.socketPath} closed the connection during the handshake`)) }
      const timer = setTimeout(() => {
        fail(new LkError('LK_DAEMON_VERSION', `the daemon on ${opts.socketPath} accepted the connection but did not answer the handshake within ${timeoutMs} ms (another lk-mount version, or a stuck daemon)`))
      }, timeoutMs)
      const cleanup = (): void => { clearTimeout(timer); sock.off('data', onData); sock.off('close', onClose) }
      sock.on('data', onData)
      sock.on('close', onClose)
      sock.on('error', () => { /* reported through close */ })
      void sendLine(sock, { hello: { protocol: opts.protocol ?? PROTOCOL_VERSION, version: opts.version ?? PACKAGE_VERSION } })
    })
    const h = first.hello
    if (h.error !== undefined) {
      sock.destroy()
      const e = fromWireError(h.error)
      throw e.code === 'LK_DAEMON_VERSION' ? e : new LkError('LK_DAEMON_VERSION', e.message)
    }
    const protocol = opts.protocol ?? PROTOCOL_VERSION
    if (h.hello.protocol !== protocol) {
      sock.destroy()
      throw new LkError('LK_DAEMON_VERSION', `the daemon (lk-mount ${h.hello.version}, pid ${h.hello.pid}) speaks control protocol ${h.hello.protocol}, this client speaks ${protocol}`)
    }
    const client = new ControlClient(sock, h.hello, opts.socketPath, first.reader)
    for (const b of first.rest) sock.unshift(b)
    return client
  }

  request<M extends MethodName> (method: M, params: WireParamsOf<M>, opts: RequestOptions = {}): Promise<ResultOf<M>> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed)
    const id = this.#nextId++
    return new Promise<ResultOf<M>>((resolve, reject) => {
      const p: Pending = { resolve: resolve as (v: unknown) => void, reject, opts, chain: Promise.resolve() }
      if (opts.timeoutMs !== undefined) {
        p.timer = setTimeout(() => {
          this.#pending.delete(id)
          reject(new LkError('LK_DAEMON_UNAVAILABLE', `the daemon did not answer ${method} within ${opts.timeoutMs} ms`))
        }, opts.timeoutMs)
      }
      this.#pending.set(id, p)
      void sendLine(this.#sock, { id, method, params })
    })
  }

  /** sends a raw line (tests of malformed input use this) */
  sendRaw (text: string): void {
    this.#sock.write(text.endsWith('\n') ? text : text + '\n')
  }

  /** errors addressed to no request (malformed lines) */
  onUnaddressedError: ((e: LkError) => void) | undefined

  close (): void {
    this.#sock.end()
    this.#sock.destroy()
  }

  #onLine (text: string): void {
    let msg: unknown
    try { msg = JSON.parse(text) } catch { this.#fail(new LkError('LK_PROTOCOL', 'the daemon sent a line that is not JSON')); return }
    if (!isRecord(msg)) return
    try {
      if (isChunkMessage(msg)) {
        const { id, data } = parseChunk(msg)
        const p = this.#pending.get(id)
        const cb = p?.opts.onChunk
        if (p === undefined || cb === undefined) return
        this.#busyChunks++
        if (this.#busyChunks > 4) this.#sock.pause()
        p.chain = p.chain.then(() => cb(data)).finally(() => {
          this.#busyChunks--
          if (this.#busyChunks <= 4) this.#sock.resume()
        })
        return
      }
      if (isProgressMessage(msg)) {
        const { id, progress } = parseProgress(msg)
        this.#pending.get(id)?.opts.onProgress?.(progress)
        return
      }
      if (isResponseMessage(msg)) {
        const r = parseResponse(msg)
        if (r.id === null) {
          if ('error' in r) this.onUnaddressedError?.(fromWireError(r.error))
          return
        }
        const p = this.#pending.get(r.id)
        if (p === undefined) return
        this.#pending.delete(r.id)
        if (p.timer !== undefined) clearTimeout(p.timer)
        // results settle after every chunk callback of the request has run
        p.chain.then(() => {
          if ('error' in r) p.reject(fromWireError(r.error))
          else p.resolve(r.result)
        }, (e: unknown) => { p.reject(e) })
      }
    } catch (e) {
      this.#fail(e instanceof LkError ? e : new LkError('LK_PROTOCOL', String(e)))
    }
  }

  #fail (e: LkError): void {
    if (this.#closed !== undefined) return
    this.#closed = e
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id)
      if (p.timer !== undefined) clearTimeout(p.timer)
      p.reject(e)
    }
    this.#sock.destroy()
  }
}
