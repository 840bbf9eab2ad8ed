// Pre-upload: while a write mount is live, files that were closed are uploaded in the background
// to staging locations of the branch's storage (Remote.preUpload), so that the commit on unmount
// only links them instead of uploading everything then.
//
// What it owns: per staged data file (the journal's data/<name>), the last upload and the
// version of the data file it read. The session calls `changed(name)` before and after every
// change to a data file's bytes (write, truncate: an upload that read while the change was in
// flight sees the second bump); an upload whose version is no longer the file's current one is
// never handed out. Data file names are never reused (lib/staging allocates random
// names), so a renamed file keeps its upload and a deleted one simply never asks for it.
//
// What it must never do: be the authority. The journal's data file stays the truth until the
// commit lands; an upload is only a hint to commitChanges, which uploads the data file again
// when the hint is missing, stale, or cannot be linked. Nothing here is persisted: after a
// restart the commit uploads everything as before. Uploads never linked (the file changed again
// or was deleted) are left to the storage's own cleanup of unlinked staging objects.

import { readFile } from 'node:fs/promises'
import type { BranchName, ObjectPath, RepoName } from '../core/ids.js'
import type { Logger } from '../core/log.js'
import type { PreUploaded, Remote } from '../remote/types.js'

export interface PreUploaderOptions {
  remote: Remote
  repo: RepoName
  /** the branch whose staging locations to use (the mount's; it may follow another after a commit) */
  branch: () => BranchName
  log: Logger
  /** uploads in flight at once (default 8) */
  concurrency?: number
  /** larger files are left to the commit (the upload reads the whole file into memory; default 8 MiB) */
  maxBytes?: number
  /**
   * uploads per data file at most (default 2): a file closed and changed again and again (a log
   * appended to) is left to the commit instead of leaving an unlinked upload behind each time
   */
  maxUploadsPerFile?: number
}

interface Slot {
  /** bumped before every change to the data file's bytes */
  version: number
  /** the latest request: upload this file (queued until a worker takes it) */
  want?: { file: string, path: ObjectPath, size: number }
  queued: boolean
  /** the upload in flight, if any */
  running?: Promise<void>
  /** asked again while an upload ran: queue again when it ends */
  again?: boolean
  /** resolves when the slot is neither queued nor running (for take) */
  idle?: { promise: Promise<void>, resolve: () => void }
  /** the last finished upload and the version it read */
  result?: { version: number, up: PreUploaded }
  /** uploads started for this data file */
  uploads: number
}

export class PreUploader {
  readonly #o: PreUploaderOptions
  readonly #limit: number
  readonly #maxBytes: number
  readonly #maxUploads: number
  readonly #slots = new Map<string, Slot>()
  #queue: string[] = []
  #running = 0
  #closed = false
  /** the remote answered that it has no staging locations: stop reading files for nothing */
  #unsupported = false
  /** counters for tests and logs */
  readonly stats = { uploaded: 0, failed: 0, stale: 0, used: 0 }

  constructor (o: PreUploaderOptions) {
    this.#o = o
    this.#limit = Math.max(1, o.concurrency ?? 8)
    this.#maxBytes = o.maxBytes ?? 8 * 1024 * 1024
    this.#maxUploads = o.maxUploadsPerFile ?? 2
  }

  #slot (name: string): Slot {
    let s = this.#slots.get(name)
    if (s === undefined) { s = { version: 0, queued: false, uploads: 0 }; this.#slots.set(name, s) }
    return s
  }

  /** the data file's bytes are about to change: any upload of it so far is stale */
  changed (name: string): void {
    const s = this.#slots.get(name)
    if (s === undefined) return
    s.version++
    s.result = undefined
  }

  /** the data file was made durable with `size` bytes (close, fsync): upload it in the background */
  schedule (name: string, file: string, path: ObjectPath, size: number): void {
    if (this.#closed || this.#unsupported || size > this.#maxBytes) return
    const s = this.#slot(name)
    s.want = { file, path, size }
    if (s.result?.version === s.version && s.result.up.size === size) return
    if (s.uploads >= this.#maxUploads) return
    this.#enqueue(name, s)
    this.#pump()
  }

  #enqueue (name: string, s: Slot): void {
    if (s.running !== undefined) { s.again = true; return }
    if (s.queued) return
    s.queued = true
    this.#queue.push(name)
  }

  #settle (s: Slot): void {
    if (s.queued || s.running !== undefined) return
    const idle = s.idle
    s.idle = undefined
    idle?.resolve()
  }

  #pump (): void {
    while (this.#running < this.#limit && this.#queue.length > 0 && !this.#closed) {
      const name = this.#queue.shift() as string
      const s = this.#slots.get(name)
      if (s === undefined) continue
      s.queued = false
      const want = s.want
      if (want === undefined || (s.result?.version === s.version && s.result.up.size === want.size)) { this.#settle(s); continue }
      if (s.uploads >= this.#maxUploads) { this.#settle(s); continue }
      s.uploads++
      this.#running++
      const run: Promise<void> = this.#upload(s, want).finally(() => {
        this.#running--
        s.running = undefined
        if (s.again === true && !this.#closed) { s.again = false; this.#enqueue(name, s) }
        this.#settle(s)
        this.#pump()
      })
      s.running = run
    }
  }

  async #upload (s: Slot, want: NonNullable<Slot['want']>): Promise<void> {
    const version = s.version
    try {
      const data = await readFile(want.file)
      // read while the file was being changed again: a later close asks again
      if (s.version !== version || data.length !== want.size) { this.stats.stale++; return }
      const preUpload = this.#o.remote.preUpload
      if (preUpload === undefined) return
      const up = await preUpload.call(this.#o.remote, this.#o.repo, this.#o.branch(), want.path, data)
      if (up === undefined) {
        if (!this.#unsupported) this.#o.log.info('pre-upload: the remote hands out no staging locations; the commit uploads everything')
        this.#unsupported = true
        return
      }
      if (s.version !== version) { this.stats.stale++; return }
      s.result = { version, up }
      this.stats.uploaded++
    } catch (e) {
      // only a hint: the commit uploads the file itself
      this.stats.failed++
      this.#o.log.debug('pre-upload failed; the commit will upload the file', { path: want.path, err: e })
    }
  }

  /**
   * The upload of a data file, when one of its current bytes exists (waits for a queued or
   * running upload of it). `size` is the staged size; anything else is not handed out.
   */
  async take (name: string, size: number): Promise<PreUploaded | undefined> {
    const s = this.#slots.get(name)
    if (s === undefined) return undefined
    if (s.running !== undefined || s.queued) {
      if (s.idle === undefined) {
        let resolve = (): void => {}
        const promise = new Promise<void>(r => { resolve = r })
        s.idle = { promise, resolve }
      }
      await s.idle.promise
      if (this.#closed) return undefined
    }
    const r = s.result
    if (r === undefined || r.version !== s.version || r.up.size !== size) return undefined
    this.stats.used++
    return r.up
  }

  /** the data files were committed (their uploads are linked): forget them */
  forget (names: Iterable<string>): void {
    for (const n of names) {
      const s = this.#slots.get(n)
      if (s !== undefined && s.running === undefined && !s.queued) this.#slots.delete(n)
    }
  }

  /** every staged change was discarded: forget everything not in flight */
  forgetAll (): void { this.forget([...this.#slots.keys()]) }

  /** waits until nothing is queued or running */
  async drain (): Promise<void> {
    while (this.#queue.length > 0 || this.#running > 0) {
      const running = [...this.#slots.values()].flatMap(s => s.running === undefined ? [] : [s.running])
      if (running.length === 0) await new Promise<void>(resolve => setImmediate(resolve))
      else await Promise.race(running)
    }
  }

  /** stops taking work and waits for the uploads in flight */
  async close (): Promise<void> {
    this.#closed = true
    this.#queue = []
    for (const s of this.#slots.values()) { s.queued = false; s.again = false; if (s.running === undefined) this.#settle(s) }
    await Promise.all([...this.#slots.values()].map(async s => { await s.running }))
  }
}
