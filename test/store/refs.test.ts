// The CAS refs under the store: one winner per step, and a writer holding a stale read can
// never win, however far behind it is.

import t from 'tap'
import { mkdtemp, rm, unlink, readdir } from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'
import { RefDir } from '../../lib/store/refs.js'

t.test('compare-and-swap refs', async t => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lk-refs-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const ref = new RefDir<{ n: number }>(path.join(dir, 'r'), { fsync: false })
  t.same(await ref.read(), { seq: 0, value: null })
  t.equal(await ref.cas(0, { n: 1 }), true)
  t.equal(await ref.cas(0, { n: 99 }), false, 'second writer from the same state loses')
  for (let i = 2; i <= 30; i++) t.equal(await ref.cas(i - 1, { n: i }), true)
  t.same(await ref.read(), { seq: 30, value: { n: 30 } })
  // regression: states used to be pruned, and a writer holding a read from long ago could link
  // the freed name, "win", and lose its commit silently
  for (const stale of [0, 1, 5, 21, 29]) t.equal(await ref.cas(stale, { n: -1 }), false, `stale writer at ${stale} loses`)
  t.same(await ref.read(), { seq: 30, value: { n: 30 } })
  // the HEAD hint is advisory: lost or lagging, readers still find the last state
  await unlink(path.join(dir, 'r', 'HEAD'))
  t.same(await ref.read(), { seq: 30, value: { n: 30 } })
  t.equal(await ref.cas(30, null), true)
  t.same(await ref.read(), { seq: 31, value: null })
  t.ok((await readdir(path.join(dir, 'r'))).every(n => /^\d{12}$/.test(n) || n === 'HEAD'), 'no temp files left')
  // many contenders on one step: exactly one wins
  const wins = await Promise.all(Array.from({ length: 16 }, async (_, i) => await ref.cas(31, { n: 100 + i })))
  t.equal(wins.filter(Boolean).length, 1)
})
