// ReadHandles without a mount: one open per path, LRU eviction that never releases a handle in
// use, failed opens not remembered, closeAll.

import t from 'tap'
import { FsError } from '../../lib/core/errors.js'
import { ReadHandles } from '../../lib/fuse/read-handles.js'
import { MemFs } from '../support/mem-fs.js'

const read = async (h: ReadHandles, core: MemFs, path: string): Promise<string> => {
  const buf = Buffer.alloc(64)
  const n = await h.use(path, fh => core.read(path, fh, buf, 64, 0))
  return buf.subarray(0, n).toString()
}

t.test('one open per path, LRU eviction, release only when idle', async t => {
  const core = new MemFs({ readOnly: true, files: { '/a': 'A', '/b': 'B', '/c': 'C' } })
  const h = new ReadHandles(core, 2)
  t.equal(await read(h, core, '/a'), 'A')
  t.equal(await read(h, core, '/a'), 'A')
  t.equal(core.calls.get('open'), 1, 'the second read reuses the handle')
  t.equal(await read(h, core, '/b'), 'B')
  t.equal(await read(h, core, '/a'), 'A', 'touch /a: /b is now the least recently used')
  t.equal(await read(h, core, '/c'), 'C', 'a third path evicts /b')
  await new Promise(resolve => setImmediate(resolve))
  t.equal(core.calls.get('release'), 1, 'the idle evicted handle is released')
  // now hold a read on /a (least recent after /c) open while another path evicts it
  let finish = (): void => {}
  const gate = new Promise<void>(resolve => { finish = resolve })
  const slow = h.use('/a', async fh => { await gate; return fh })
  t.equal(await read(h, core, '/c'), 'C')
  t.equal(await read(h, core, '/b'), 'B', '/b evicts /a, which is in use')
  await new Promise(resolve => setImmediate(resolve))
  t.equal(core.calls.get('release'), 1, 'not released while its read is in flight')
  finish()
  await slow
  await new Promise(resolve => setImmediate(resolve))
  t.equal(core.calls.get('release'), 2, 'released when its read ended')
  h.closeAll()
  await new Promise(resolve => setImmediate(resolve))
  t.equal(core.calls.get('release'), 4, 'closeAll releases the rest (/c and /b)')
})

t.test('a failed open is not remembered', async t => {
  const core = new MemFs({ readOnly: true, files: { '/a': 'A' } })
  const h = new ReadHandles(core, 8)
  let fail = true
  core.hook = (op) => { if (op === 'open' && fail) throw new FsError('EIO', 'flaky') }
  await t.rejects(read(h, core, '/a'), { message: /flaky/ })
  fail = false
  t.equal(await read(h, core, '/a'), 'A', 'the next read opens again')
  t.equal(core.calls.get('open'), 2)
})
