// The unit file and the installer, checked without running systemd: `systemd-analyze verify`
// accepts the installed unit with no warning at all; the directives this project relies on are
// present (Type=notify with NotifyAccess=all, ExecReload by SIGHUP, KillMode=mixed, a stop timeout
// above the daemon's, the FUSE device allowed); config.example.yaml parses with the daemon's own
// parser; and the config parser refuses mistakes with the key's path.

import t from 'tap'
import { readFile } from 'node:fs/promises'
import { accessSync, constants as fsc, statSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_SHUTDOWN_TIMEOUT_SEC, parseConfig, parseDuration } from '../../lib/config/index.js'
import { LkError } from '../../lib/core/errors.js'
import { PathPolicy } from '../../daemon/policy.js'
import { parseMountArgs } from '../../cli/mount-helper.js'
import { sh } from '../support/fuse.js'
import { REPO, installUnit, one } from '../support/service.js'

t.test('systemd-analyze verify accepts the installed unit', async (t) => {
  const u = await installUnit(t)
  const which = await sh('sh', ['-c', 'command -v systemd-analyze'])
  if (which.code !== 0) { t.plan(0, 'systemd-analyze is not installed here'); return }
  const r = await sh('systemd-analyze', ['verify', u.file])
  t.equal(r.code, 0, `verify: ${r.stderr}`)
  t.equal(r.stderr.trim(), '', 'no warning either (unknown keys only warn)')
  t.equal(statSync(u.file).mode & 0o777, 0o644)
  t.ok(u.text.includes(`${process.execPath} ${REPO}/dist/daemon/main.js`), 'ExecStart runs this node and this tree')
  // a broken unit is caught (so the check above means something)
  const bad = join(u.root, 'etc', 'systemd', 'system', 'lk-broken.service')
  const { writeFile } = await import('node:fs/promises')
  await writeFile(bad, u.text.replace('KillMode=mixed', 'KillMode=mixed\nDeviceAlow=/dev/fuse rw').replace(/ExecStop=\S+/, 'ExecStop=/nonexistent/bin/lk-mount'))
  const rb = await sh('systemd-analyze', ['verify', bad])
  t.not(rb.code, 0, 'a unit whose ExecStop does not exist fails verify')
  t.match(rb.stderr, /Unknown key 'DeviceAlow'/, 'a misspelt directive is reported')
})

t.test('the example .mount unit verifies', async (t) => {
  const which = await sh('sh', ['-c', 'command -v systemd-analyze'])
  if (which.code !== 0) { t.plan(0, 'systemd-analyze is not installed here'); return }
  const r = await sh('systemd-analyze', ['verify', join(REPO, 'systemd', 'data-images.mount')])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr.trim(), '')
  const text = await readFile(join(REPO, 'systemd', 'data-images.mount'), 'utf8')
  t.match(text, /^Type=fuse\.lk-mount$/m)
  t.match(text, /^Requires=lk-mountd\.service$/m)
})

t.test('the directives the daemon depends on', async (t) => {
  const u = await installUnit(t)
  t.equal(one(u, 'Type'), 'notify')
  t.equal(one(u, 'NotifyAccess'), 'all', 'systemd-notify is a child of the daemon')
  t.match(one(u, 'ExecReload'), /^\/bin\/kill -HUP \$MAINPID$/)
  t.match(one(u, 'ExecStop'), /daemon stop --timeout \d+$/, 'ExecStop waits for the exit (a bare kill would make systemd\'s SIGTERM the forcing second signal)')
  t.equal(one(u, 'KillMode'), 'mixed')
  t.equal(one(u, 'DeviceAllow'), '/dev/fuse rw')
  t.equal(one(u, 'DevicePolicy'), 'closed')
  t.match(one(u, 'CapabilityBoundingSet'), /CAP_SYS_ADMIN/)
  const stopSec = Number(one(u, 'TimeoutStopSec'))
  const execStopTimeout = Number(/--timeout (\d+)/.exec(one(u, 'ExecStop'))?.[1])
  t.ok(stopSec > execStopTimeout && execStopTimeout > DEFAULT_SHUTDOWN_TIMEOUT_SEC, `TimeoutStopSec ${stopSec} > ExecStop's wait ${execStopTimeout} > the daemon's default ${DEFAULT_SHUTDOWN_TIMEOUT_SEC} s`)
  for (const k of ['PrivateMounts', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'MountFlags']) {
    t.notOk(u.service.has(k), `${k} is absent: it would hide the daemon's mounts or mount points from the machine`)
  }
  for (const h of ['mount.fuse.lk-mount', 'umount.fuse.lk-mount']) {
    const f = join(u.root, 'sbin', h)
    accessSync(f, fsc.X_OK)
    t.match(await readFile(f, 'utf8'), new RegExp(`exec "${process.execPath}" "${REPO}/dist/cli/mount-helper.js"`), `${h} runs this tree`)
  }
})

t.test('config.example.yaml and config errors', async (t) => {
  const example = await readFile(join(REPO, 'systemd', 'config.example.yaml'), 'utf8')
  const c = parseConfig(example, 'config.example.yaml')
  t.equal(c.cache.sizeBytes, 100 * 1024 ** 3)
  t.same(c.mountRoots, ['/data', '/mnt'])
  t.equal(c.shutdownTimeoutSec, 90)
  t.equal(c.cache.listingEntries, 100_000, 'the example raises the listing budget')
  // the commented-out mounts are valid too
  const uncommented = example.replace(/^mounts: \[\]\n/m, 'mounts:\n').replace(/^#( {2}- uri| {4}\w| {6}\w)/gm, '$1')
  const full = parseConfig(uncommented, 'uncommented')
  t.equal(full.mounts.length, 2)
  t.equal(full.mounts[0]?.xattrs, false, 'xattrs: false is read')
  t.same(full.mounts[1], { uri: 'lakefs://images/exp-42', mountpoint: '/data/out', write: true, allowOther: false, onUnmount: 'commit', message: 'outputs of this node', metadata: { node: 'gpu-07' } })
  const bad = (text: string, re: RegExp): void => {
    let got: unknown
    try { parseConfig(text, 'f.yaml') } catch (e) { got = e }
    t.ok(got instanceof LkError && got.code === 'LK_CONFIG' && re.test(got.message), `${JSON.stringify(text)} -> ${String(re)}: ${String((got as Error | undefined)?.message)}`)
  }
  bad('mounts:\n  - { uri: "lakefs://repo/main", mountpoint: "/d", wirte: true }\n', /mounts\[0\]: unknown key "wirte"/)
  bad('cache:\n  listingEntries: 10\n', /cache\.listingEntries: 10 is not a number of entries of at least 1000/)
  bad('cache:\n  listingEntries: lots\n', /cache\.listingEntries/)
  t.equal(parseConfig('cache:\n  listingEntries: 250_000\n', 'f.yaml').cache.listingEntries, 250_000, 'written with separators')
  bad('mounts:\n  - { uri: "lakefs://repo/main", mountpoint: "rel" }\n', /mounts\[0\]\.mountpoint: must be an absolute path/)
  bad('mounts:\n  - { uri: "s3://r/main", mountpoint: "/d" }\n', /mounts\[0\]\.uri/)
  bad('mounts:\n  - { uri: "lakefs://repo/main", mountpoint: "/d" }\n  - { uri: "lakefs://repo/dev", mountpoint: "/d/" }\n', /declared twice/)
  bad('socket:\n  mode: "0666"\n', /0600 .* or 0660/)
  bad('socket:\n  mode: "0660"\n', /needs a group/)
  bad('cache:\n  size: lots\n', /cache\.size/)
  bad('shutdown:\n  timeout: soon\n', /not a duration/)
  bad('metrics:\n  listen: 9464\n', /metrics\.listen/)
  bad('a: [\n', /not valid YAML/)
  t.equal(parseDuration('2m', 'x'), 120)
  t.equal(parseDuration('300ms', 'x'), 0.3)
})

t.test('path policy', async (t) => {
  const p = new PathPolicy({ daemonDirs: ['/var/lib/lk-mount', '/var/cache/lk-mount'], mountRoots: ['/data'] })
  const code = (use: 'mountpoint' | 'store', path: string): string => { try { p.check(use, path); return 'ok' } catch (e) { return (e as LkError).code } }
  t.equal(code('mountpoint', '/data/x'), 'ok')
  t.equal(code('mountpoint', '/data'), 'LK_PATH_FORBIDDEN', 'not the root itself')
  t.equal(code('mountpoint', '/data/../etc/x'), 'LK_PATH_FORBIDDEN')
  t.equal(code('mountpoint', '/'), 'LK_PATH_FORBIDDEN')
  t.equal(code('store', '/var/lib/lk-mount/state'), 'LK_PATH_FORBIDDEN')
  t.equal(code('store', '/var'), 'LK_PATH_FORBIDDEN', 'nothing that contains the daemon\'s dirs')
  t.equal(code('store', '/srv/store'), 'ok', 'mountRoots constrain mount points only')
})

t.test('mount helper options', async (t) => {
  const m = parseMountArgs(['lakefs://repo/main', '/data/x', '-o', 'rw,_netdev,nofail,x-systemd.automount,cache-size=100G,on-unmount=keep,message=hello world,meta.run=7,allow_other', '-n'])
  t.same(m, { source: 'lakefs://repo/main', mountpoint: '/data/x', write: true, allowOther: true, cacheSize: 100 * 1024 ** 3, onUnmount: 'keep', message: 'hello world', metadata: { run: '7' }, fake: false, verbose: false })
  t.equal(parseMountArgs(['lakefs://repo/main', '/d', '-o', 'defaults']).write, false, 'read-only unless rw is asked')
  t.equal(parseMountArgs(['lakefs://repo/main', '/d', '-o', 'ro,noxattrs']).xattrs, false, 'noxattrs turns extended attributes off')
  t.equal(parseMountArgs(['lakefs://repo/main', '/d', '-o', 'ro']).xattrs, undefined, 'served unless asked')
  t.equal(parseMountArgs(['lakefs://repo/main', '/d', '-f']).fake, true)
  t.throws(() => parseMountArgs(['lakefs://repo/main', '/d', '-o', 'uid=5']), /unknown option "uid=5"/)
  t.throws(() => parseMountArgs(['/d']), /expected SOURCE and DIRECTORY/)
})
