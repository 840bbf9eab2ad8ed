// Refs (branches, tags) as append-only sequences of immutable state files, moved by
// compare-and-swap without any lock.
//
// A ref lives in a directory `<refs>/<kind>/<encoded name>/` holding files `000000000001`,
// `000000000002`, ...; the state of the ref is the file with the highest number (JSON; `null`
// means deleted). To move a ref from state n to a new state, a writer writes the new state to a
// temp file (fsynced) and link(2)s it to the name n+1: link fails with EEXIST when another
// writer got there first, so exactly one writer wins each step, across processes, and the file
// is complete before its name exists. A process killed at any moment leaves the ref at state n
// or n+1, never torn (at most a `.tmp-*` orphan). Old states are pruned, keeping the last few so
// a reader that listed the directory a moment ago can still open what it saw (it retries if
// not). There is no lock file, so there is no stale lock to detect after a crash.

import { mkdir, readdir, readFile, unlink } from 'node:fs/promises'
import * as path from 'node:path'
import { LkError } from '../core/errors.js'
import { createExclusive, isErrno } from './fsutil.js'

const SEQ_RE = /^\d{12}$/
const KEEP = 8

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

  async read (): Promise<Versioned<T>> {
    for (let attempt = 0; ; attempt++) {
      let names: string[]
      try {
        names = await readdir(this.#dir)
      } catch (e) {
        if (isErrno(e, 'ENOENT')) return { seq: 0, value: null }
        throw e
      }
      let best = ''
      for (const n of names) if (SEQ_RE.test(n) && n > best) best = n
      if (best === '') return { seq: 0, value: null }
      try {
        const raw = await readFile(path.join(this.#dir, best), 'utf8')
        return { seq: Number(best), value: JSON.parse(raw) as T | null }
      } catch (e) {
        // pruned between readdir and open by a writer far ahead of us: list again
        if (isErrno(e, 'ENOENT') && attempt < 20) continue
        if (e instanceof SyntaxError) throw new LkError('LK_STORE_CORRUPT', `ref state ${path.join(this.#dir, best)} is not valid JSON`, { cause: e })
        throw e
      }
    }
  }

  /** Moves the ref from state `expectSeq` to `value`; false when another writer moved it first. */
  async cas (expectSeq: number, value: T | null): Promise<boolean> {
    await mkdir(this.#dir, { recursive: true })
    const next = expectSeq + 1
    const won = await createExclusive(path.join(this.#dir, seqName(next)), JSON.stringify(value), { fsync: this.#fsync })
    if (won && next > KEEP) {
      // best effort: an old state nobody needs any more
      await unlink(path.join(this.#dir, seqName(next - KEEP))).catch(() => {})
    }
    return won
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
