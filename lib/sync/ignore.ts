// Which paths a sync manages: `.lkignore` (gitignore syntax, common subset) plus --include and
// --exclude globs. An ignored path is invisible to the sync in both directions: it is never
// downloaded, staged or deleted, locally or on the branch.
//
// The subset of gitignore implemented: blank lines and `#` comments; `\#` and `\!` escapes;
// trailing spaces dropped; `!` negation (last matching pattern wins); a trailing `/` matches
// directories only; a pattern with a `/` at the start or in the middle is anchored at the root,
// otherwise it matches a name at any depth; `*` and `?` never match `/`; `[...]` classes; `**` as
// a whole segment matches any number of directories (`**/x`, `x/**`, `a/**/b`). As in git, a file
// whose parent directory is ignored cannot be re-included by a negation.
//
// --include/--exclude globs use the same syntax (`*.jpg`, `train/**`, `/raw/`). With any
// --include, only paths one of them matches are synced; --exclude then removes paths.

interface Rule { re: RegExp, negate: boolean, dirOnly: boolean }

/** the regular-expression source for one glob (no negation, no trailing '/') */
function globSource (glob: string): string {
  let g = glob
  const anchored = g.startsWith('/') || g.slice(0, -1).includes('/')
  if (g.startsWith('/')) g = g.slice(1)
  const segs = g.split('/')
  let out = ''
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] as string
    const last = i === segs.length - 1
    if (seg === '**') {
      // `**/` at any position: zero or more directories; a trailing `/**`: everything inside
      out += last ? '.*' : '(?:[^/]+/)*'
      continue
    }
    out += segmentSource(seg) + (last ? '' : '/')
  }
  return anchored ? `^${out}$` : `^(?:[^/]+/)*${out}$`
}

function segmentSource (seg: string): string {
  let out = ''
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i] as string
    if (c === '\\' && i + 1 < seg.length) { out += escapeRe(seg[++i] as string); continue }
    if (c === '*') { while (seg[i + 1] === '*') i++; out += '[^/]*'; continue }
    if (c === '?') { out += '[^/]'; continue }
    if (c === '[') {
      const close = seg.indexOf(']', i + 2)
      if (close !== -1) {
        let body = seg.slice(i + 1, close)
        if (body.startsWith('!')) body = '^' + body.slice(1)
        out += `(?!/)[${body.replace(/\\/g, '\\\\')}]`
        i = close
        continue
      }
    }
    out += escapeRe(c)
  }
  return out
}

function escapeRe (c: string): string { return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c }

/** one pattern line of gitignore syntax; undefined for blank lines and comments */
export function parseRule (line: string): Rule | undefined {
  let l = line.replace(/\r$/, '')
  // trailing spaces are dropped unless escaped
  l = l.replace(/(?<!\\)\s+$/, '')
  if (l === '' || l.startsWith('#')) return undefined
  let negate = false
  if (l.startsWith('!')) { negate = true; l = l.slice(1) } else if (l.startsWith('\\!') || l.startsWith('\\#')) l = l.slice(1)
  let dirOnly = false
  if (l.endsWith('/') && l.length > 1) { dirOnly = true; l = l.slice(0, -1) }
  if (l === '' || l === '/') return undefined
  return { re: new RegExp(globSource(l)), negate, dirOnly }
}

export class IgnoreRules {
  #rules: Rule[]
  constructor (text = '') {
    this.#rules = text.split('\n').map(parseRule).filter((r): r is Rule => r !== undefined)
  }

  get size (): number { return this.#rules.length }

  /** last matching rule decides, for this path alone (no parents) */
  #decide (rel: string, isDir: boolean): boolean | undefined {
    let out: boolean | undefined
    for (const r of this.#rules) {
      if (r.dirOnly && !isDir) continue
      if (r.re.test(rel)) out = !r.negate
    }
    return out
  }

  /** `rel`: relative, '/'-separated, no leading '/'; a directory ignores everything under it */
  ignores (rel: string, isDir = false): boolean {
    if (this.#rules.length === 0) return false
    const parts = rel.split('/')
    let p = ''
    for (let i = 0; i < parts.length - 1; i++) {
      p = p === '' ? (parts[i] as string) : `${p}/${parts[i] as string}`
      if (this.#decide(p, true) === true) return true
    }
    return this.#decide(rel, isDir) === true
  }
}

/** `.lkignore` + include/exclude globs: what the sync leaves alone */
export class PathFilter {
  readonly #ignore: IgnoreRules
  readonly #include: IgnoreRules | undefined
  readonly #exclude: IgnoreRules

  constructor (o: { lkignore?: string, include?: readonly string[], exclude?: readonly string[] }) {
    this.#ignore = new IgnoreRules(o.lkignore ?? '')
    this.#include = o.include !== undefined && o.include.length > 0 ? new IgnoreRules(o.include.join('\n')) : undefined
    this.#exclude = new IgnoreRules((o.exclude ?? []).join('\n'))
  }

  /** true when the sync must leave this path alone (never download, stage or delete it) */
  ignored (rel: string, isDir = false): boolean {
    if (rel === '' || rel === IGNORE_FILE && !isDir) return false
    if (isPartial(rel)) return true
    // a directory is only ignored when include can no longer match anything inside it
    if (this.#include !== undefined && !isDir && !this.#include.ignores(rel, false)) return true
    return this.#exclude.ignores(rel, isDir) || this.#ignore.ignores(rel, isDir)
  }
}

export const IGNORE_FILE = '.lkignore'
/** downloads in progress are written to `.<name>.lk-partial-<random>` beside the final name */
export const PARTIAL_MARK = '.lk-partial-'

export function isPartial (rel: string): boolean {
  const slash = rel.lastIndexOf('/')
  const name = rel.slice(slash + 1)
  return name.startsWith('.') && name.includes(PARTIAL_MARK)
}
