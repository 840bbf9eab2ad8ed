// The staging journal on a real state directory: replay, torn records, sealing and its undo.

import { appendFile, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { type CommitId } from '../../lib/core/ids.js'
import { Journal, type StagedEntry } from '../../lib/staging/index.js'

const base = 'a'.repeat(64) as CommitId
const file = (data: string, size: number): StagedEntry => ({ t: 'file', data, size, mtime: 1000, meta: {} })
const snapshot = (j: Journal): Record<string, string> => Object.fromEntries([...j.entries()].map(([p, e]) => [p, e.t === 'file' ? `file:${e.data}:${e.size}` : e.t]).sort())

t.test('records survive a reopen; a torn last line is ignored', async t => {
  const dir = t.testdir()
  const j = await Journal.open({ dir })
  await j.setBase(base)
  await Promise.all([j.record([['a', file('d1', 3)]]), j.record([['b', { t: 'del' }], ['c', { t: 'dir', mtime: 1 }]])])
  await j.record([['a', file('d1', 5)]])
  await j.record([['c', null]])
  await j.close()
  // simulate a crash mid-append: a partial line at the end of the active segment
  const segs = await readdir(join(dir, 'journal'))
  await appendFile(join(dir, 'journal', segs.sort().at(-1) as string), '[["x",{"t":"fi')
  const j2 = await Journal.open({ dir })
  t.same(snapshot(j2), { a: 'file:d1:5', b: 'del' })
  t.equal(j2.base, base)
  await j2.close()
})

t.test('damage before the last line is reported, not skipped', async t => {
  const dir = t.testdir()
  const j = await Journal.open({ dir })
  await j.record([['a', file('d1', 1)]])
  await j.close()
  const seg = (await readdir(join(dir, 'journal')))[0] as string
  await writeFile(join(dir, 'journal', seg), 'garbage\n[["b",{"t":"del"}]]\n')
  await t.rejects(Journal.open({ dir }), { code: 'LK_STORE_CORRUPT' })
})

t.test('seal moves changes aside; writes continue; dropSealed and unseal', async t => {
  const dir = t.testdir()
  const j = await Journal.open({ dir })
  await j.record([['a', file('d1', 1)], ['b', file('d2', 2)]])
  const s = await j.seal(base)
  t.match(s.key, /^[0-9a-f-]{36}$/)
  t.same([...s.entries.keys()].sort(), ['a', 'b'])
  t.ok(j.isSealedData('d1'))
  await j.record([['c', file('d3', 3)], ['a', null]])
  t.same(snapshot(j), { a: 'del', b: 'file:d2:2', c: 'file:d3:3' }, 'a path the sealed set changed stays deleted')
  // reopen: the sealed set is found again, with its key
  await j.close()
  const j2 = await Journal.open({ dir })
  t.equal(j2.sealed?.key, s.key)
  t.same(snapshot(j2), { a: 'del', b: 'file:d2:2', c: 'file:d3:3' })
  await j2.unseal()
  t.equal(j2.sealed, undefined)
  t.same(snapshot(j2), { a: 'del', b: 'file:d2:2', c: 'file:d3:3' })
  const s2 = await j2.seal(base)
  t.not(s2.key, s.key, 'a new seal gets a new key')
  await j2.dropSealed()
  t.same(snapshot(j2), {})
  await j2.close()
  const j3 = await Journal.open({ dir })
  t.same(snapshot(j3), {})
  t.ok((await readdir(join(dir, 'journal'))).length <= 2, 'old segments are deleted (the previous active one and a fresh one stay)')
  await j3.close()
})

t.test('discard drops both layers; gc deletes unreferenced data files', async t => {
  const dir = t.testdir()
  const j = await Journal.open({ dir })
  for (const n of ['d1', 'd2', 'd3']) await writeFile(j.dataPath(n), n)
  await j.record([['a', file('d1', 2)], ['b', file('d2', 2)]])
  await j.seal(base)
  await j.record([['c', file('d3', 2)]])
  t.equal(await j.gcData(new Set()), 0)
  await j.discard()
  t.same(snapshot(j), {})
  t.equal(j.sealed, undefined)
  t.equal(await j.gcData(new Set(['d3'])), 2)
  t.same(await readdir(join(dir, 'data')), ['d3'])
  await j.close()
})

t.test('regression: gc running beside a pool fill never deletes the fill\'s new data files', async t => {
  // a fill creates 32 files before it puts them in the pool; gc used to snapshot "in use" first
  // and list the directory after, so files created in between were deleted and a later
  // allocData handed out a name whose file was gone
  const j = await Journal.open({ dir: t.testdir() })
  const { access } = await import('node:fs/promises')
  let missing = 0
  // what the session passes as `live`: data files handed out to open files
  const taken = new Set<string>()
  for (let round = 0; round < 30; round++) {
    const allocs = Array.from({ length: 40 }, async () => { const n = await j.allocData(); taken.add(n); return n })
    const gcs = Array.from({ length: 3 }, async () => await j.gcData(taken))
    const [names] = await Promise.all([Promise.all(allocs), Promise.all(gcs)])
    for (const n of names) await access(j.dataPath(n)).catch(() => { missing++ })
  }
  t.equal(missing, 0, 'every allocated data file exists')
  // a file handed out and not recorded yet (its opener still awaiting the open) is kept even
  // when the caller's live set does not name it yet; once recorded, the record keeps it
  const fresh = await j.allocData()
  await j.gcData(new Set())
  await access(j.dataPath(fresh)).catch(() => { missing++ })
  t.equal(missing, 0, 'a handed-out, unrecorded data file survives gc')
  await j.record([['fresh', file(fresh, 0)]])
  await j.gcData(new Set())
  await access(j.dataPath(fresh)).catch(() => { missing++ })
  t.equal(missing, 0, 'and so does a recorded one')
  await j.close()
})

t.test('one journal per state directory; a dead owner\'s lock is taken over', async t => {
  const dir = t.testdir()
  const j = await Journal.open({ dir })
  await t.rejects(Journal.open({ dir }), { code: 'LK_LOCKED' })
  await j.close()
  const j2 = await Journal.open({ dir })
  await j2.close()
  // a lock left by a process that is gone (pid far above pid_max) does not block
  await writeFile(join(dir, 'lock'), '99999999')
  const j3 = await Journal.open({ dir })
  await j3.close()
})

t.test('a lazy record is visible at once and written with the next record that is not lazy', async t => {
  const dir = t.testdir()
  const j = await Journal.open({ dir })
  await j.setBase(base)
  const onDisk = async (): Promise<string> => {
    const segs = (await readdir(join(dir, 'journal'))).sort()
    return (await Promise.all(segs.map(async s => await readFile(join(dir, 'journal', s), 'utf8')))).join('')
  }
  await j.record([['new', file('d1', 0)]], { lazy: true })
  t.same(snapshot(j), { new: 'file:d1:0' }, 'visible at once')
  await new Promise(resolve => setTimeout(resolve, 20))
  t.notMatch(await onDisk(), /"new"/, 'not written on its own (no sync of its own)')
  await j.record([['new', file('d1', 7)]])
  const text = await onDisk()
  t.ok(text.indexOf('"size":0') !== -1 && text.indexOf('"size":0') < text.indexOf('"size":7'), 'written before the later record, in one flush')
  await j.record([['other', file('d2', 1)]], { lazy: true })
  await j.close()
  const j2 = await Journal.open({ dir })
  t.same(snapshot(j2), { new: 'file:d1:7', other: 'file:d2:1' }, 'close flushes lazy records')
  await j2.close()
})
