// The pinned commit's listing cache (BaseView) stays within its entry budget: whole directories
// are evicted least recently used first, asked again when needed (a readdir re-lists, a lookup of
// one child stats it), a directory bigger than the budget is kept while it is the one in use, and
// a write mount's staged changes are never lost to an eviction.

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ContentCache } from '../../lib/cache/index.js'
import { branchName, refExpr, repoName, type CommitId, type ObjectPath } from '../../lib/core/ids.js'
import { BaseView } from '../../lib/fs/base.js'
import { openMountSession } from '../../lib/fs/index.js'
import { MemoryRemote } from '../support/memory-remote.js'

const repo = repoName('base')
const main = branchName('main')

/** `d00/f000` ...: `dirs` directories of `files` files, plus one directory of `big` files */
async function seeded (dirs: number, files: number, big = 0): Promise<{ remote: MemoryRemote, head: CommitId }> {
  const remote = new MemoryRemote()
  await remote.createRepo(repo)
  const base = await remote.resolveRef(repo, 'main')
  const changes = []
  for (let d = 0; d < dirs; d++) {
    for (let f = 0; f < files; f++) changes.push({ op: 'put' as const, path: `d${String(d).padStart(2, '0')}/f${String(f).padStart(3, '0')}` as ObjectPath, content: { kind: 'buffer' as const, data: Buffer.from(`${d}/${f}`) } })
  }
  for (let f = 0; f < big; f++) changes.push({ op: 'put' as const, path: `big/f${String(f).padStart(4, '0')}` as ObjectPath, content: { kind: 'buffer' as const, data: Buffer.from(`big ${f}`) } })
  const c = await remote.commitChanges(repo, main, changes, { base, message: 'seed' })
  return { remote, head: c.id }
}

t.test('listings stay within the entry budget; evicted directories are listed again, correctly', async t => {
  const { remote, head } = await seeded(20, 50)
  const view = new BaseView(remote, repo, head, '', { maxEntries: 200, maxKnown: 10 })
  const first = new Map<string, string[]>()
  for (const name of (await view.list('')).keys()) {
    first.set(name, [...(await view.list(name)).keys()])
    t.ok(view.memory().entries <= 200 + 51 + 21, `within the budget (plus the newest and last used listings) after ${name}`)
  }
  const m = view.memory()
  t.ok(m.evictedDirs >= 15, `whole directories were evicted (${m.evictedDirs})`)
  t.ok(m.dirs <= 5, `few listings held (${m.dirs})`)
  t.notOk(view.isListed('d00'), 'the first directory was evicted')
  t.equal(view.lookupSync('d00/f001'), undefined, 'a child of an evicted directory needs the async path')

  // a lookup of one child of an evicted directory stats it (one call), it does not re-list
  const lists = remote.callCount('listObjects')
  const stats = remote.callCount('statObject')
  const node = await view.lookup('d00/f001')
  t.equal(node?.kind, 'file')
  t.equal(node?.kind === 'file' ? node.stat.path : '', 'd00/f001')
  t.equal(remote.callCount('statObject'), stats + 1)
  t.equal(remote.callCount('listObjects'), lists, 'no listing for a single lookup')
  t.equal(view.lookupSync('d00/f001')?.kind, 'file', 'and then it is answered from memory')

  // listing it again gives the same names (the commit is pinned) with one more listing call
  t.same([...(await view.list('d00')).keys()], first.get('d00'))
  t.equal(remote.callCount('listObjects'), lists + 1)
  t.equal(view.lookupSync('d00/f049')?.kind, 'file')
  t.equal(view.lookupSync('d00/nope'), null, 'an absent child of a listed directory is known absent')
  t.ok(view.memory().known <= 10, 'single lookups are bounded too')
})

t.test('a listing in use is kept, even when bigger than the whole budget', async t => {
  const { remote, head } = await seeded(3, 10, 300)
  const view = new BaseView(remote, repo, head, '', { maxEntries: 100 })
  await view.list('big')
  t.equal(view.lookupSync('big/f0007')?.kind, 'file')
  // `ls -l big` meets the root and a sibling in between: the big listing being read stays
  await view.list('')
  await view.list('d00')
  t.ok(view.isListed('big'), 'the last used listing is not evicted by a newer one')
  t.equal(view.lookupSync('big/f0299')?.kind, 'file', 'and its children are answered from memory')
  // once something else is in use, it goes
  t.equal(view.lookupSync('d00/f001')?.kind, 'file')
  await view.list('d01')
  t.notOk(view.isListed('big'), 'evicted once another listing is the one in use')
})

t.test('a mount over a budget smaller than the tree: readdir, getattr and reads stay right; staged changes are never evicted', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-base-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const { remote } = await seeded(12, 30)
  const cache = await ContentCache.open({ dir: join(dir, 'cache'), maxBytes: 1 << 24, chunkSize: 64 })
  t.teardown(async () => { await cache.close() })
  const s = await openMountSession({ remote, repo, ref: refExpr('main'), write: true, cache, stateDir: join(dir, 'state'), listingBudget: 40 })
  t.teardown(async () => { await s.close() })
  const fs = s.fs

  // a staged file and a staged delete in d00, before d00 is evicted
  const fh = await fs.create('/d00/new', 0o644, 0o101)
  await fs.write('/d00/new', fh, Buffer.from('staged'), 6, 0)
  await fs.release('/d00/new', fh)
  await fs.unlink('/d00/f003')

  for (let d = 0; d < 12; d++) {
    const p = `/d${String(d).padStart(2, '0')}`
    const names = await fs.readdir(p)
    for (const n of names) {
      const a = fs.getattrSync(`${p}/${n}`) ?? await fs.getattr(`${p}/${n}`)
      t.equal(a.mode & 0o170000, 0o100000)
    }
  }
  // d00 is long evicted: its staged overlay is intact
  t.equal(fs.getattrSync('/d00/f001'), undefined, 'an evicted child is not answered synchronously')
  t.equal((await fs.getattr('/d00/f001')).size, 3, '... but asynchronously')
  const names = await fs.readdir('/d00')
  t.equal(names.length, 30, '30 files - 1 deleted + 1 staged')
  t.ok(names.includes('new'), 'the staged file is listed after the re-listing')
  t.notOk(names.includes('f003'), 'the staged delete still hides the committed file')
  t.equal((await fs.getattr('/d00/new')).size, 6)
  t.equal(await fs.getattr('/d00/f003').then(() => 'ok', (e: { errno?: string }) => e.errno), 'ENOENT')
  const rfh = await fs.open('/d00/f002', 0)
  const buf = Buffer.alloc(16)
  const n = await fs.read('/d00/f002', rfh, buf, 16, 0)
  t.equal(buf.subarray(0, n).toString(), '0/2', 'a committed file of an evicted directory reads')
  await fs.release('/d00/f002', rfh)
  t.same((await s.diff()).map(e => `${e.type} ${e.path}`), ['removed d00/f003', 'added d00/new'])
})

t.test('keys that map to no file name are hidden from listings, told once each; dir/ markers make directories', async t => {
  const { LocalRemote } = await import('../../lib/remote/local.js')
  const dir = await mkdtemp(join(tmpdir(), 'lk-base-keys-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const remote = await LocalRemote.open({ dir, fsync: false })
  t.teardown(async () => { await remote.close() })
  await remote.createRepo(repo)
  const keys = ['ok.txt', 'marker/', 'dir/a//b', 'dir/../up.txt', 'dir/./dot.txt', 'dir/ok.txt', '../escape.txt']
  const base = await remote.resolveRef(repo, 'main')
  const c = await remote.commitChanges(repo, main, keys.map(k => ({ op: 'put' as const, path: k as ObjectPath, content: { kind: 'buffer' as const, data: Buffer.from(k) } })), { base, message: 'odd keys' })
  const hidden: string[] = []
  const view = new BaseView(remote, repo, c.id, '', { onHidden: k => { hidden.push(k) } })
  t.same([...(await view.list('')).keys()].sort(), ['dir', 'marker', 'ok.txt'], "'..' rolls up to '../': hidden")
  t.equal((await view.list('marker')).size, 0, 'a dir/ marker is an empty directory')
  t.same([...(await view.list('dir')).keys()].sort(), ['a', 'ok.txt'], "'.' and '..' entries are hidden")
  t.same([...(await view.list('dir/a')).keys()], [], "the '' of a//b is hidden")
  t.same(hidden.sort(), ['../', 'dir/../', 'dir/./', 'dir/a//'])
  t.same((await view.listRecursive('dir')).map(s => s.path), ['dir/ok.txt'], 'a directory rename moves only what the tree shows')
  t.same(await view.lookup('marker'), { kind: 'dir' })
})
