// Where the daemon lives (LK_MOUNT_HOME rules, socket path) and size parsing for --cache-size.

import t from 'tap'
import { daemonPaths, resolveHome, checkSocketPath, SYSTEM_HOME } from '../../lib/control/paths.js'
import { parseSize, formatSize } from '../../lib/control/size.js'
import { LkError } from '../../lib/core/errors.js'

function codeOf (fn: () => unknown): string | undefined {
  try { fn(); return undefined } catch (e) { return e instanceof LkError ? e.code : 'not an LkError' }
}

t.test('LK_MOUNT_HOME', async t => {
  t.equal(resolveHome({ env: { LK_MOUNT_HOME: '/srv/lk' }, uid: 0 }), '/srv/lk', 'explicit wins')
  t.equal(resolveHome({ env: { HOME: '/home/ann' }, uid: 1000 }), '/home/ann/.local/share/lk-mount')
  t.equal(resolveHome({ env: { HOME: '/home/ann', XDG_DATA_HOME: '/data/x' }, uid: 1000 }), '/data/x/lk-mount')
  t.equal(resolveHome({ env: { HOME: '/root' }, uid: 0 }), '/root/.local/share/lk-mount', 'root without LK_MOUNT_SYSTEM is a user')
  t.equal(resolveHome({ env: { HOME: '/root', LK_MOUNT_SYSTEM: '1' }, uid: 0 }), SYSTEM_HOME)
  t.equal(resolveHome({ env: { HOME: '/home/ann', LK_MOUNT_SYSTEM: '1' }, uid: 1000 }), '/home/ann/.local/share/lk-mount', 'only root runs the system service')
  t.equal(resolveHome({ env: { HOME: '/home/ann' }, uid: 1000, system: true }), SYSTEM_HOME, '--system')
})

t.test('socket and files', async t => {
  const p = daemonPaths({ env: { LK_MOUNT_HOME: '/srv/lk' } })
  t.same(p, { home: '/srv/lk', socket: '/srv/lk/lk-mountd.sock', pidfile: '/srv/lk/lk-mountd.pid', logfile: '/srv/lk/lk-mountd.log', store: '/srv/lk/store', state: '/srv/lk/state', cache: '/srv/lk/cache' })
  t.equal(daemonPaths({ env: { LK_MOUNT_HOME: '/srv/lk', LK_MOUNT_SOCKET: '/run/lk.sock' } }).socket, '/run/lk.sock')
  t.equal(codeOf(() => { checkSocketPath('/' + 'x'.repeat(120)) }), 'LK_USAGE')
  t.doesNotThrow(() => { checkSocketPath('/tmp/ok.sock') })
})

t.test('sizes', async t => {
  t.equal(parseSize('50G'), 50 * 1024 ** 3)
  t.equal(parseSize('100M'), 100 * 1024 ** 2)
  t.equal(parseSize('1.5T'), 1.5 * 1024 ** 4)
  t.equal(parseSize('512k'), 512 * 1024)
  t.equal(parseSize('4096'), 4096)
  t.equal(parseSize('2GiB'), 2 * 1024 ** 3)
  for (const bad of ['', 'G', '-1G', '10X', '0', '1 2G']) {
    t.equal(codeOf(() => parseSize(bad)), 'LK_USAGE', `rejects ${JSON.stringify(bad)}`)
  }
  t.equal(formatSize(512), '512 B')
  t.equal(formatSize(1536), '1.5 KiB')
  t.equal(formatSize(50 * 1024 ** 3), '50 GiB')
})
