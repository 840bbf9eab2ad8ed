// Data-path GETs (range reads of object bytes) over node:http(s) with keep-alive agents.
//
// Why not fetch: on this machine undici's fetch delivered 35-85 MiB/s for one 8 MiB range from
// RGW while node:http on the same presigned URL gave up to twice that (bench/probe-read.ts), and a
// cold small-file read is one such GET per file, so its per-request cost is the reader's latency.
// Only plain GETs whose whole body is wanted go here; everything else stays on fetch.
//
// Contract (what LakefsRemote's retry loop relies on): resolves with the status, the headers and
// the whole body; rejects with an error named 'TimeoutError' when the request and its body did not
// finish within `timeoutMs` (a stalled server never hangs a reader), and with a network error
// carrying its `code` (ECONNRESET, ECONNREFUSED, ...) when the connection fails or is cut before
// the declared body arrived. Never logs, so a presigned URL's signature goes nowhere.

import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'

export interface GetReply { status: number, headers: Headers, buf: Buffer }

/** sockets kept per host: enough for read-ahead, prefetch and a DataLoader's workers together */
const MAX_SOCKETS = 64

function timeoutError (ms: number): Error {
  const e = new Error(`no complete answer within ${ms} ms`)
  e.name = 'TimeoutError'
  return e
}

function cutError (): Error {
  return Object.assign(new Error('the connection closed before the whole body arrived'), { code: 'ECONNRESET' })
}

/** one GET's settling: the first of fail/finish wins, and either stops the deadline */
interface Exchange {
  readonly settled: boolean
  fail: (e: Error) => void
  finish: (reply: GetReply) => void
}

function headersOf (res: IncomingMessage): Headers {
  const h = new Headers()
  for (const [k, v] of Object.entries(res.headers)) {
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) h.append(k, x); else h.set(k, v)
  }
  return h
}

export class DataGetter {
  readonly #http = new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: MAX_SOCKETS, scheduling: 'lifo' })
  readonly #https = new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: MAX_SOCKETS, scheduling: 'lifo' })

  async get (url: string, headers: Record<string, string>, timeoutMs: number): Promise<GetReply> {
    return await this.#exchange(url, headers, timeoutMs, (res, x) => {
      const declared = Number(res.headers['content-length'] ?? NaN)
      const known = Number.isSafeInteger(declared) && declared >= 0 && declared <= 2 ** 31
      const out = known ? Buffer.allocUnsafe(declared) : undefined
      const parts: Buffer[] = []
      let n = 0
      res.on('data', (d: Buffer) => {
        if (out !== undefined && n + d.length <= out.length) d.copy(out, n); else parts.push(d)
        n += d.length
      })
      res.on('end', () => {
        if (x.settled) return
        if (!res.complete || (known && n < declared)) { x.fail(cutError()); return }
        const buf = out === undefined ? Buffer.concat(parts) : parts.length === 0 ? out.subarray(0, n) : Buffer.concat([out.subarray(0, n - parts.reduce((s, p) => s + p.length, 0)), ...parts])
        x.finish({ status: res.statusCode ?? 0, headers: headersOf(res), buf })
      })
    })
  }

  /**
   * A GET whose 206 body is handed over in parts of `partSize` bytes as they arrive (`total`
   * bytes expected). Any other status resolves with its whole body for the caller to judge, and
   * nothing is handed over. Same deadline and errors as `get`; a body shorter or longer than
   * `total` is a cut connection.
   */
  async getParts (url: string, headers: Record<string, string>, timeoutMs: number, total: number, partSize: number, onPart: (index: number, part: Buffer) => void): Promise<GetReply> {
    return await this.#exchange(url, headers, timeoutMs, (res, x) => {
      const h = headersOf(res)
      const status = res.statusCode ?? 0
      const streamed = status === 206
      const parts: Buffer[] = []
      let index = 0
      let part = streamed ? Buffer.allocUnsafe(Math.min(partSize, total)) : Buffer.alloc(0)
      let inPart = 0
      let n = 0
      res.on('data', (d: Buffer) => {
        if (x.settled) return
        if (!streamed) { parts.push(d); return }
        if (n + d.length > total) { x.fail(cutError()); return }
        n += d.length
        let off = 0
        while (off < d.length) {
          const k = d.copy(part, inPart, off)
          off += k
          inPart += k
          if (inPart === part.length) {
            const full = part
            const at = index++
            const left = total - (at + 1) * partSize
            part = Buffer.allocUnsafe(Math.max(0, Math.min(partSize, left)))
            inPart = 0
            try { onPart(at, full) } catch (e) { x.fail(e as Error); return }
          }
        }
      })
      res.on('end', () => {
        if (x.settled) return
        if (!res.complete || (streamed && n !== total)) { x.fail(cutError()); return }
        x.finish({ status, headers: h, buf: Buffer.concat(parts) })
      })
    })
  }

  /**
   * One GET under one deadline covering connecting, the headers and the whole body: the request,
   * the timer, and the errors and early close that fail it; `onResponse` reads the body and
   * finishes (or fails) the exchange.
   */
  async #exchange (url: string, headers: Record<string, string>, timeoutMs: number, onResponse: (res: IncomingMessage, x: Exchange) => void): Promise<GetReply> {
    const u = new URL(url)
    const secure = u.protocol === 'https:'
    if (!secure && u.protocol !== 'http:') throw new Error(`unsupported protocol ${u.protocol}`)
    return await new Promise<GetReply>((resolve, reject) => {
      let settled = false
      const x: Exchange = {
        get settled () { return settled },
        fail: (e) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          req.destroy()
          reject(e)
        },
        finish: (reply) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resolve(reply)
        },
      }
      const req = (secure ? httpsRequest : httpRequest)(u, { method: 'GET', headers, agent: secure ? this.#https : this.#http }, (res: IncomingMessage) => {
        res.on('error', (e: Error) => { x.fail(e) })
        onResponse(res, x)
        res.on('close', () => { if (!settled) x.fail(cutError()) })
      })
      const timer = setTimeout(() => { x.fail(timeoutError(timeoutMs)) }, timeoutMs)
      req.on('error', (e: Error) => { x.fail(e) })
      req.end()
    })
  }

  /** closes idle keep-alive sockets (requests in flight fail) */
  close (): void {
    this.#http.destroy()
    this.#https.destroy()
  }
}
