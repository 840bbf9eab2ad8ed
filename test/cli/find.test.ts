// `lk-mount find --meta` and `lk-mount log --meta` through the CLI and a real daemon, against an
// embedded store filled beforehand with objects and commits carrying metadata. The daemon code
// under test talks only to the Remote interface, so nothing here is store-specific.

import t from 'tap'
import { join } from 'node:path'
import { cliHome } from '../support/cli.js'
import { LocalRemote } from '../../lib/remote/local.js'
import { ControlClient } from '../../lib/control/client.js'
import type { FindPage } from '../../lib/control/methods/index.js'
import { B, P, R, buf } from '../support/store.js'

interface Stat { path: string, metadata: Record<string, string> }
interface Commit { id: string, message: string, metadata: Record<string, string> }

t.test('find and log by metadata, page by page', async t => {
  const lk = cliHome(t)
  // fill the store before any daemon holds it
  const remote = await LocalRemote.open({ dir: join(lk.home, 'store') })
  await remote.createRepo(R('meta'))
  const expected: string[] = []
  for (let i = 0; i < 25; i++) {
    const path = `img/${String(i).padStart(3, '0')}.jpg`
    const label = i % 3 === 0 ? 'cat' : 'dog'
    const split = i % 2 === 0 ? 'train' : 'val'
    await remote.putObject(R('meta'), B('main'), P(path), buf(`bytes ${i}`), { metadata: { label, split } })
    if (label === 'cat' && split === 'train') expected.push(path)
  }
  await remote.putObject(R('meta'), B('main'), P('other/x.jpg'), buf('x'), { metadata: { label: 'cat', split: 'train' } })
  const one = await remote.commit(R('meta'), B('main'), { message: 'images', metadata: { stage: 'one', team: 'vision' } })
  await remote.putObject(R('meta'), B('main'), P('img/new.jpg'), buf('n'), { metadata: { label: 'cat', split: 'train' } })
  const two = await remote.commit(R('meta'), B('main'), { message: 'more', metadata: { stage: 'two', team: 'vision' } })
  await remote.close()

  // the CLI streams a JSON array, asking for 4 listing entries at a time
  let r = await lk.run(['find', 'lakefs://meta/main/img/', '--meta', 'label=cat', '--meta', 'split=train', '--page-size', '4', '--json'])
  t.equal(r.code, 0, r.stderr)
  const found = JSON.parse(r.stdout) as Stat[]
  t.same(found.map(s => s.path), [...expected, 'img/new.jpg'].sort(), 'every match under the prefix, nothing outside it')
  t.same(found[0]?.metadata, { label: 'cat', split: 'train' })

  r = await lk.run(['find', `lakefs://meta/${one.id}`, '--meta', 'label=cat', '--meta', 'split=train'])
  t.equal(r.code, 0, r.stderr)
  t.same(r.stdout.trim().split('\n').map(l => l.split('\t')[0]), [...expected, 'other/x.jpg'], 'by commit id, human output')
  t.match(r.stderr, /6 objects match \(26 scanned/)

  r = await lk.run(['find', 'lakefs://meta/main', '--meta', 'label=bird', '--json'])
  t.same(JSON.parse(r.stdout), [], 'no match is an empty array')
  r = await lk.run(['find', 'lakefs://meta/main'])
  t.equal(r.code, 2, 'find without --meta is a usage error')

  // the wire: bounded pages with a cursor, pinned to the first page's commit
  const c = await ControlClient.connect({ socketPath: join(lk.home, 'lk-mountd.sock') })
  t.teardown(() => { c.close() })
  const seen: string[] = []
  let page: FindPage = await c.request('find', { target: {}, uri: 'lakefs://meta/main/img/', meta: { label: 'cat' }, scan: 5 })
  t.equal(page.commit, two.id)
  let requests = 1
  for (;;) {
    t.ok(page.scanned <= 5, `a page scans at most 5 entries (${page.scanned})`)
    seen.push(...page.matches.map(s => s.path))
    if (!page.hasMore) break
    page = await c.request('find', { target: {}, uri: `lakefs://meta/${page.commit}/img/`, meta: { label: 'cat' }, after: page.nextAfter, scan: 5 })
    requests++
  }
  t.ok(requests >= 6, `26 entries took ${requests} requests`)
  t.equal(seen.length, 10)

  // commits by metadata
  let log = await lk.json<Commit[]>(['log', 'lakefs://meta/main', '--meta', 'stage=one'])
  t.same(log.map(x => x.id), [one.id])
  log = await lk.json<Commit[]>(['log', 'lakefs://meta/main', '--meta', 'team=vision'])
  t.same(log.map(x => x.id), [two.id, one.id])
  log = await lk.json<Commit[]>(['log', 'lakefs://meta/main', '--meta', 'team=vision', '--amount', '1'])
  t.same(log.map(x => x.id), [two.id], 'amount counts matches')
  log = await lk.json<Commit[]>(['log', 'lakefs://meta/main', '--meta', 'team=vision', '--meta', 'stage=three'])
  t.same(log, [])
})
