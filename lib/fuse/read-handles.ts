// Read handles for no-open mounts (see the class comment). Kept apart from index.ts so it can be
// tested without a mount; it knows FsCore only.

import { constants as fsConstants } from 'node:fs'
import type { FsCore } from '../fs/types.js'

/**
 * Handles for reads on a no-open mount. The kernel sends no OPEN there and every read carries
 * fh 0, but FsCore.read wants a handle from FsCore.open (lib/fs answers EBADF for fh 0), so the
 * adapter opens read-only handles itself, one per path, keeps the most recently used `max`, and
 * releases the rest. A handle is never released while a read on it is in flight. Only used on
 * read-only pinned mounts, where a path's content never changes, so a cached handle is never stale.
 */
export class ReadHandles {
  readonly #core: FsCore
  readonly #max: number
  /** Map order is LRU order: the first entry is the least recently used */
  readonly #entries = new Map<string, { fh: Promise<number>, busy: number, evicted: boolean }>()

  constructor (core: FsCore, max: number) {
    this.#core = core
    this.#max = max
  }

  async use<T>(path: string, fn: (fh: number) => Promise<T>): Promise<T> {
    let e = this.#entries.get(path)
    if (e !== undefined) {
      this.#entries.delete(path)
      this.#entries.set(path, e)
    } else {
      const entry = { fh: this.#core.open(path, fsConstants.O_RDONLY), busy: 0, evicted: false }
      // a failed open is not remembered: the next read tries again
      entry.fh.catch(() => { if (this.#entries.get(path) === entry) this.#entries.delete(path) })
      this.#entries.set(path, entry)
      e = entry
      this.#evict()
    }
    e.busy++
    try {
      return await fn(await e.fh)
    } finally {
      e.busy--
      if (e.evicted && e.busy === 0) this.#release(path, e.fh)
    }
  }

  #evict (): void {
    while (this.#entries.size > this.#max) {
      const [path, e] = this.#entries.entries().next().value as [string, { fh: Promise<number>, busy: number, evicted: boolean }]
      this.#entries.delete(path)
      e.evicted = true
      if (e.busy === 0) this.#release(path, e.fh)
    }
  }

  #release (path: string, fh: Promise<number>): void {
    fh.then(n => this.#core.release(path, n)).catch(() => {})
  }

  /** releases every handle not in use (in-use ones follow when their read ends) */
  closeAll (): void {
    for (const [path, e] of this.#entries) {
      e.evicted = true
      if (e.busy === 0) this.#release(path, e.fh)
    }
    this.#entries.clear()
  }
}
