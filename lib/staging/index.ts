// The staging journal: the durable record of one mount's changes against its pinned commit.
//
// What it owns: a state directory with
//   manifest.json        which journal segments are active, which are sealed (+ the sealed set's
//                        idempotency key and base commit); replaced atomically (tmp + rename)
//   journal/seg-N.jsonl  append-only records; each line is one atomic batch of path -> entry
//   data/<id>            contents of written files (the FS layer writes them; we only name,
//                        reference and garbage-collect them)
//
// The journal is a key/value log of *final states*: each record says "path now is this file /
// this base object with new metadata / deleted / an explicit directory / back to the base". It
// knows nothing about POSIX; lib/fs decides what to record. Replaying the records in order
// rebuilds the overlay exactly, so a process killed with SIGKILL loses nothing that was
// recorded (a record's promise resolves only after the line is fsynced).
//
// Layers: `sealed` (being committed) under `active` (writes that continue during a commit).
// `seal()` moves the active layer to sealed and switches writes to a fresh segment; the sealed
// segments are deleted only by `dropSealed()` after the commit succeeded, or merged back under
// the active layer by `unseal()` after a conflict. An unfinished sealed set is found again by
// `open()`.
//
// Concurrency: in-memory state changes synchronously in `record()`; every disk write (batched
// flushes and the structural operations seal/unseal/discard) runs on one promise chain, so
// segment switches never interleave with appends. Records made while a flush runs are batched
// into the next fsync (group commit).

import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readFile, readdir, rename, rm, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { LkError, errnoOf } from '../core/errors.js'
import type { CommitId } from '../core/ids.js'
import { silentLogger, type Logger } from '../core/log.js'
import type { Metadata, ObjectStat } from '../remote/types.js'

/** the final state of one path (relative to the mount root, no leading '/') */
export type StagedEntry =
  /** content in a staging data file (`origin`: checksum of the committed object it was copied from) */
  | { t: 'file', data: string, size: number, mtime: number, meta: Metadata, origin?: string }
  /** content of a base object (renamed, or metadata/mtime changed), with new metadata */
  | { t: 'ref', stat: ObjectStat, mtime: number, meta: Metadata }
  /** deleted (file, or a directory whose children are all deleted) */
  | { t: 'del' }
  /** an explicit directory (mkdir, or a directory kept after its last child went) */
  | { t: 'dir', mtime: number }

export interface SealedSet {
  /** UUID stamped into the commit metadata as lk-mount.idempotency-key */
  key: string
  base: CommitId
  createdAt: number
  entries: ReadonlyMap<string, StagedEntry>
}

interface Manifest {
  version: 1
  /** the commit the active layer's changes were made against (the mount's pin) */
  base?: CommitId | null
  active: string[]
  sealed: { segments: string[], key: string, base: CommitId, createdAt: number } | null
}

export class Journal {
  readonly dir: string
  #log: Logger
  #manifest: Manifest
  #active = new Map<string, StagedEntry>()
  #sealed: Map<string, StagedEntry> | undefined
  #sealedDataCache: Set<string> | undefined
  #fh: FileHandle | undefined
  #pending: string[] = []
  #flushScheduled: Promise<void> | undefined
  #io: Promise<void> = Promise.resolve()
  #closed = false
  /** preallocated empty data files (see allocData) */
  #pool: string[] = []
  #poolFill: Promise<void> | undefined
  /** data files a pool fill is creating: on disk before they are in #pool, never garbage */
  readonly #filling = new Set<string>()
  /** data files handed out by allocData and not recorded yet (the caller may still be opening them) */
  readonly #handedOut = new Set<string>()

  private constructor (dir: string, log: Logger, manifest: Manifest) {
    this.dir = dir
    this.#log = log
    this.#manifest = manifest
  }

  /** opens the state directory, replays the journal, and deletes segments no manifest names */
  static async open (opts: { dir: string, log?: Logger }): Promise<Journal> {
    const dir = opts.dir
    await mkdir(join(dir, 'journal'), { recursive: true })
    await mkdir(join(dir, 'data'), { recursive: true })
    await takeLock(dir)
    let manifest: Manifest
    try {
      manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw new LkError('LK_STORE_CORRUPT', `cannot read ${join(dir, 'manifest.json')}: ${(e as Error).message}`, { cause: e })
      manifest = { version: 1, active: [], sealed: null }
    }
    const j = new Journal(dir, opts.log ?? silentLogger, manifest)
    if (manifest.sealed !== null) {
      j.#sealed = new Map()
      for (const seg of manifest.sealed.segments) await j.#replay(seg, j.#sealed)
    }
    for (const seg of manifest.active) await j.#replay(seg, j.#active)
    // always start a fresh segment (the last one may end with a torn line), compacting the
    // active records into it so the journal does not grow across restarts
    await j.#compact(false)
    const named = new Set([...j.#manifest.active, ...(j.#manifest.sealed?.segments ?? [])])
    for (const f of await readdir(join(dir, 'journal'))) if (!named.has(f)) await rm(join(dir, 'journal', f), { force: true })
    return j
  }

  async #replay (seg: string, into: Map<string, StagedEntry>): Promise<void> {
    let text: string
    try { text = await readFile(join(this.dir, 'journal', seg), 'utf8') } catch (e) {
      if (errnoOf(e) === 'ENOENT') return
      throw e
    }
    const lines = text.split('\n')
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string
      if (line === '') continue
      let rec: Array<[string, StagedEntry | null]>
      try { rec = JSON.parse(line) as Array<[string, StagedEntry | null]> } catch {
        // only the last line can be torn (it was never acknowledged); anything else is damage
        if (lines.slice(i + 1).some(l => l !== '')) throw new LkError('LK_STORE_CORRUPT', `journal ${seg} line ${i + 1} is damaged`)
        this.#log.warn('journal: ignoring a torn last record', { segment: seg })
        continue
      }
      for (const [p, e] of rec) { if (e === null) into.delete(p); else into.set(p, e) }
    }
  }

  async #writeManifest (): Promise<void> {
    const tmp = join(this.dir, `manifest.json.${randomBytes(4).toString('hex')}`)
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(JSON.stringify(this.#manifest))
      await fh.sync()
    } finally { await fh.close() }
    await rename(tmp, join(this.dir, 'manifest.json'))
    await fsyncDir(this.dir)
  }

  /** the commit the staged changes were made against; null for a new state directory */
  get base (): CommitId | null { return this.#manifest.base ?? null }

  /** records the mount's pin (at first open, and after each commit re-pins) */
  async setBase (base: CommitId): Promise<void> {
    await this.#chain(async () => {
      this.#manifest = { ...this.#manifest, base }
      await this.#writeManifest()
    })
  }

  /** true when `name` is a data file of the sealed set: it must not change until the commit ends */
  isSealedData (name: string): boolean {
    if (this.#sealed === undefined) return false
    if (this.#sealedDataCache === undefined) {
      this.#sealedDataCache = new Set()
      for (const e of this.#sealed.values()) if (e.t === 'file') this.#sealedDataCache.add(e.data)
    }
    return this.#sealedDataCache.has(name)
  }

  /** the staged state of a path (active over sealed); undefined: the base decides */
  get (path: string): StagedEntry | undefined {
    return this.#active.get(path) ?? this.#sealed?.get(path)
  }

  /** every staged path with its effective entry (active over sealed) */
  * entries (): IterableIterator<[string, StagedEntry]> {
    if (this.#sealed !== undefined) {
      for (const [p, e] of this.#sealed) if (!this.#active.has(p)) yield [p, e]
    }
    yield * this.#active
  }

  get size (): number {
    if (this.#sealed === undefined) return this.#active.size
    let n = this.#active.size
    for (const p of this.#sealed.keys()) if (!this.#active.has(p)) n++
    return n
  }

  get sealed (): SealedSet | undefined {
    const s = this.#manifest.sealed
    if (s === null || this.#sealed === undefined) return undefined
    return { key: s.key, base: s.base, createdAt: s.createdAt, entries: this.#sealed }
  }

  dataPath (name: string): string { return join(this.dir, 'data', name) }

  /**
   * A new, empty data file whose directory entry is already durable. Files are created in
   * batches with one directory fsync per batch, so closing a small new file costs two fsyncs
   * (its data, then the journal) instead of three.
   */
  async allocData (): Promise<string> {
    for (;;) {
      const name = this.#pool.pop()
      if (name !== undefined) {
        this.#handedOut.add(name)
        return name
      }
      this.#poolFill ??= this.#fillPool().finally(() => { this.#poolFill = undefined })
      await this.#poolFill
    }
  }

  async #fillPool (): Promise<void> {
    const names = Array.from({ length: 32 }, () => randomBytes(12).toString('hex'))
    for (const n of names) this.#filling.add(n)
    try {
      await Promise.all(names.map(async n => { await (await open(this.dataPath(n), 'wx')).close() }))
      await fsyncDir(join(this.dir, 'data'))
      this.#pool.push(...names)
    } finally {
      for (const n of names) this.#filling.delete(n)
    }
  }

  /**
   * Records a batch of changes atomically: visible in memory at once, durable when the promise
   * resolves. `null` means "back to the base" (as if never staged); while a sealed set is
   * pending, a path the sealed set changed gets a tombstone instead, so it stays gone.
   *
   * `lazy`: visible in memory at once, but made durable only with the next record that is not
   * lazy (or flush, seal, close); the promise resolves at once. For records nobody was promised
   * durability of yet (a new file is durable once closed or fsynced, and its close records it
   * again): it saves the close of a new file one journal sync of its own.
   */
  record (ops: Array<[string, StagedEntry | null]>, opts: { lazy?: boolean } = {}): Promise<void> {
    if (this.#closed) return Promise.reject(new LkError('LK_INTERNAL', 'journal is closed'))
    const line: Array<[string, StagedEntry | null]> = []
    for (const [p, e] of ops) {
      let entry = e
      if (entry === null) {
        const s = this.#sealed?.get(p)
        if (s !== undefined && s.t !== 'del') entry = { t: 'del' }
      }
      if (entry === null) this.#active.delete(p); else this.#active.set(p, entry)
      if (entry?.t === 'file') this.#handedOut.delete(entry.data)
      line.push([p, entry])
    }
    this.#pending.push(JSON.stringify(line))
    if (opts.lazy === true) return Promise.resolve()
    if (this.#flushScheduled === undefined) {
      const p = this.#chain(async () => {
        this.#flushScheduled = undefined
        await this.#writeLines(this.#takePending())
      })
      this.#flushScheduled = p
    }
    return this.#flushScheduled
  }

  #takePending (): string[] {
    const lines = this.#pending
    this.#pending = []
    return lines
  }

  async #writeLines (lines: string[]): Promise<void> {
    if (lines.length === 0) return
    const fh = this.#fh
    if (fh === undefined) throw new LkError('LK_INTERNAL', 'journal is closed')
    await fh.write(lines.join('\n') + '\n')
    await fh.datasync()
  }

  #chain (fn: () => Promise<void>): Promise<void> {
    const p = this.#io.then(fn)
    // the chain itself must survive one failed step; the caller still sees the failure
    this.#io = p.catch((e: unknown) => { this.#log.error('journal write failed', { err: e }) })
    return p
  }

  /** waits until every record made so far is durable */
  async flush (): Promise<void> { await this.#chain(async () => { await this.#writeLines(this.#takePending()) }) }

  /**
   * Seals the active layer for a commit (writes continue into a fresh segment). The idempotency
   * key is generated here and made durable with the sealed set, before any remote call.
   */
  async seal (base: CommitId): Promise<SealedSet> {
    let out: SealedSet | undefined
    await this.#chain(async () => {
      if (this.#manifest.sealed !== null) throw new LkError('LK_INTERNAL', 'a sealed change set is already pending')
      const lines = this.#takePending()
      this.#sealed = this.#active
      this.#sealedDataCache = undefined
      this.#active = new Map()
      await this.#writeLines(lines)
      const seg = newSegmentName()
      const fh = await open(join(this.dir, 'journal', seg), 'a')
      const old = this.#fh
      this.#fh = fh
      await old?.close()
      this.#manifest = { ...this.#manifest, version: 1, active: [seg], sealed: { segments: this.#manifest.active, key: randomUUID(), base, createdAt: Date.now() } }
      await this.#writeManifest()
      const s = this.#manifest.sealed
      if (s === null) throw new LkError('LK_INTERNAL', 'unreachable')
      out = { key: s.key, base: s.base, createdAt: s.createdAt, entries: this.#sealed }
    })
    if (out === undefined) throw new LkError('LK_INTERNAL', 'seal produced nothing')
    return out
  }

  /** the sealed set was committed: forget it (its data files go at the next gc) */
  async dropSealed (): Promise<void> {
    await this.#chain(async () => {
      const s = this.#manifest.sealed
      if (s === null) return
      this.#sealed = undefined
      this.#sealedDataCache = undefined
      this.#manifest = { ...this.#manifest, sealed: null }
      await this.#writeManifest()
      for (const seg of s.segments) await rm(join(this.dir, 'journal', seg), { force: true })
    })
  }

  /** the commit failed for good (conflict): merge the sealed set back under the active layer */
  async unseal (): Promise<void> {
    await this.#chain(async () => { await this.#compact(true) })
  }

  /** drops every staged change (both layers) */
  async discard (): Promise<void> {
    await this.#chain(async () => {
      this.#takePending()
      this.#active = new Map()
      this.#sealed = undefined
      this.#sealedDataCache = undefined
      await this.#compact(true)
    })
  }

  /** rewrites the whole state as one fresh segment (optionally folding the sealed set in) */
  async #compact (foldSealed: boolean): Promise<void> {
    const s = this.#manifest.sealed
    this.#takePending()
    const merged = new Map<string, StagedEntry>()
    if (foldSealed && this.#sealed !== undefined) for (const [p, e] of this.#sealed) merged.set(p, e)
    for (const [p, e] of this.#active) merged.set(p, e)
    this.#active = merged
    if (foldSealed) this.#sealed = undefined
    const seg = newSegmentName()
    const fh = await open(join(this.dir, 'journal', seg), 'a')
    if (merged.size > 0) {
      // one line per 1000 entries keeps lines small; the manifest switch makes them atomic
      const all = [...merged]
      const lines: string[] = []
      for (let i = 0; i < all.length; i += 1000) lines.push(JSON.stringify(all.slice(i, i + 1000)))
      await fh.write(lines.join('\n') + '\n')
    }
    await fh.sync()
    const oldSegs = [...this.#manifest.active, ...(foldSealed ? (s?.segments ?? []) : [])]
    const old = this.#fh
    this.#fh = fh
    await old?.close()
    this.#manifest = { ...this.#manifest, version: 1, active: [seg], sealed: foldSealed ? null : this.#manifest.sealed }
    await this.#writeManifest()
    for (const f of oldSegs) await rm(join(this.dir, 'journal', f), { force: true })
  }

  /** deletes data files no staged entry (either layer) nor `live` (open files) references */
  async gcData (live: ReadonlySet<string>): Promise<number> {
    const names = await readdir(join(this.dir, 'data'))
    // what is in use is read after the directory: a file a pool fill created while readdir ran
    // is in #filling or #pool by now, a file taken from the pool since is handed out or recorded
    const used = new Set([...live, ...this.#pool, ...this.#filling, ...this.#handedOut])
    for (const [, e] of this.entries()) if (e.t === 'file') used.add(e.data)
    if (this.#sealed !== undefined) for (const e of this.#sealed.values()) if (e.t === 'file') used.add(e.data)
    const gone = names.filter(f => !used.has(f))
    // a commit of many small files leaves as many data files: unlink them 16 at a time (one at a
    // time cost ~1 ms each after a 1,000-file commit on unmount)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < gone.length) await unlink(join(this.dir, 'data', gone[next++] as string)).catch(() => {})
    }
    await Promise.all(Array.from({ length: Math.min(16, gone.length) }, worker))
    return gone.length
  }

  async close (): Promise<void> {
    if (this.#closed) return
    await this.flush()
    this.#closed = true
    await this.#chain(async () => {
      await this.#fh?.close()
      this.#fh = undefined
    })
    await rm(join(this.dir, 'lock'), { force: true })
  }
}

/**
 * One journal per state directory at a time: a `lock` file holds the owner's pid. A lock left by
 * a process that no longer exists (killed with SIGKILL) is taken over.
 */
async function takeLock (dir: string): Promise<void> {
  const file = join(dir, 'lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx')
      try { await fh.writeFile(String(process.pid)) } finally { await fh.close() }
      return
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw e
    }
    const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim())
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new LkError('LK_LOCKED', `the staged changes in ${dir} are in use by process ${pid}`)
    }
    await rm(file, { force: true })
  }
  throw new LkError('LK_LOCKED', `could not lock ${dir}`)
}

function isAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (e) { return errnoOf(e) === 'EPERM' }
}

function newSegmentName (): string {
  return `seg-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}.jsonl`
}

export async function fsyncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try { await fh.sync() } catch (e) {
    if (errnoOf(e) !== 'EINVAL') throw e
  } finally { await fh.close() }
}

/** hex sha256 of a file's contents (staged files are hashed at commit time for dedup) */
export async function sha256File (file: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer)
  return h.digest('hex')
}
