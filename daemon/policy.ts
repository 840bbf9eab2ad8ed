// Which local paths a control request may name. The system daemon runs as root and its socket
// may be open to a group, so a request is a request from a less trusted user: it must not mount
// over /etc, put a cache into /usr, open a "store" in /var/lib/lk-mount/state, or read /root
// into a repository with `import`. (/home is not refused: users import their own data; the
// daemon cannot tell which user asked — Node has no SO_PEERCRED — so a socket group is trusted
// with what root can read outside the refused directories.)
//
// Rules, checked on the path as written and again on its real path (symlinks resolved through
// the deepest existing ancestor, so /data/x -> /etc cannot slip through): never `/`, never a
// system directory or anything under one, never the daemon's own home, socket directory or
// cache, and — when the config lists `mountRoots` — mount points only under one of them.

import { realpathSync } from 'node:fs'
import { dirname, basename, join, normalize, sep } from 'node:path'
import { LkError } from '../lib/core/errors.js'

const SYSTEM_DIRS = ['/proc', '/sys', '/dev', '/etc', '/boot', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/usr', '/run', '/var/run', '/var/lib/dpkg', '/var/lib/systemd', '/var/log', '/root']

export type PathUse = 'mountpoint' | 'cache directory' | 'store' | 'import source'

export interface PathPolicyOptions {
  /** the daemon's own directories: home, socket directory, cache, default store */
  daemonDirs: string[]
  /** mount points must lie under one of these (empty: anywhere not forbidden) */
  mountRoots: string[]
}

function under (p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep)
}

/** the real path of `p`, resolving the deepest ancestor that exists */
export function realPathOf (p: string): string {
  const rest: string[] = []
  let cur = normalize(p)
  for (;;) {
    try {
      return join(realpathSync(cur), ...rest)
    } catch {
      const parent = dirname(cur)
      if (parent === cur) return normalize(p)
      rest.unshift(basename(cur))
      cur = parent
    }
  }
}

export class PathPolicy {
  readonly #o: PathPolicyOptions
  constructor (o: PathPolicyOptions) { this.#o = { daemonDirs: o.daemonDirs.map(d => normalize(d)), mountRoots: o.mountRoots.map(d => normalize(d)) } }

  check (use: PathUse, path: string): void {
    for (const p of new Set([normalize(path), realPathOf(path)])) this.#checkOne(use, path, p)
  }

  #checkOne (use: PathUse, asGiven: string, p: string): void {
    const refuse = (why: string): never => { throw new LkError('LK_PATH_FORBIDDEN', `${use} ${asGiven}${p === asGiven ? '' : ` (really ${p})`} refused: ${why}`) }
    if (p === '/') refuse('the root directory')
    const sys = SYSTEM_DIRS.find(d => under(p, d))
    // the daemon's socket directory lives under /run; only the rule for the daemon's own dirs applies there
    if (sys !== undefined) refuse(`${sys} is a system directory`)
    const own = this.#o.daemonDirs.find(d => under(p, d) || (use !== 'import source' && under(d, p)))
    if (own !== undefined) refuse(`it overlaps the daemon's own directory ${own}`)
    if (use === 'mountpoint' && this.#o.mountRoots.length > 0 && !this.#o.mountRoots.some(r => under(p, r) && p !== r)) {
      refuse(`mount points must lie under ${this.#o.mountRoots.join(' or ')} (mountRoots in the config)`)
    }
  }
}
