// Security of the system daemon, checked with a real unprivileged user (nobody, through setpriv):
// the control socket's mode and group decide who may drive the daemon; mounts are private unless
// allowOther is asked; requests naming system paths or paths outside mountRoots are refused; a
// credentials file readable by others (or owned by another user) stops the start, and the secret
// never reaches the log, argv or doctor's output.

import t from 'tap'
import { chmod, chown, readFile, symlink, writeFile } from 'node:fs/promises'
import { statSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalRemote } from '../../lib/remote/local.js'
import { fuseAvailable, sh, type ShResult } from '../support/fuse.js'
import { B, P, R, buf } from '../support/store.js'
import { CLI, NotifyListener, cli, execStart, installUnit, serviceEnv, type ServiceEnv } from '../support/service.js'

const NOBODY = 65534
const SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY'

async function seed (s: ServiceEnv): Promise<void> {
  const remote = await LocalRemote.open({ dir: join(s.home, 'store') })
  await remote.createRepo(R('demo'))
  await remote.putObject(R('demo'), B('main'), P('a.txt'), buf('alpha\n'))
  await remote.commit(R('demo'), B('main'), { message: 'seed' })
  await remote.close()
}

/** runs the CLI as uid nobody with exactly the given gid and no supplementary groups */
async function asNobody (s: ServiceEnv, gid: number, args: string[]): Promise<ShResult> {
  // without tap's NODE_OPTIONS (its process-info hook writes into the checkout, which nobody may not)
  const env = Object.fromEntries(Object.entries(s.env).filter(([k]) => k !== 'NODE_OPTIONS' && !k.startsWith('TAP') && !k.startsWith('_TAPJS')))
  return await sh('setpriv', [`--reuid=${NOBODY}`, `--regid=${gid}`, '--clear-groups', process.execPath, CLI, '--no-spawn', ...args], { env: { ...env, HOME: '/nonexistent' } })
}

function mountOpts (dir: string): string {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ')
    if (f[4] === dir) { const sep = f.indexOf('-'); return `${f[5] ?? ''},${f[sep + 3] ?? ''}` }
  }
  return ''
}

t.test('socket group, private mounts, path checks', async (t) => {
  if (!fuseAvailable(t)) return
  const u = await installUnit(t)
  const s = await serviceEnv(t, u, '')
  const priv = join(s.dir, 'data', 'private')
  const shared = join(s.dir, 'data', 'shared')
  await writeFile(s.config, [
    'socket:', '  mode: "0660"', `  group: "${NOBODY}"`,
    `mountRoots: [${join(s.dir, 'data')}]`,
    'mounts:',
    `  - { uri: "lakefs://demo/main", mountpoint: "${priv}" }`,
    `  - { uri: "lakefs://demo/main", mountpoint: "${shared}", allowOther: true }`,
  ].join('\n') + '\n')
  await seed(s)
  const n = await NotifyListener.start(t, s.dir)
  const d = execStart(t, u, s, n)
  await n.waitFor('READY', '1')

  const st = statSync(s.socket)
  t.equal(st.mode & 0o777, 0o660, 'socket mode 0660')
  t.equal(st.uid, 0, 'owned by root')
  t.equal(st.gid, NOBODY, 'group as configured')
  t.equal(statSync(join(s.dir, 'run')).mode & 0o777, 0o750, 'its directory lets the group through and nobody else')

  const member = await asNobody(s, NOBODY, ['status', '--json'])
  t.equal(member.code, 0, `a member of the socket group may use the daemon: ${member.stderr}`)
  const outsider = await asNobody(s, 12345, ['status'])
  t.equal(outsider.code, 6, 'a user outside the group is refused (exit 6)')
  t.match(outsider.stderr, /permission denied on the control socket/)
  t.match(outsider.stderr, /socket's group/, 'with the fix in the hint')

  // mounts are private unless allowOther
  t.notMatch(mountOpts(priv), /allow_other/, 'no allow_other unless asked')
  t.match(mountOpts(shared), /allow_other/, 'allow_other when declared')
  const lsPriv = await sh('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'ls', priv])
  t.not(lsPriv.code, 0, 'another user cannot read a private mount')
  const lsShared = await sh('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'cat', join(shared, 'a.txt')])
  t.equal(lsShared.stdout, 'alpha\n', 'but can read an allowOther mount')

  // path checks, even for a permitted user
  const refuse = async (args: string[], why: RegExp, name: string): Promise<void> => {
    const r = await asNobody(s, NOBODY, args)
    t.equal(r.code, 6, `${name}: refused with exit 6`)
    t.match(r.stderr, why, name)
  }
  await refuse(['mount', 'lakefs://demo/main', '/etc/lk-evil'], /\/etc is a system directory/, 'a mount over /etc')
  await refuse(['mount', 'lakefs://demo/main', join(s.dir, 'elsewhere')], /mountRoots/, 'a mount point outside mountRoots')
  await symlink('/usr', join(s.dir, 'data', 'link'))
  await refuse(['mount', 'lakefs://demo/main', join(s.dir, 'data', 'link', 'x')], /really \/usr\/x.*system directory/, 'a symlink into /usr')
  await refuse(['mount', 'lakefs://demo/main', join(s.dir, 'data', 'c'), '--cache-dir', s.home], /daemon's own directory/, 'a cache in the daemon home')
  await refuse(['ls', 'lakefs://demo/main', '--store', '/etc/lk-store'], /system directory/, 'a store in /etc')
  await refuse(['import', '/etc', 'lakefs://demo/main'], /system directory/, 'importing /etc')
  await refuse(['import', '/root', 'lakefs://demo/main'], /system directory/, 'importing /root')
  process.kill(d.pid, 'SIGTERM')
  t.equal((await d.exited).code, 0)
})

t.test('credentials file: refused when others may read it or another user owns it; never logged', async (t) => {
  const u = await installUnit(t)
  const s = await serviceEnv(t, u, '')
  const creds = join(s.dir, 'credentials.yaml')
  await writeFile(creds, `credentials:\n  access_key_id: AKIAOPSTEST\n  secret_access_key: ${SECRET}\nserver:\n  endpoint_url: http://127.0.0.1:9\n`)
  await writeFile(s.config, `lakefs:\n  credentialsFile: ${creds}\n`)

  await chmod(creds, 0o644)
  const d1 = execStart(t, u, s, undefined)
  const e1 = await d1.exited
  t.equal(e1.code, 6, 'a world-readable credentials file stops the start (exit 6)')
  t.match(d1.log(), /mode 0644: group or others may read it; run `chmod 600/)
  t.notMatch(d1.log(), new RegExp(SECRET))

  await chmod(creds, 0o640)
  const d2 = execStart(t, u, s, undefined)
  t.equal((await d2.exited).code, 6, 'group-readable is refused too')

  await chmod(creds, 0o600)
  await chown(creds, NOBODY, NOBODY)
  const d3 = execStart(t, u, s, undefined)
  t.equal((await d3.exited).code, 6, 'a file owned by another user is refused')
  t.match(d3.log(), /owned by uid 65534/)

  await chown(creds, 0, 0)
  // a declared mount whose mount point happens to contain the secret: its failure is logged,
  // with the secret scrubbed from the line (values are redacted, not only keys)
  await writeFile(s.config, `lakefs:\n  credentialsFile: ${creds}\nmounts:\n  - { uri: "lakefs://nosuchrepo/main", mountpoint: "${s.dir}/${SECRET}" }\n`)
  const n = await NotifyListener.start(t, s.dir)
  const d4 = execStart(t, u, s, n)
  await n.waitFor('READY', '1')
  t.match(d4.log(), /AKIAOPSTEST/, 'the access key id is logged (to say which key is used)')
  t.notMatch(d4.log(), new RegExp(SECRET), 'the secret is not')
  t.match(d4.log(), /declared mount failed.*\[redacted\]/, 'a line that quoted the secret was scrubbed')
  const argv = (await readFile(`/proc/${d4.pid}/cmdline`, 'utf8')).replace(/\0/g, ' ')
  t.notMatch(argv, new RegExp(SECRET), 'nor in argv')
  t.notMatch(argv, /AKIAOPSTEST/)

  // doctor: as root it sees the file; as nobody it cannot read it and says so
  const doc = await cli(s, ['doctor', '--json', '--config', s.config])
  const asRoot = JSON.parse(doc.stdout) as { ok: boolean, checks: Array<{ name: string, status: string, detail: string, fix?: string }> }
  t.equal(asRoot.checks.find(c => c.name === 'credentials')?.status, 'ok')
  t.equal(asRoot.checks.find(c => c.name === 'control socket')?.status, 'ok')
  const remote = asRoot.checks.find(c => c.name === 'remote')
  t.equal(remote?.status, 'fail', 'the configured remote is unreachable (nothing on port 9)')
  t.match(remote?.fix, /healthcheck/)
  t.equal(doc.code, 1, 'doctor exits non-zero when a check fails')
  t.notMatch(doc.stdout + doc.stderr, new RegExp(SECRET), 'doctor never prints the secret')
  await chmod(u.root, 0o755) // the temp root of the install: /etc is world-traversable on a real system
  await chmod(s.config, 0o644)
  const nob = await asNobody(s, NOBODY, ['doctor', '--json', '--config', s.config])
  const asNob = JSON.parse(nob.stdout) as typeof asRoot
  const c = asNob.checks.find(c => c.name === 'credentials')
  t.equal(c?.status, 'fail')
  t.match(c?.detail, /EACCES|owned by uid 0, not by this user/, 'nobody cannot use root\'s credentials file')
  t.equal(asNob.checks.find(c => c.name === 'control socket')?.status, 'fail', 'and may not use the 0600 socket')
  t.match(asNob.checks.find(c => c.name === 'control socket')?.fix, /group/)
  process.kill(d4.pid, 'SIGTERM')
  await d4.exited
})
