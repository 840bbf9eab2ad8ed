// Sync mode through the real CLI and a real lk-mountd: the whole lifecycle, a conflicting change
// on the branch, keep + resume, and a daemon killed with SIGKILL in the middle of materialising.

import t from 'tap'
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { LocalRemote } from '../../lib/remote/local.js'
import type { ObjectPath } from '../../lib/core/ids.js'
import { daemonFixture } from '../support/daemon.js'
import { MAIN, REPO, commitFiles, readObject, waitFor } from '../support/sync.js'
import type { SyncStatus } from '../../lib/control/methods/index.js'

async function openStore (t: { teardown (fn: () => unknown): void }, dir: string): Promise<LocalRemote> {
  const r = await LocalRemote.open({ dir })
  t.teardown(async () => { await r.close() })
  return r
}

async function syncStatus (d: ReturnType<typeof daemonFixture>, dir: string): Promise<SyncStatus | undefined> {
  const r = await d.cli(['status', dir, '--json', '--no-spawn'])
  if (r.code !== 0) return undefined
  return JSON.parse(r.stdout) as SyncStatus
}

t.test('CLI lifecycle: sync, edit/create/delete/rename, status, diff, commit, stop', async t => {
  const d = daemonFixture(t)
  await d.start()
  const remote = await openStore(t, d.store)
  await remote.createRepo(REPO, { defaultBranch: MAIN })
  await commitFiles(remote, { 'a.txt': 'alpha', 'sub/b.txt': 'bravo', 'sub/c.txt': 'charlie', 'img/1.bin': Buffer.alloc(50_000, 1) })
  const dir = join(d.home, 'work')
  const started = await d.cli(['sync', `lakefs://${REPO}/${MAIN}`, dir, '--commit-every', '1h'])
  t.equal(started.code, 0, started.stderr)
  t.match(started.stdout, /syncing lakefs:\/\/data\/main into .* 4 files, 4 downloaded/)
  t.equal(await readFile(join(dir, 'sub/c.txt'), 'utf8'), 'charlie')

  await writeFile(join(dir, 'a.txt'), 'ALPHA')
  await writeFile(join(dir, 'new.txt'), 'new')
  await rm(join(dir, 'sub/b.txt'))
  await rename(join(dir, 'img'), join(dir, 'images'))
  await waitFor(async () => (await syncStatus(d, dir))?.stagedPaths === 5, 'five staged changes')
  const diff = await d.cli(['diff', dir])
  t.equal(diff.code, 0, diff.stderr)
  t.same(diff.stdout.trim().split('\n'), ['~ a.txt', '+ images/1.bin', '- img/1.bin', '+ new.txt', '- sub/b.txt'])
  const st = await d.cli(['status', dir])
  t.match(st.stdout, /state: +running/)
  t.match(st.stdout, /staged: +5 paths/)

  const c = await d.cli(['commit', dir, '-m', 'edits', '--meta', 'run=1'])
  t.equal(c.code, 0, c.stderr)
  const head = await remote.resolveRef(REPO, MAIN)
  t.equal(await readObject(remote, head, 'a.txt'), 'ALPHA')
  t.equal((await remote.getCommit(REPO, head)).metadata.run, '1')
  t.equal((await remote.statObject(REPO, head, 'images/1.bin' as ObjectPath)).size, 50_000)

  await writeFile(join(dir, 'late.txt'), 'written just before stop')
  const stop = await d.cli(['sync', 'stop', dir, '-m', 'the end'])
  t.equal(stop.code, 0, stop.stderr)
  t.match(stop.stdout, /committed/)
  const head2 = await remote.resolveRef(REPO, MAIN)
  t.equal(await readObject(remote, head2, 'late.txt'), 'written just before stop', 'stop stages the last edits before committing')
  const none = await d.cli(['status', dir, '--no-spawn'])
  t.not(none.code, 0, 'a stopped sync with nothing staged is gone from status')
  t.equal(await readFile(join(dir, 'late.txt'), 'utf8'), 'written just before stop', 'the directory stays')
})

t.test('conflict with the branch: commit and pull refuse, nothing lost; pull --force; keep and resume', async t => {
  const d = daemonFixture(t)
  await d.start()
  const remote = await openStore(t, d.store)
  await remote.createRepo(REPO, { defaultBranch: MAIN })
  await commitFiles(remote, { 'x.txt': 'x1', 'y.txt': 'y1' })
  const dir = join(d.home, 'w')
  t.equal((await d.cli(['sync', `lakefs://${REPO}/${MAIN}`, dir, '--on-stop', 'keep'])).code, 0)
  await writeFile(join(dir, 'x.txt'), 'x-local')
  await waitFor(async () => (await syncStatus(d, dir))?.stagedPaths === 1, 'staged')
  await commitFiles(remote, { 'x.txt': 'x-branch', 'z.txt': 'z-branch' })

  const c = await d.cli(['commit', dir, '-m', 'mine'])
  t.equal(c.code, 4, 'a conflict exits with 4')
  t.match(c.stderr, /conflicting paths \(1\):\n {2}x\.txt/)
  const p = await d.cli(['pull', dir])
  t.equal(p.code, 4)
  t.match(p.stderr, /x\.txt/)
  t.equal(await readFile(join(dir, 'x.txt'), 'utf8'), 'x-local')
  t.equal((await syncStatus(d, dir))?.stagedPaths, 1, 'still staged')

  // keep: stop with the change staged, then resume it with a new sync of the same directory
  const stop = await d.cli(['sync', 'stop', dir])
  t.equal(stop.code, 0, stop.stderr)
  t.match(stop.stdout, /kept/)
  t.equal((await syncStatus(d, dir))?.state, 'staged')
  t.equal((await d.cli(['sync', `lakefs://${REPO}/${MAIN}`, dir])).code, 0)
  t.equal((await syncStatus(d, dir))?.stagedPaths, 1, 'the kept change is resumed')

  const forced = await d.cli(['pull', dir, '--force'])
  t.equal(forced.code, 0, forced.stderr)
  t.match(forced.stdout, /1 local versions moved aside/)
  const aside = forced.stdout.trim().split('\n').at(-1)?.trim() ?? ''
  t.equal(await readFile(aside, 'utf8'), 'x-local', 'the local version is kept aside')
  t.equal(await readFile(join(dir, 'x.txt'), 'utf8'), 'x-branch')
  t.equal(await readFile(join(dir, 'z.txt'), 'utf8'), 'z-branch')
  t.equal((await syncStatus(d, dir))?.stagedPaths, 0)
})

t.test('a daemon killed mid-materialise resumes at restart: nothing intact fetched again, local edits kept', async t => {
  const d = daemonFixture(t)
  await d.start()
  const remote = await openStore(t, d.store)
  await remote.createRepo(REPO, { defaultBranch: MAIN })
  const N = 4000
  const files: Record<string, Buffer> = {}
  for (let i = 0; i < N; i++) files[`d${i % 20}/f${i}.bin`] = Buffer.alloc(16 * 1024, i % 251)
  await commitFiles(remote, files)
  const dir = join(d.home, 'big')
  const bg = d.cliBackground(['sync', `lakefs://${REPO}/${MAIN}`, dir])
  const count = async (): Promise<number> => {
    let n = 0
    for (const sub of await readdir(dir).catch(() => [] as string[])) n += (await readdir(join(dir, sub)).catch(() => [] as string[])).filter(x => !x.startsWith('.')).length
    return n
  }
  await waitFor(async () => await count() >= 600, 'some files downloaded', 60_000)
  await d.kill('SIGKILL')
  const r = await bg.done
  t.not(r.code, 0, 'the sync request failed with the daemon')
  const present = await count()
  t.ok(present < N, `killed part-way (${present} of ${N} present)`)
  // an edit made while no daemon runs
  const edited = (await readdir(join(dir, 'd0'))).filter(x => !x.startsWith('.'))[0] as string
  await writeFile(join(dir, 'd0', edited), 'edited while the daemon was dead')

  await d.start()
  await waitFor(async () => (await syncStatus(d, dir))?.state === 'running', 'the sync resumed', 120_000)
  const st = await syncStatus(d, dir)
  t.equal(await count(), N, 'every file is there')
  t.ok((st?.downloaded ?? N) <= N - present + 20, `only the missing files were downloaded (${st?.downloaded ?? -1} for ${N - present} missing)`)
  t.equal(st?.stagedPaths, 1, 'the edit is staged')
  const diff = await d.cli(['diff', dir])
  t.equal(diff.stdout.trim(), `~ d0/${edited}`)
  const partials = (await readdir(join(dir, 'd1'))).filter(x => x.includes('.lk-partial-'))
  t.same(partials, [], 'no partial download is left')
  // every file is whole: the content matches the branch
  let bad = 0
  for (let i = 0; i < N; i++) {
    const rel = `d${i % 20}/f${i}.bin`
    if (rel === `d0/${edited}`) continue
    const b = await readFile(join(dir, rel))
    if (b.length !== 16 * 1024 || b[0] !== i % 251 || b[b.length - 1] !== i % 251) bad++
  }
  t.equal(bad, 0, 'no half-written file taken for a complete one')
  await stat(dir)
})

t.test('--commit-every commits on a timer; sync stop --discard puts the branch back and keeps the local versions aside', async t => {
  const d = daemonFixture(t)
  await d.start()
  const remote = await openStore(t, d.store)
  await remote.createRepo(REPO, { defaultBranch: MAIN })
  await commitFiles(remote, { 'a.txt': 'a1', 'b.txt': 'b1' })
  const dir = join(d.home, 'timed')
  t.equal((await d.cli(['sync', `lakefs://${REPO}/${MAIN}`, dir, '--commit-every', '2s', '-m', 'periodic'])).code, 0)
  await writeFile(join(dir, 'a.txt'), 'a2')
  await waitFor(async () => {
    const head = await remote.resolveRef(REPO, MAIN)
    return (await readObject(remote, head, 'a.txt')) === 'a2'
  }, 'the periodic commit', 30_000)
  const head = await remote.resolveRef(REPO, MAIN)
  t.equal((await remote.getCommit(REPO, head)).message, 'periodic')

  await writeFile(join(dir, 'b.txt'), 'b-local')
  await writeFile(join(dir, 'c.txt'), 'c-local')
  const stop = await d.cli(['sync', 'stop', dir, '--discard', '--json'])
  t.equal(stop.code, 0, stop.stderr)
  const r = JSON.parse(stop.stdout) as { action: string, movedAside: string[] }
  t.equal(r.action, 'discard')
  t.equal(r.movedAside.length, 2)
  t.equal(await readFile(join(dir, 'b.txt'), 'utf8'), 'b1', 'the branch version is back')
  await t.rejects(stat(join(dir, 'c.txt')), 'the added file left the directory')
  const aside = await Promise.all(r.movedAside.map(async p => await readFile(p, 'utf8')))
  t.same(aside.sort(), ['b-local', 'c-local'], 'nothing is lost')
  t.equal(await remote.resolveRef(REPO, MAIN), head, 'nothing committed')
})

t.test('sync --pull on a resumed sync brings in the branch\'s newer commits and keeps the staged change', async t => {
  const d = daemonFixture(t)
  await d.start()
  const remote = await openStore(t, d.store)
  await remote.createRepo(REPO, { defaultBranch: MAIN })
  await commitFiles(remote, { 'mine.txt': 'm1', 'theirs.txt': 't1' })
  const dir = join(d.home, 'p')
  t.equal((await d.cli(['sync', `lakefs://${REPO}/${MAIN}`, dir])).code, 0)
  await writeFile(join(dir, 'mine.txt'), 'm2')
  t.equal((await d.cli(['sync', 'stop', dir, '--keep'])).code, 0)
  await commitFiles(remote, { 'theirs.txt': 't2', 'more.txt': 'new on the branch' })
  const r = await d.cli(['sync', `lakefs://${REPO}/${MAIN}`, dir, '--pull'])
  t.equal(r.code, 0, r.stderr)
  await waitFor(async () => (await readFile(join(dir, 'more.txt'), 'utf8').catch(() => '')) === 'new on the branch', 'the pull')
  t.equal(await readFile(join(dir, 'theirs.txt'), 'utf8'), 't2')
  t.equal(await readFile(join(dir, 'mine.txt'), 'utf8'), 'm2')
  const st = await syncStatus(d, dir)
  t.equal(st?.stagedPaths, 1, 'the kept change is still staged')
  t.equal(st?.baseCommit, await remote.resolveRef(REPO, MAIN), 'the base is the branch head')
  const stop = await d.cli(['sync', 'stop', dir, '--commit', '-m', 'mine'])
  t.equal(stop.code, 0, stop.stderr)
  t.equal(await readObject(remote, await remote.resolveRef(REPO, MAIN), 'mine.txt'), 'm2')
})
