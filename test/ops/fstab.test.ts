// The mount(8) helper: with /sbin/mount.fuse.lk-mount and /sbin/umount.fuse.lk-mount installed
// (by scripts/install-systemd.sh's output, pointing at this tree), `mount -t fuse.lk-mount`, an
// fstab line (`mount -T <fstab> DIR`, what systemd's fstab generator's .mount units run) and
// `umount` work from a shell; the helper starts the daemon when none answers. The helpers are
// put into /sbin only for this test and removed afterwards (skipped when some other copy is there).

import t from 'tap'
import { spawn } from 'node:child_process'
import { copyFile, readFile, readdir, rm, writeFile, mkdir, chmod, stat } from 'node:fs/promises'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalRemote } from '../../lib/remote/local.js'
import { fuseAvailable, sh } from '../support/fuse.js'
import { B, P, R, buf } from '../support/store.js'
import { NotifyListener, REPO, cli, execLine, execStart, installUnit, mountedAt, serviceEnv, type ServiceEnv } from '../support/service.js'

const HELPERS = ['mount.fuse.lk-mount', 'umount.fuse.lk-mount']

async function seed (s: ServiceEnv): Promise<void> {
  const remote = await LocalRemote.open({ dir: join(s.home, 'store') })
  await remote.createRepo(R('demo'))
  await remote.putObject(R('demo'), B('main'), P('a.txt'), buf('alpha\n'))
  await remote.commit(R('demo'), B('main'), { message: 'seed' })
  await remote.close()
}

function mountinfo (dir: string): { fstype: string, opts: string, source: string } | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ')
    if (f[4] !== dir) continue
    const sep = f.indexOf('-')
    return { fstype: f[sep + 1] ?? '', source: f[sep + 2] ?? '', opts: `${f[5] ?? ''},${f[sep + 3] ?? ''}` }
  }
  return undefined
}

t.test('mount -t fuse.lk-mount, fstab lines and umount through the helpers', async (t) => {
  if (!fuseAvailable(t)) return
  if (HELPERS.some(h => existsSync(join('/sbin', h)))) {
    t.plan(0, '/sbin already has an lk-mount helper (not installed by this test): not replacing it')
    return
  }
  const u = await installUnit(t)
  t.teardown(async () => { for (const h of HELPERS) await rm(join('/sbin', h), { force: true }) })
  for (const h of HELPERS) await copyFile(join(u.root, 'sbin', h), join('/sbin', h))
  for (const h of HELPERS) await chmod(join('/sbin', h), 0o755)

  const s = await serviceEnv(t, u, '')
  await writeFile(s.config, `mountRoots: [${s.dir}]\n`)
  await seed(s)
  const env = { ...s.env, LK_MOUNT_CONFIG: s.config }
  const n = await NotifyListener.start(t, s.dir)
  const d = execStart(t, u, s, n)
  await n.waitFor('READY', '1')

  // 1. mount -t from a shell
  const x = join(s.dir, 'x')
  await mkdir(x)
  const t0 = Date.now()
  const m = await sh('mount', ['-t', 'fuse.lk-mount', 'lakefs://demo/main', x, '-o', '_netdev,ro,cache-size=100M'], { env })
  t.equal(m.code, 0, `mount -t fuse.lk-mount: ${m.stderr}`)
  t.comment(`mount -t fuse.lk-mount took ${Date.now() - t0} ms`)
  t.same(await readdir(x), ['a.txt'])
  t.equal(await readFile(join(x, 'a.txt'), 'utf8'), 'alpha\n')
  const info = mountinfo(x)
  t.equal(info?.fstype, 'fuse.lk-mount', 'the kernel lists the type fuse.lk-mount (so umount finds umount.fuse.lk-mount)')
  t.match(info?.opts, /(^|,)ro(,|$)/, 'mounted read-only')
  t.equal(info?.source, 'lakefs://demo/main')
  const um = await sh('umount', [x], { env })
  t.equal(um.code, 0, `umount: ${um.stderr}`)
  t.notOk(await mountedAt(x), 'unmounted')
  const st = JSON.parse((await cli(s, ['status', '--json'])).stdout) as { mounts: unknown[] }
  t.same(st.mounts, [], 'the daemon forgot the mount: umount went through it')

  // 2. an fstab line with a write mount; umount commits with the line's message and metadata
  const w = join(s.dir, 'w')
  await mkdir(w)
  const fstab = join(s.dir, 'fstab')
  await writeFile(fstab, `# test fstab\nlakefs://demo/main ${w} fuse.lk-mount _netdev,rw,on-unmount=commit,message=from-fstab,meta.run=7,x-systemd.requires=lk-mountd.service 0 0\n`)
  const mw = await sh('mount', ['-T', fstab, w], { env })
  t.equal(mw.code, 0, `mount -T fstab: ${mw.stderr}`)
  await writeFile(join(w, 'out.txt'), 'result\n')
  const uw = await sh('umount', [w], { env })
  t.equal(uw.code, 0, `umount of the write mount: ${uw.stderr}`)
  t.notOk(await mountedAt(w))
  const log = JSON.parse((await cli(s, ['log', 'lakefs://demo/main', '--json'])).stdout) as Array<{ message: string, metadata: Record<string, string> }>
  t.equal(log[0]?.message, 'from-fstab', 'umount committed with the fstab message')
  t.equal(log[0]?.metadata.run, '7', 'and its meta.run option')

  // 3. bad options and forbidden paths fail the way mount(8) expects
  const bad = await sh('mount', ['-t', 'fuse.lk-mount', 'lakefs://demo/main', x, '-o', 'ro,bogus=1'], { env })
  t.not(bad.code, 0, 'an unknown option fails')
  t.match(bad.stderr, /unknown option "bogus=1"/)
  await mkdir('/mnt/lk-ops-test-outside', { recursive: true })
  t.teardown(async () => { await rm('/mnt/lk-ops-test-outside', { recursive: true, force: true }) })
  const outside = await sh('mount', ['-t', 'fuse.lk-mount', 'lakefs://demo/main', '/mnt/lk-ops-test-outside', '-o', 'ro'], { env })
  t.equal(outside.code, 32, 'a mount point outside mountRoots is a mount failure (32)')
  t.match(outside.stderr, /mountRoots/)

  // 4. no daemon: the helper starts one (no systemd here: directly)
  t.equal((await execLine(u, 'ExecStop', s, d.pid)).code, 0)
  await d.exited
  const ms = await sh('mount', ['-t', 'fuse.lk-mount', 'lakefs://demo/main', x, '-o', 'ro'], { env })
  const pid = Number((await readFile(join(s.home, 'lk-mountd.pid'), 'utf8').catch(() => '0')).trim())
  t.teardown(() => { try { process.kill(pid, 'SIGKILL') } catch {} })
  t.equal(ms.code, 0, `mount started the daemon: ${ms.stderr}`)
  t.ok(pid > 0, `a daemon runs (pid ${pid})`)
  t.same(await readdir(x), ['a.txt', 'out.txt'], 'it shows main with the commit made by the fstab write mount')
  t.equal((await sh('umount', [x], { env })).code, 0)
  process.kill(pid, 'SIGTERM')
  for (let i = 0; i < 100; i++) { try { process.kill(pid, 0) } catch { break } await new Promise(r => setTimeout(r, 100)) }
  t.notOk(await mountedAt(x))

  // 5. a stale fuse.lk-mount mount point whose server died, with no daemon running: umount still
  //    works (the helper falls back to a plain kernel unmount instead of failing)
  const stale = join(s.dir, 'stale')
  await mkdir(stale)
  const child = spawn(process.execPath, [join(REPO, 'dist', 'test', 'support', 'stale-mount.js'), stale, 'lk-mount'], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  await new Promise<void>(resolve => { child.stdout?.once('data', () => { resolve() }) })
  child.kill('SIGKILL')
  await new Promise(r => child.once('exit', r))
  t.equal(mountinfo(stale)?.fstype, 'fuse.lk-mount', 'a stale fuse.lk-mount mount point is left')
  t.equal(await stat(stale).then(() => 'ok', (e: NodeJS.ErrnoException) => e.code), 'ENOTCONN')
  const us = await sh('umount', [stale], { env })
  t.equal(us.code, 0, `umount of the stale mount point without a daemon: ${us.stderr}`)
  t.notOk(await mountedAt(stale), 'it is gone')
})
