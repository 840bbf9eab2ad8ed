// Mounts through the CLI and a real daemon process with real FUSE: read-only round trip, write
// mount with commit and umount, keep + resume, a conflict at unmount, and kill -9 of the daemon
// followed by a restart that finds the staged mount and settles it. Where /dev/fuse exists these
// FAIL if mounting does not work; they skip (loudly) only without /dev/fuse.

import t, { type Test } from 'tap'
import { readFile, writeFile, readdir, stat } from 'node:fs/promises'
import { writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { waitGone, type CliHome } from '../support/cli.js'
import { fuseAvailable, procMountsLine, sh } from '../support/fuse.js'
import { seededCliHome } from '../support/cli-dataset.js'

interface Status { mountpoint: string, uri: string, state: string, pinnedCommit: string, write: boolean, stats: { stagedPaths: number } }
interface Commit { id: string, message: string, metadata: Record<string, string> }

async function setup (t: Test): Promise<{ lk: CliHome, base: string, first: Commit }> {
  const { lk, base, commit } = await seededCliHome(t, 'lkm-', { 'train/a.txt': 'alpha\n', 'b.txt': 'beta\n' })
  return { lk, base, first: commit }
}

t.test('read-only mount round trip', async t => {
  if (!fuseAvailable(t)) return
  const { lk, base, first } = await setup(t)
  const mp = join(base, 'ro')
  let r = await lk.run(['mount', 'lakefs://dset/main', mp])
  t.equal(r.code, 0, `mount: ${r.stderr}`)
  t.match(r.stdout, /read-only/)
  t.ok(await procMountsLine(mp), 'mounted in the kernel')
  t.equal(await readFile(join(mp, 'train', 'a.txt'), 'utf8'), 'alpha\n')
  t.same((await readdir(mp)).sort(), ['b.txt', 'train'])
  const st = await lk.json<Status>(['status', mp])
  t.equal(st.state, 'mounted')
  t.equal(st.pinnedCommit, first.id, 'pinned to the commit main had')
  r = await lk.run(['mount', 'lakefs://dset/main', mp])
  t.equal(r.code, 7, 'mounting twice at one place is LK_MOUNTPOINT_BUSY')
  r = await lk.run(['mount', 'lakefs://dset/main', join(base, 'ro2'), '--write'])
  t.equal(r.code, 0, r.stderr)
  r = await lk.run(['umount', join(base, 'ro2'), '--discard'])
  t.equal(r.code, 0, r.stderr)
  // prefetch through the CLI fills the cache; a mount with --cache-dir uses its own cache
  const pf = await lk.json<{ files: number, bytes: number }>(['prefetch', mp])
  t.same(pf, { files: 2, bytes: 'alpha\n'.length + 'beta\n'.length })
  r = await lk.run(['prefetch', join(base, 'src')])
  t.equal(r.code, 3, 'prefetch outside a mount is LK_NOT_MOUNTED')
  const own = join(base, 'own-cache')
  const mp3 = join(base, 'ro3')
  r = await lk.run(['mount', 'lakefs://dset/main', mp3, '--cache-dir', own, '--cache-size', '10M'])
  t.equal(r.code, 0, r.stderr)
  t.equal(await readFile(join(mp3, 'b.txt'), 'utf8'), 'beta\n')
  const cached = (await readdir(own)).filter(n => n !== 'tmp')
  t.ok(cached.length > 0, 'the mount\'s own cache directory holds the fetched chunk')
  r = await lk.run(['umount', mp3])
  t.equal(r.code, 0, r.stderr)
  r = await lk.run(['umount', mp])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /nothing to commit/, 'a read-only mount says nothing was staged')
  t.equal(await procMountsLine(mp), undefined, 'unmounted')
  t.same(await readdir(mp), [], 'the mount point is an empty directory again')
  const all = await lk.json<{ mounts: unknown[] }>(['status'])
  t.same(all.mounts, [])
})

t.test('--no-xattrs: no extended attributes, the pinned commit still in the control file', async t => {
  if (!fuseAvailable(t)) return
  const { lk, base, first } = await setup(t)
  const mp = join(base, 'nx')
  let r = await lk.run(['mount', 'lakefs://dset/main', mp, '--no-xattrs'])
  t.equal(r.code, 0, `mount: ${r.stderr}`)
  t.equal(await readFile(join(mp, 'train', 'a.txt'), 'utf8'), 'alpha\n')
  const ls = await sh('ls', ['-l', join(mp, 'train')])
  t.match(ls.stdout, /a\.txt/, `ls -l works: ${ls.stderr}`)
  const x = await sh('getfattr', ['--absolute-names', '-n', 'user.lakefs.commit', mp])
  t.match(x.stderr, /Operation not supported/, 'the root\'s commit xattr is not served')
  const info = JSON.parse(await readFile(join(mp, '.lakefs-mount.json'), 'utf8')) as { commit?: string }
  t.equal(info.commit, first.id, 'the control file still names the pinned commit')
  r = await lk.run(['umount', mp])
  t.equal(r.code, 0, r.stderr)
  // and the default serves them
  r = await lk.run(['mount', 'lakefs://dset/main', mp])
  t.equal(r.code, 0, r.stderr)
  const y = await sh('getfattr', ['--absolute-names', '-n', 'user.lakefs.commit', '--only-values', mp])
  t.equal(y.stdout, first.id, 'served by default')
  r = await lk.run(['umount', mp])
  t.equal(r.code, 0, r.stderr)
})

t.test('write mount: diff, commit, umount commits', async t => {
  if (!fuseAvailable(t)) return
  const { lk, base, first } = await setup(t)
  const mp = join(base, 'rw')
  let r = await lk.run(['mount', 'lakefs://dset/main', mp, '--write', '-m', 'run outputs', '--meta', 'run=17'])
  t.equal(r.code, 0, `mount: ${r.stderr}`)
  await writeFile(join(mp, 'out.txt'), 'result 1\n')
  await writeFile(join(mp, 'b.txt'), 'beta v2\n')
  const d = await lk.json<Array<{ path: string, type: string }>>(['diff', mp])
  t.same(d.map(e => [e.path, e.type]), [['b.txt', 'changed'], ['out.txt', 'added']])
  const c1 = await lk.json<Commit>(['commit', mp, '-m', 'midway', '--meta', 'step=1'])
  t.equal(c1.message, 'midway')
  t.equal(c1.metadata.step, '1')
  const st = await lk.json<Status>(['status', mp])
  t.equal(st.pinnedCommit, c1.id, 're-pinned to its commit')
  t.equal(st.stats.stagedPaths, 0)
  await writeFile(join(mp, 'train', 'c.txt'), 'gamma\n')
  r = await lk.run(['umount', mp, '--json'])
  t.equal(r.code, 0, r.stderr)
  const u = JSON.parse(r.stdout) as { action: string, commit: Commit }
  t.equal(u.action, 'commit')
  t.equal(u.commit.message, 'run outputs')
  t.equal(u.commit.metadata.run, '17')
  t.equal(await procMountsLine(mp), undefined)
  r = await lk.run(['cat', 'lakefs://dset/main/train/c.txt'])
  t.equal(r.stdout, 'gamma\n')
  const log = await lk.json<Commit[]>(['log', 'lakefs://dset/main'])
  t.same(log.slice(0, 3).map(c => c.id), [u.commit.id, c1.id, first.id])
})

t.test('keep, resume, and a conflict at unmount keeps the changes', async t => {
  if (!fuseAvailable(t)) return
  const { lk, base } = await setup(t)
  const mp = join(base, 'k')
  let r = await lk.run(['mount', 'lakefs://dset/main', mp, '--write'])
  t.equal(r.code, 0, r.stderr)
  await writeFile(join(mp, 'b.txt'), 'mine\n')
  r = await lk.run(['umount', mp, '--keep'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /1 staged changes kept/, 'the kept count is reported')
  t.equal(await procMountsLine(mp), undefined)
  let st = await lk.json<Status>(['status', mp])
  t.equal(st.state, 'staged')
  t.equal(st.stats.stagedPaths, 1)
  r = await lk.run(['mount', 'lakefs://dset/main', mp])
  t.equal(r.code, 7, 'a read-only mount cannot take the place of staged changes')
  r = await lk.run(['mount', 'lakefs://dset/main', mp, '--write'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /1 staged changes resumed/)
  t.equal(await readFile(join(mp, 'b.txt'), 'utf8'), 'mine\n', 'resumed changes are visible')

  // someone else changes the same path on main
  const other = join(base, 'other')
  mkdirSync(other)
  writeFileSync(join(other, 'b.txt'), 'theirs\n')
  r = await lk.run(['import', other, 'lakefs://dset/main'])
  t.equal(r.code, 0, r.stderr)
  r = await lk.run(['umount', mp])
  t.equal(r.code, 4, 'the commit conflicts')
  t.match(r.stderr, /b\.txt/)
  t.equal(await procMountsLine(mp), undefined, 'the mount point is clean anyway')
  st = await lk.json<Status>(['status', mp])
  t.equal(st.state, 'staged', 'changes kept')
  r = await lk.run(['cat', 'lakefs://dset/main/b.txt'])
  t.equal(r.stdout, 'theirs\n', 'nothing was overwritten')
  r = await lk.run(['umount', mp, '--discard'])
  t.equal(r.code, 0, r.stderr)
  r = await lk.run(['status', mp])
  t.equal(r.code, 3, 'settled')
})

t.test('daemon kill -9, restart shows the staged mount, umount --commit settles it', async t => {
  if (!fuseAvailable(t)) return
  const { lk, base } = await setup(t)
  const mp = join(base, 'crash')
  let r = await lk.run(['mount', 'lakefs://dset/dev', mp, '--write'])
  t.equal(r.code, 3, 'unknown branch')
  r = await lk.run(['branch', 'create', 'lakefs://dset/dev', '--source', 'lakefs://dset/main'])
  r = await lk.run(['mount', 'lakefs://dset/dev', mp, '--write', '-m', 'from the crashed run'])
  t.equal(r.code, 0, r.stderr)
  await writeFile(join(mp, 'survivor.txt'), 'I was closed before the crash\n')
  const pid = lk.daemonPid()
  if (pid === undefined) throw new Error('no daemon pid')
  process.kill(pid, 'SIGKILL')
  t.ok(await waitGone(pid, 10_000))
  const dead = await stat(mp).then(() => 'ok', (e: NodeJS.ErrnoException) => e.code)
  const line = await procMountsLine(mp)
  t.ok(dead === 'ENOTCONN' || line === undefined, `the FUSE mount died with the daemon (stat: ${dead}, mounted: ${line ?? 'no'})`)

  r = await lk.run(['daemon'])
  t.equal(r.code, 0, r.stderr)
  const st = await lk.json<Status>(['status', mp])
  t.equal(st.state, 'staged')
  t.equal(st.stats.stagedPaths, 1)
  t.equal(await procMountsLine(mp), undefined, 'the stale mount was detached')
  r = await lk.run(['umount', mp, '--commit', '--json'])
  t.equal(r.code, 0, r.stderr)
  const u = JSON.parse(r.stdout) as { commit: Commit }
  t.equal(u.commit.message, 'from the crashed run')
  r = await lk.run(['cat', 'lakefs://dset/dev/survivor.txt'])
  t.equal(r.stdout, 'I was closed before the crash\n')
  r = await lk.run(['status', mp])
  t.equal(r.code, 3, 'nothing left')
})

t.test('daemon stop applies each mount\'s policy', async t => {
  if (!fuseAvailable(t)) return
  const { lk, base } = await setup(t)
  const mpc = join(base, 'commit-me')
  const mpk = join(base, 'keep-me')
  let r = await lk.run(['branch', 'create', 'lakefs://dset/side', '--source', 'lakefs://dset/main'])
  t.equal(r.code, 0, r.stderr)
  r = await lk.run(['mount', 'lakefs://dset/main', mpc, '--write', '-m', 'at shutdown'])
  t.equal(r.code, 0, r.stderr)
  r = await lk.run(['mount', 'lakefs://dset/side', mpk, '--write', '--on-unmount', 'keep'])
  t.equal(r.code, 0, r.stderr)
  await writeFile(join(mpc, 'c.txt'), 'committed by stop\n')
  await writeFile(join(mpk, 'k.txt'), 'kept by stop\n')
  r = await lk.run(['daemon', 'stop'])
  t.equal(r.code, 0, r.stderr)
  t.equal(await procMountsLine(mpc), undefined)
  t.equal(await procMountsLine(mpk), undefined)
  r = await lk.run(['cat', 'lakefs://dset/main/c.txt']) // starts a new daemon
  t.equal(r.stdout, 'committed by stop\n')
  const log = await lk.json<Commit[]>(['log', 'lakefs://dset/main', '-n', '1'])
  t.equal(log[0]?.message, 'at shutdown')
  const st = await lk.json<Status>(['status', mpk])
  t.equal(st.state, 'staged', 'the keep mount waits for the next start')
  t.equal(st.stats.stagedPaths, 1)
  r = await lk.run(['umount', mpk, '--commit', '-m', 'later'])
  t.equal(r.code, 0, r.stderr)
  r = await lk.run(['cat', 'lakefs://dset/side/k.txt'])
  t.equal(r.stdout, 'kept by stop\n')
})
