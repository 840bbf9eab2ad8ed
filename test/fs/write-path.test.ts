// The write path's cost in remote calls: new files in directories the pinned commit does not have
// are answered from memory (the base view knows an absent ancestor), so writing many new files
// asks the remote nothing per file.

import t from 'tap'
import type { ObjectPath } from '../../lib/core/ids.js'
import { repoName } from '../../lib/core/ids.js'
import { FaultyRemote } from '../../lib/remote/faulty.js'
import { CoreDriver } from '../conformance/core-driver.js'
import { SAMPLE_REPO } from '../conformance/dataset.js'
import { openCoreMount } from '../support/core-mount.js'

t.test('new files under a new directory cost no remote lookups', async t => {
  const m = await openCoreMount({ write: true, wrap: r => new FaultyRemote(r) })
  t.teardown(m.close)
  const faulty = m.remote as FaultyRemote
  const d = new CoreDriver(m.session.fs)
  await d.mkdir('out')
  await d.mkdir('out/r0')
  const lookups = (): number => (faulty.calls.get('statObject') ?? 0) + (faulty.calls.get('listObjects') ?? 0)
  const before = lookups()
  for (let i = 0; i < 20; i++) await d.writeFile(`out/r0/w${i}.bin`, Buffer.from(`w${i}`))
  await t.rejects(d.stat('out/r0/missing'), { code: 'ENOENT' })
  await t.rejects(d.stat('out/r0/deeper/missing'), { code: 'ENOENT' })
  t.equal(lookups(), before, 'no stat or listing per new file')
  t.equal((await d.readFile('out/r0/w7.bin')).toString(), 'w7')
  t.same((await d.readdir('out/r0')).length, 20)
  const c = await m.session.commit({ message: 'new files' })
  const st = await m.remote.statObject(repoName(SAMPLE_REPO), c.id, 'out/r0/w3.bin' as ObjectPath)
  t.equal(st.size, 2)
})

t.test('files under directories the commit has are still looked up', async t => {
  const m = await openCoreMount({ write: true, wrap: r => new FaultyRemote(r) })
  t.teardown(m.close)
  const d = new CoreDriver(m.session.fs)
  // the sample commit's files (README.md at the root, nested ones under their directories)
  const root = await d.readdir('')
  t.ok(root.length > 0)
  for (const name of root) {
    const s = await d.stat(name)
    if (s.isDirectory) {
      const kids = await d.readdir(name)
      t.ok(kids.length > 0, `${name} lists its base children`)
      const k = await d.stat(`${name}/${kids[0] ?? ''}`)
      t.ok(k.isFile || k.isDirectory)
    }
  }
  await t.rejects(d.stat('README.md/child'), { code: 'ENOENT' })
})
