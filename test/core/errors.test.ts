// docs/errors.md and the catalogue in lib/core/errors.ts list the same codes with the same exit
// statuses and errno names; and LkError/toLkError/errnoOf behave as the catalogue says.

import t from 'tap'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CATALOGUE, LkError, FsError, errnoOf, toLkError, type ErrorCode } from '../../lib/core/errors.js'

// dist/test/core/errors.test.js -> the repository root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

interface DocRow { exit: number, errno: string, meaning: string, todo: string, line: number }

/** the rows of the codes table: | `LK_X` | exit | errno | meaning | what to do | */
export function parseErrorsDoc (text: string): { rows: Map<string, DocRow>, problems: string[] } {
  const rows = new Map<string, DocRow>()
  const problems: string[] = []
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (!line.startsWith('| `LK_')) return
    const cells = line.slice(1, line.endsWith('|') ? -1 : undefined).split(' | ').map(c => c.trim())
    const code = /^`(LK_[A-Z0-9_]+)`$/.exec(cells[0] ?? '')?.[1]
    if (code === undefined || cells.length !== 5) { problems.push(`line ${i + 1}: not a 5-column code row: ${line}`); return }
    if (rows.has(code)) problems.push(`line ${i + 1}: ${code} listed twice`)
    rows.set(code, { exit: Number(cells[1]), errno: cells[2] ?? '', meaning: cells[3] ?? '', todo: cells[4] ?? '', line: i + 1 })
  })
  return { rows, problems }
}

t.test('docs/errors.md matches the catalogue', async (t) => {
  const { rows, problems } = parseErrorsDoc(readFileSync(join(root, 'docs', 'errors.md'), 'utf8'))
  t.same(problems, [], 'every code row is well formed')
  const codes = Object.keys(CATALOGUE) as ErrorCode[]
  t.ok(codes.length > 30 && rows.size > 30, 'both sides were read')
  t.same(codes.filter(c => !rows.has(c)), [], 'every catalogue code is documented')
  t.same([...rows.keys()].filter(c => !(c in CATALOGUE)), [], 'every documented code exists')
  for (const code of codes) {
    const row = rows.get(code)
    if (row === undefined) continue
    const entry = CATALOGUE[code]
    t.same({ exit: row.exit, errno: row.errno }, { exit: entry.exit, errno: entry.errno }, `${code} (docs/errors.md line ${row.line})`)
    t.ok(row.meaning.length > 10 && row.todo.length > 5, `${code} says what it means and what to do`)
  }
})

t.test('the doc parser catches drift', async (t) => {
  const doc = '| `LK_USAGE` | 2 | EINVAL | bad | fix it |\n| `LK_USAGE` | 3 | EINVAL | again | again |\n| `LK_X` | 1 |\n'
  const { rows, problems } = parseErrorsDoc(doc)
  t.equal(rows.get('LK_USAGE')?.exit, 3)
  t.equal(problems.length, 2, 'duplicate and malformed rows are reported')
})

t.test('LkError carries the catalogue entry', async (t) => {
  const e = new LkError('LK_CONFLICT', 'paths changed', { details: { paths: ['a'] } })
  t.equal(e.code, 'LK_CONFLICT')
  t.equal(e.exitCode, 4)
  t.equal(e.errno, 'EBUSY')
  t.equal(e.retryable, false)
  t.same(e.details, { paths: ['a'] })
  t.equal(e.userMessage, `paths changed\n  ${CATALOGUE.LK_CONFLICT.hint}`)
  t.equal(new LkError('LK_OBJECT_NOT_FOUND', 'x', { errno: 'EISDIR' }).errno, 'EISDIR', 'errno override')
  const cause = new Error('root')
  t.equal(new LkError('LK_INTERNAL', 'x', { cause }).cause, cause)
  t.equal(new LkError('LK_REF_MOVED', 'x').retryable, true)
  for (const [code, entry] of Object.entries(CATALOGUE)) {
    t.ok(entry.exit >= 1 && entry.exit <= 8, `${code} exit in 1..8`)
    t.ok(entry.hint.length > 20, `${code} has a hint`)
  }
})

t.test('errnoOf and toLkError', async (t) => {
  t.equal(errnoOf(new FsError('ENOTDIR', 'x')), 'ENOTDIR')
  t.equal(new FsError('ENOTDIR', 'x').message, 'ENOTDIR: x')
  t.equal(errnoOf(Object.assign(new Error('x'), { code: 'ENOENT' })), 'ENOENT')
  t.equal(errnoOf(Object.assign(new Error('x'), { code: 'ERR_INVALID_ARG_TYPE' })), 'EIO', 'node non-errno codes are EIO')
  t.equal(errnoOf('a string'), 'EIO')
  t.equal(errnoOf(null), 'EIO')
  t.equal(toLkError(Object.assign(new Error('disk'), { code: 'ENOSPC' })).code, 'LK_NO_SPACE')
  const perm = toLkError(Object.assign(new Error('no'), { code: 'EPERM' }))
  t.match(perm, { code: 'LK_PERMISSION', errno: 'EPERM' })
  const lk = new LkError('LK_USAGE', 'u')
  t.equal(toLkError(lk), lk, 'LkErrors pass through')
  t.match(toLkError(new Error('boom')), { code: 'LK_INTERNAL', errno: 'EIO', message: 'boom' })
})
