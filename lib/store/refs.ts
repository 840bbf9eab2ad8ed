// Refs (branches, tags) as append-only sequences of immutable state files, moved by
// compare-and-swap without any lock.
//
// A ref lives in a directory `<refs>/<kind>/<encoded name>/` holding files `000000000001`,
// `000000000002`, ...; the state of the ref is the file with the highest number (JSON; `null`
// means deleted). To move a ref from state n to a new state, a writer writes the new state to a
// temp file (fsynced) and link(2)s it to the name n+1: link fails with EEXIST when another
// writer got there first, so exactly one writer wins each step, across processes, and the file
// is complete before its name exists. A process killed at any moment leaves the ref at state n
// or n+1, never torn (at most a `.tmp-*` orphan).
//
// State files are never deleted while the store runs: a deleted name could be linked again by a
// writer that read a state long ago, which would then believe it won (this lost commits under
// contention when old states were pruned). They are small, one per ref move, like a reflog.
// Readers do not list the directory: a `HEAD` hint file (rewritten atomically after each move,
// advisory, may lag) says where to start, and the reader probes forward to the last state.
import { mkdir, readdir, readFile } from 'node:fs/promises'
import * as path from 'node:path'
import { LkError } from '../core/errors.js'
import { createExclusive, fsyncDir, isErrno, writeFileAtomic } from './fsutil.js'

const SEQ_RE = /^\d{12}$/
const HINT = 'HEAD'

export interface Versioned<T> {
  /** 0 when the ref never existed */
  seq: number
  /** null when the ref does not exist (never created, or deleted) */
  value: T | null
}

/** Ref names may contain '/', which cannot be a file name: encode it (names never contain '%'). */
export const encodeRefName = (name: string): string => name.replaceAll('%', '%25').replaceAll('/', '%2F')
export const decodeRefName = (file: string): string => file.replaceAll('%2F', '/').replaceAll('%25', '%')

const seqName = (n: number): string => String(n).padStart(12, '0')

export class RefDir<T> {
  readonly #dir: string
  readonly #fsync: boolean

  constructor (dir: string, opts: { fsync: boolean }) {
    this.#dir = dir
    this.#fsync = opts.fsync
  }

  async #hint (): Promise<number> {
    try {
      const n = Number((await readFile(path.join(this.#dir, HINT), 'utf8')).trim())
      if (Number.isInteger(n) && n > 0) return n
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e
    }
    // no hint (a writer died between its link and the hint): list once
    let names: string[]
    try {
      names = await readdir(this.#dir)
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return 0
      throw e
    }
    let best = 0
    for (const n of names) if (SEQ_RE.test(n)) best = Math.max(best, Number(n))
    return best
  }

  async #readSeq (n: number): Promise<string | undefined> {
    try {
      return await readFile(path.join(this.#dir, seqName(n)), 'utf8')
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined
      throw e
    }
  }

  async read (): Promise<Versioned<T>> {
    let seq = await this.#hint()
    let raw = seq > 0 ? await this.#readSeq(seq) : undefined
    if (seq > 0 && raw === undefined) throw new LkError('LK_STORE_CORRUPT', `ref state ${path.join(this.#dir, seqName(seq))} is missing`)
    // the hint may lag: walk forward to the last state
    for (;;) {
      const next = await this.#readSeq(seq + 1)
      if (next === undefined) break
      seq++
      raw = next
    }
    if (raw === undefined) return { seq: 0, value: null }
    try {
      return { seq, value: JSON.parse(raw) as T | null }
    } catch (e) {
      throw new LkError('LK_STORE_CORRUPT', `ref state ${path.join(this.#dir, seqName(seq))} is not valid JSON`, { cause: e })
    }
  }

  /** Moves the ref from state `expectSeq` to `value`; false when another writer moved it first. */
  async cas (expectSeq: number, value: T | null): Promise<boolean> {
    await mkdir(this.#dir, { recursive: true })
    const next = expectSeq + 1
    const won = await createExclusive(path.join(this.#dir, seqName(next)), JSON.stringify(value), { fsync: this.#fsync })
    if (!won) return false
    // the new name itself must survive a power loss, not only the bytes behind it
    if (this.#fsync) await fsyncDir(this.#dir)
    // advisory: a lagging or lost hint only costs readers a few probes
    await writeFileAtomic(path.join(this.#dir, HINT), String(next), { fsync: false }).catch(() => {})
    return true
  }
}

/** Names of the refs of one kind (decoded, unsorted); includes deleted ones (read them to know). */
export async function listRefNames (kindDir: string): Promise<string[]> {
  try {
    return (await readdir(kindDir)).filter(n => !n.startsWith('.')).map(decodeRefName)
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return []
    throw e
  }
}
