// Framing: one JSON value per line ('\n'-terminated, UTF-8). JSON.stringify never emits a raw
// newline, so no escaping is needed. Lines are bounded: a peer that sends an endless line is cut
// off instead of growing our memory.

import type { Socket } from 'node:net'
import { StringDecoder } from 'node:string_decoder'

/** requests are small; responses (a large `ls`) may be big but not unbounded */
export const MAX_REQUEST_LINE = 1024 * 1024
export const MAX_RESPONSE_LINE = 256 * 1024 * 1024

export interface LineHandlers {
  line (text: string): void
  /** the peer sent a line longer than the limit; the reader stops */
  overflow (): void
}

/** Feeds socket data in, calls `line` per complete line. */
export class LineReader {
  readonly #max: number
  readonly #h: LineHandlers
  readonly #decoder = new StringDecoder('utf8')
  #buf = ''
  #dead = false

  constructor (max: number, h: LineHandlers) {
    this.#max = max
    this.#h = h
  }

  push (data: Buffer): void {
    if (this.#dead) return
    this.#buf += this.#decoder.write(data)
    let nl: number
    while ((nl = this.#buf.indexOf('\n')) !== -1) {
      const text = this.#buf.slice(0, nl)
      this.#buf = this.#buf.slice(nl + 1)
      if (text.length > this.#max) { this.#dead = true; this.#h.overflow(); return }
      if (text.trim() !== '') this.#h.line(text)
      if (this.#dead) return
    }
    if (this.#buf.length > this.#max) { this.#dead = true; this.#h.overflow() }
  }

  stop (): void { this.#dead = true }
}

/**
 * Writes one message per line and resolves when the socket accepted it without buffering past
 * its high-water mark, so producers that await `send` follow the peer's reading speed.
 */
export function sendLine (socket: Socket, msg: unknown): Promise<void> {
  if (socket.destroyed || !socket.writable) return Promise.resolve()
  const ok = socket.write(JSON.stringify(msg) + '\n')
  if (ok) return Promise.resolve()
  return new Promise(resolve => {
    const done = (): void => { socket.off('drain', done); socket.off('close', done); resolve() }
    socket.on('drain', done)
    socket.on('close', done)
  })
}
