// lk-mount doctor on this machine, and on the same machine with /dev/fuse hidden (a private
// mount namespace with an empty /dev): each check has a status, a failing one says how to fix
// it, and the exit status is non-zero exactly when something fails.

import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sh } from '../support/fuse.js'
import { CLI } from '../support/service.js'

interface Report { ok: boolean, checks: Array<{ name: string, status: string, detail: string, fix?: string }> }

t.test('doctor here and with /dev/fuse hidden', async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'lk-doctor-'))
  t.teardown(async () => { await rm(home, { recursive: true, force: true }) })
  const env = { ...process.env, LK_MOUNT_HOME: home }
  const r = await sh(process.execPath, [CLI, 'doctor', '--json'], { env })
  const rep = JSON.parse(r.stdout) as Report
  const names = rep.checks.map(c => c.name)
  for (const n of ['node', 'fuse device', 'fusermount', 'libfuse.so.2', 'fuse-native', 'packages', 'mount helper', 'config', 'control socket', 'credentials', 'remote']) t.ok(names.includes(n), `checks ${n}`)
  for (const c of rep.checks) t.ok(['ok', 'warn', 'fail', 'skip'].includes(c.status) && c.detail !== '', `${c.name}: ${c.status} (${c.detail})`)
  for (const c of rep.checks.filter(c => c.status === 'fail' || c.status === 'warn')) t.ok((c.fix ?? '') !== '', `${c.name} says how to fix it`)
  t.equal(r.code, rep.ok ? 0 : 1, 'exit status follows the failures')
  if (rep.checks.find(c => c.name === 'fuse device')?.status !== 'ok') return
  t.equal(rep.checks.find(c => c.name === 'fuse-native')?.status, 'ok', 'the binding loads in a child process')
  t.equal(rep.checks.find(c => c.name === 'control socket')?.status, 'warn', 'no daemon runs for this home: a warning, not a failure')

  const hidden = await sh('unshare', ['-m', 'sh', '-c', `mount -t tmpfs tmpfs /dev && exec "${process.execPath}" "${CLI}" doctor`], { env })
  if (hidden.code !== 0 && hidden.stdout === '') { t.comment(`unshare unavailable: ${hidden.stderr}`); return }
  t.equal(hidden.code, 1, 'a missing /dev/fuse makes doctor fail')
  t.match(hidden.stdout, /FAIL {2}fuse device: \/dev\/fuse does not exist\n {6}fix: load the module \(`modprobe fuse`\); in a container run it with `--device \/dev\/fuse --cap-add SYS_ADMIN`/)
  t.match(hidden.stdout, /problems? found/)
})
