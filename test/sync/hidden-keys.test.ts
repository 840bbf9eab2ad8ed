// Keys lakeFS accepts but no file can have (`../x`, `a//b`, `./x`, `dir/` markers) never leave the
// sync directory: they are left out of the materialised tree — at start and when the branch
// moves (pull) — with one warning, and nothing is written outside the directory.

import t from 'tap'
import { existsSync } from 'node:fs'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createLogger } from '../../lib/core/log.js'
import { MAIN, REPO, commitFiles, readLocal, readObject, seedRepo, syncFixture } from '../support/sync.js'

t.test('keys that map to no file are hidden by sync, never written outside its directory', async t => {
  const f = await syncFixture(t)
  // the work directory is <root>/work: '../escape.txt' would land in <root>
  await seedRepo(f.remote, { 'ok.txt': 'fine', '../escape.txt': 'out', 'a//b': 'empty segment', './dot.txt': 'dot', 'dir/': '', 'dir/inner.txt': 'in' })
  const lines: string[] = []
  const log = createLogger({ json: true, level: 'warn', write: l => { lines.push(l) } })
  const s = await f.open({ log })
  t.same((await readdir(f.dir)).sort(), ['dir', 'ok.txt'], 'only what maps to files')
  t.same(await readdir(join(f.dir, 'dir')), ['inner.txt'], 'the dir/ marker made no file')
  t.equal(await readLocal(f.dir, 'dir/inner.txt'), 'in')
  t.notOk(existsSync(join(f.root, 'escape.txt')), 'nothing outside the sync directory')
  const warned = lines.filter(l => l.includes('map to no file name'))
  t.equal(warned.length, 1, 'one warning, however many keys')

  // the branch moves: another writer adds more such keys; a pull brings only the files
  await commitFiles(f.remote, { '../escape2.txt': 'out', 'x/../y': 'dots', 'new.txt': 'new' }, REPO, MAIN)
  const p = await s.pull()
  t.ok(p.updated >= 1)
  t.equal(await readLocal(f.dir, 'new.txt'), 'new')
  t.notOk(existsSync(join(f.root, 'escape2.txt')), 'nothing outside the sync directory after a pull')
  t.notOk(existsSync(join(f.dir, 'y')), '"x/../y" was not written as y')
  t.equal(lines.filter(l => l.includes('map to no file name')).length, 1, 'still one warning')

  // and a local commit leaves the hidden keys of the branch alone
  await writeFile(join(f.dir, 'local.txt'), 'local')
  const c = await s.commit({ message: 'local file' })
  t.equal(await readObject(f.remote, c.id, 'local.txt'), 'local')
  const head = c.id
  for (const k of ['../escape.txt', 'a//b', './dot.txt', 'dir/']) t.ok(await f.remote.statObject(REPO, head, k as never), `${k} is still on the branch`)
})
