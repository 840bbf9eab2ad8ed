// Bad input through the CLI fails with the catalogue's exit code and changes nothing: the
// store's repositories, branches and history are compared before and after every attempt.

import t from 'tap'
import { writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { cliHome, type CliHome } from '../support/cli.js'
import { shortTmp } from '../support/tmp.js'

async function snapshot (lk: CliHome): Promise<string> {
  const repos = await lk.json<Array<{ name: string }>>(['repo', 'list'])
  const parts: unknown[] = [repos]
  for (const r of repos) {
    const branches = await lk.json<Array<{ name: string }>>(['branch', 'list', `lakefs://${r.name}`])
    parts.push(branches)
    const tags = await lk.json<unknown[]>(['tag', 'list', `lakefs://${r.name}`])
    parts.push(tags)
    for (const b of branches) parts.push(await lk.json(['log', `lakefs://${r.name}/${b.name}`]))
  }
  return JSON.stringify(parts)
}

t.test('bad input exits non-zero with the right code and changes nothing', async t => {
  const lk = cliHome(t)
  const src = shortTmp(t, 'lks-')
  writeFileSync(join(src, 'a.txt'), 'a\n')
  t.equal((await lk.run(['repo', 'create', 'data'])).code, 0)
  t.equal((await lk.run(['import', src, 'lakefs://data/main', '-m', 'one'])).code, 0)
  t.equal((await lk.run(['branch', 'create', 'lakefs://data/dev', '--source', 'lakefs://data/main'])).code, 0)
  t.equal((await lk.run(['tag', 'create', 'lakefs://data/v1', 'lakefs://data/main'])).code, 0)
  const commit = (await lk.json<Array<{ id: string }>>(['log', 'lakefs://data/main']))[0]?.id ?? ''

  // a directory with a file name no object path may have (over 1024 bytes as a path)
  const deep = shortTmp(t, 'lkd-')
  let p = deep
  for (let i = 0; i < 6; i++) { p = join(p, 'd'.repeat(200)); mkdirSync(p) }
  writeFileSync(join(p, 'f.txt'), 'x')
  writeFileSync(join(deep, 'ok.txt'), 'fine')

  const before = await snapshot(lk)
  const cases: Array<[string[], number, string, RegExp?]> = [
    [['ls', 'lakefs://nope/main'], 3, 'unknown repository', /repository nope not found/],
    [['ls', 'lakefs://data/nope'], 3, 'unknown ref'],
    [['cat', 'lakefs://data/main/missing.txt'], 3, 'unknown object'],
    [['log', 'lakefs://data/no-such-branch'], 3, 'log of an unknown ref'],
    [['ls', 'data/main'], 2, 'not a URI', /not a lakefs:\/\/ URI/],
    [['ls', 'lakefs://Bad_Repo/main'], 2, 'bad repository name'],
    [['cat', 'lakefs://data/main/a/../a.txt'], 2, '.. segment', /\.\./],
    [['cat', 'lakefs://data/main//a.txt'], 2, 'empty segment'],
    [['branch', 'create', 'lakefs://data/dev', '--source', 'lakefs://data/main'], 4, 'existing branch'],
    [['branch', 'create', 'lakefs://data/-x', '--source', 'lakefs://data/main'], 2, 'bad branch name'],
    [['branch', 'create', 'lakefs://data/new', '--source', 'lakefs://data/nope'], 3, 'unknown source'],
    [['branch', 'delete', 'lakefs://data/main'], 2, 'default branch'],
    [['branch', 'delete', 'lakefs://data/v1'], 2, 'a tag is not a branch'],
    [['tag', 'create', 'lakefs://data/v1', 'lakefs://data/dev'], 4, 'existing tag'],
    [['repo', 'create', 'data'], 4, 'existing repository'],
    [['repo', 'create', 'X'], 2, 'bad repository name'],
    [['merge', 'lakefs://data/dev', 'lakefs://data/v1'], 2, 'merge into a tag', /is a tag/],
    [['merge', 'lakefs://data/dev', `lakefs://data/${commit}`], 2, 'merge into a commit', /is a commit/],
    [['merge', 'lakefs://data/dev', 'lakefs://other/main'], 2, 'merge across repositories'],
    [['import', src, 'lakefs://data/v1'], 2, 'import into a tag'],
    [['import', join(src, 'missing'), 'lakefs://data/main'], 2, 'import of a missing directory'],
    [['import', deep, 'lakefs://data/main'], 2, 'import with an invalid path inside', /longer than 1024 bytes/],
    [['diff', 'lakefs://data/main'], 2, 'diff with one URI'],
    [['log', 'lakefs://data/main', '--amount', '0'], 8, 'amount 0 is a malformed request'],
    [['import', src, 'lakefs://data/main', '--meta', 'novalue'], 2, 'bad --meta'],
    [['nosuchcommand'], 2, 'unknown command'],
    [['mount', 'lakefs://data/v1', join(deep, 'mnt'), '--write'], 2, 'write mount of a tag', /only branches/],
    [['mount', 'lakefs://data/main', deep], 7, 'mount point not empty'],
    [['umount', join(deep, 'nothing-here')], 3, 'not mounted'],
    [['commit', join(deep, 'nothing-here'), '-m', 'x'], 3, 'commit of no mount'],
  ]
  for (const [args, code, what, re] of cases) {
    const r = await lk.run(args)
    t.equal(r.code, code, `${what}: exit ${code} (${r.stderr.split('\n')[0] ?? ''})`)
    t.match(r.stderr, /^error: /, `${what}: error line`)
    if (re !== undefined) t.match(r.stderr, re, `${what}: message`)
  }
  t.equal(await snapshot(lk), before, 'the store is unchanged')

  // --json errors are one JSON object with the catalogue fields
  const rj = await lk.run(['ls', 'lakefs://data/nope', '--json'])
  const ej = JSON.parse(rj.stderr) as { error: Record<string, unknown> }
  t.equal(ej.error.code, 'LK_REF_NOT_FOUND')
  t.equal(ej.error.exitCode, 3)
  t.type(ej.error.message, 'string')
  t.type(ej.error.hint, 'string')
  t.equal(rj.stdout, '', 'nothing on stdout')
})
