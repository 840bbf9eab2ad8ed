// The FUSE adapter (lib/fuse) over a real mount of an in-memory FsCore: errno mapping, xattrs,
// big writes, read-only behaviour, unmounting a busy mount, and handler failures that must end as
// EIO replies rather than a dead process. Everything touches the mount through fs/promises or
// child processes (see test/support/fuse.ts for why).

import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, open, readFile, readdir, rm, stat, writeFile, mkdir, rmdir, symlink } from 'node:fs/promises'
import { constants as osConstants, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FsError, LkError } from '../../lib/core/errors.js'
import { createLogger } from '../../lib/core/log.js'
import { isMounted, mountFuse, forceUnmount } from '../../lib/fuse/index.js'
import { MemFs } from '../support/mem-fs.js'
import { fuseAvailable, mountForTest, procMountsLine, sh } from '../support/fuse.js'

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p
    return 'OK'
  } catch (e) {
    // libuv has no name for a few errnos (ESTALE): recover it from the number
    const err = e as NodeJS.ErrnoException
    const byNumber = Object.entries(osConstants.errno).find(([, n]) => n === -(err.errno ?? 0))?.[0]
    return String(err.code?.startsWith('E') === true ? err.code : byNumber ?? err.code)
  }
}

function capturingLogger (): { lines: Array<Record<string, unknown>>, logger: ReturnType<typeof createLogger> } {
  const lines: Array<Record<string, unknown>> = []
  return { lines, logger: createLogger({ level: 'debug', json: true, write: l => { lines.push(JSON.parse(l) as Record<string, unknown>) } }) }
}

if (fuseAvailable(t)) {
  t.test('errno names map to the right numbers; unknown errors are EIO and logged', async t => {
    const cases: Array<[string, unknown, string]> = [
      ['enoent', new FsError('ENOENT', 'gone'), 'ENOENT'],
      ['estale', new FsError('ESTALE', 'changed under an open handle'), 'ESTALE'],
      ['etimedout', new FsError('ETIMEDOUT', 'slow remote'), 'ETIMEDOUT'],
      ['eacces', new FsError('EACCES', 'no'), 'EACCES'],
      ['enospc', new LkError('LK_NO_SPACE', 'disk full'), 'ENOSPC'],
      // ENOSYS would switch the operation off for the whole mount: it must arrive as "not supported"
      ['enosys', new FsError('ENOSYS', 'not implemented'), 'ENOTSUP'],
      ['econnrefused', new FsError('ECONNREFUSED', 'remote down'), 'EIO'],
      ['remote', new LkError('LK_REMOTE_UNAVAILABLE', 'remote down'), 'EIO'],
      ['remote-timeout', new LkError('LK_REMOTE_TIMEOUT', 'slow'), 'ETIMEDOUT'],
      ['node-emfile', Object.assign(new Error('too many'), { code: 'EMFILE' }), 'EMFILE'],
      ['plain', new Error('boom: a bug in the core'), 'EIO'],
      ['string', 'a thrown string', 'EIO'],
    ]
    const files: Record<string, string> = {}
    for (const [name] of cases) files[`/e/${name}`] = 'data'
    const core = new MemFs({ files })
    const { lines, logger } = capturingLogger()
    const { dir } = await mountForTest(t, core, { logger })
    core.hook = (op, path) => {
      if (op !== 'read') return
      const hit = cases.find(([name]) => path === `/e/${name}`)
      if (hit !== undefined) throw hit[1]
    }
    for (const [name, , expected] of cases) {
      t.equal(await codeOf(readFile(join(dir, 'e', name))), expected, `${name} -> ${expected}`)
    }
    const eio = lines.filter(l => l.msg === 'fuse handler failed: answering EIO')
    const plain = eio.find(l => l.path === '/e/plain')
    t.ok(plain, 'the unknown error is logged')
    t.equal(plain?.op, 'read', 'with the operation')
    t.match(plain?.cause, { message: 'boom: a bug in the core' }, 'and the cause')
    t.ok(eio.some(l => l.path === '/e/string'), 'a thrown non-Error is logged too')
    t.notOk(eio.some(l => l.path === '/e/enoent'), 'expected errors are not logged as failures')
  })

  t.test('ENOSYS from the core does not switch an operation off for the mount', async t => {
    const core = new MemFs({ files: { '/f': 'x' } })
    const { dir } = await mountForTest(t, core)
    let first = true
    core.hook = (op) => {
      if (op === 'fsync' && first) {
        first = false
        throw new FsError('ENOSYS', 'not yet')
      }
    }
    const fh = await open(join(dir, 'f'), 'r+')
    t.equal(await codeOf(fh.sync()), 'ENOTSUP', 'first fsync fails as not supported')
    t.equal(await codeOf(fh.sync()), 'OK', 'second fsync works')
    await fh.close()
    t.equal(core.calls.get('fsync'), 2, 'both fsyncs reached the core')
  })

  t.test('handler failures of every kind end as replies, never as a dead process', async t => {
    const core = new MemFs({ files: { '/ok': 'fine', '/d/x': '1', '/big': Buffer.alloc(10) } })
    const { lines, logger } = capturingLogger()
    const { dir } = await mountForTest(t, core, { logger, handlerTimeoutMs: 400 })
    // a core method that throws synchronously (not a rejected promise)
    const realReaddir = core.readdir.bind(core)
    core.readdir = (path: string) => {
      if (path === '/d') throw new TypeError('sync throw in readdir')
      return realReaddir(path)
    }
    t.equal(await codeOf(readdir(join(dir, 'd'))), 'EIO', 'a synchronous throw is EIO')
    // a getattrSync that throws
    const realSync = core.getattrSync.bind(core)
    core.getattrSync = (path: string) => {
      if (path === '/ok') throw new RangeError('sync throw in getattrSync')
      return realSync(path)
    }
    t.equal(await codeOf(stat(join(dir, 'ok'))), 'EIO', 'a throwing getattrSync is EIO')
    core.getattrSync = realSync
    // a core that answers nonsense
    const realRead = core.read.bind(core)
    core.read = async (path, fh, buf, len, pos) => path === '/big' ? len + 1000 : await realRead(path, fh, buf, len, pos)
    t.equal(await codeOf(readFile(join(dir, 'big'))), 'EIO', 'an impossible byte count is EIO')
    core.read = realRead
    // a handler slower than handlerTimeoutMs: ETIMEDOUT, and its late answer (writing into a
    // buffer libfuse has taken back) must not crash anything
    let release = (): void => {}
    const late = new Promise<void>(resolve => { release = resolve })
    core.hook = async (op, path) => {
      if (op === 'read' && path === '/ok') await late
    }
    t.equal(await codeOf(readFile(join(dir, 'ok'))), 'ETIMEDOUT', 'a stuck handler times out')
    release()
    await new Promise(resolve => setTimeout(resolve, 100))
    core.hook = undefined
    t.equal((await readFile(join(dir, 'ok'), 'utf8')), 'fine', 'the mount still serves')
    t.ok(lines.some(l => l.op === 'readdir' && l.path === '/d'), 'failures are logged with op and path')
  })

  t.test('xattrs: user.* go to the core, security.* and system.* are answered without it', async t => {
    const core = new MemFs({ files: { '/f': 'x', '/g': 'y' } })
    core.setXattrDirect('/', 'user.lakefs.commit', 'c0ffee')
    const { dir } = await mountForTest(t, core)
    const root = await sh('getfattr', ['--absolute-names', '-n', 'user.lakefs.commit', '--only-values', dir])
    t.equal(root.stdout, 'c0ffee', 'root xattr readable by getfattr')

    t.equal((await sh('setfattr', ['-n', 'user.label', '-v', 'cat', join(dir, 'f')])).code, 0, 'setfattr user.*')
    const dump = await sh('getfattr', ['--absolute-names', '-d', join(dir, 'f')])
    t.match(dump.stdout, /user\.label="cat"/, 'getfattr -d lists and reads it')
    t.equal((await sh('setfattr', ['-x', 'user.label', join(dir, 'f')])).code, 0, 'setfattr -x removes it')
    const missing = await sh('getfattr', ['--absolute-names', '-n', 'user.label', join(dir, 'f')])
    t.match(missing.stderr, /No such attribute/, 'removed attribute is ENODATA')

    const before = core.calls.get('getxattr') ?? 0
    for (const name of ['security.capability', 'security.selinux', 'system.posix_acl_access']) {
      const r = await sh('getfattr', ['--absolute-names', '-n', name, join(dir, 'g')])
      t.match(r.stderr, /No such attribute/, `${name} is ENODATA`)
    }
    await sh('ls', ['-l', dir])
    t.equal(core.calls.get('getxattr') ?? 0, before, 'no system xattr query reached the core')
    const sec = await sh('setfattr', ['-n', 'security.test', '-v', '1', join(dir, 'g')])
    t.match(sec.stderr, /Operation not supported/, 'setting security.* is not supported (cp -a skips it)')
  })

  t.test('xattrs: false — no xattr request reaches the daemon, every xattr call is ENOTSUP', async t => {
    const files: Record<string, string> = {}
    for (let i = 0; i < 50; i++) files[`/d/f${i}`] = String(i)
    const core = new MemFs({ files })
    core.setXattrDirect('/', 'user.lakefs.commit', 'c0ffee')
    core.setXattrDirect('/d/f1', 'user.label', 'cat')
    const { dir } = await mountForTest(t, core, { xattrs: false })
    const ls = await sh('ls', ['-l', join(dir, 'd')])
    t.equal(ls.code, 0, `ls -l works: ${ls.stderr}`)
    t.equal(ls.stdout.trim().split('\n').length, 51, 'total line + 50 entries')
    const user = await sh('getfattr', ['--absolute-names', '-n', 'user.label', join(dir, 'd', 'f1')])
    t.match(user.stderr, /Operation not supported/, 'user.* metadata is not served')
    const list = await sh('getfattr', ['--absolute-names', '-d', join(dir, 'd', 'f1')])
    t.not(list.code, 0, 'listing xattrs fails too')
    const set = await sh('setfattr', ['-n', 'user.x', '-v', '1', join(dir, 'd', 'f2')])
    t.match(set.stderr, /Operation not supported/, 'setting one is ENOTSUP')
    t.equal(core.calls.get('getxattr') ?? 0, 0, 'the core saw no getxattr')
    t.equal(core.calls.get('listxattr') ?? 0, 0, 'nor listxattr')
    t.equal(core.calls.get('setxattr') ?? 0, 0, 'nor setxattr')
    t.equal(await readFile(join(dir, 'd', 'f7'), 'utf8'), '7', 'data reads as before')
  })

  t.test('regression: xattr values and lists longer than the caller\'s first buffer', async t => {
    // Python probes with 128 bytes (values) and 256 bytes (lists) first; fuse-native used to
    // answer with the full length, libfuse over-read its buffer and the caller got EIO
    const core = new MemFs({ files: { '/f': 'x' } })
    core.setXattrDirect('/f', 'user.long', 'v'.repeat(300))
    for (let i = 0; i < 40; i++) core.setXattrDirect('/f', `user.name-number-${i}`, String(i))
    const { dir } = await mountForTest(t, core)
    const py = `import os, sys; p = sys.argv[1]; print(len(os.getxattr(p, 'user.long')), len(os.listxattr(p)))`
    const r = await sh('python3', ['-c', py, join(dir, 'f')])
    t.equal(r.stdout.trim(), '300 41', `python os.getxattr/listxattr: ${r.stderr}`)
  })

  t.test('big_writes: large writes arrive in large requests', async t => {
    const core = new MemFs()
    const { dir } = await mountForTest(t, core)
    const mib = 32
    const t0 = process.hrtime.bigint()
    const dd = await sh('dd', ['if=/dev/zero', `of=${join(dir, 'big')}`, 'bs=1M', `count=${mib}`])
    const secs = Number(process.hrtime.bigint() - t0) / 1e9
    t.equal(dd.code, 0, 'dd succeeded')
    const writes = core.calls.get('write') ?? 0
    const avg = (mib << 20) / writes
    t.comment(`${mib} MiB in ${writes} write requests (avg ${(avg / 1024).toFixed(0)} KiB), ${(mib / secs).toFixed(0)} MiB/s`)
    t.ok(avg >= 64 * 1024, `average request ${(avg / 1024).toFixed(0)} KiB is at least 64 KiB (4 KiB without big_writes)`)
    t.equal((await stat(join(dir, 'big'))).size, mib << 20, 'all bytes arrived')
  })

  t.test('write buffers are copied before the core awaits', async t => {
    const core = new MemFs()
    const { dir } = await mountForTest(t, core)
    // the double copies after an await: slow every write down so libfuse reuses its buffers
    core.hook = async (op) => { if (op === 'write') await new Promise(resolve => setTimeout(resolve, 2)) }
    const data = Buffer.alloc(4 << 20)
    for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i)
    await writeFile(join(dir, 'pattern'), data)
    core.hook = undefined
    t.ok((await readFile(join(dir, 'pattern'))).equals(data), 'every byte is what was written')
  })

  t.test('read-only: ro at the kernel, no open round trips, fh 0, nothing written', async t => {
    const core = new MemFs({ readOnly: true, files: { '/a': 'alpha', '/b/c': 'charlie' } })
    const { dir, mount } = await mountForTest(t, core, { readOnly: true, immutable: true, fsName: 'lakefs://repo/v1' })
    const line = await procMountsLine(dir)
    t.match(line, /^lakefs:\/\/repo\/v1 \S+ fuse\.lk-mount ro[,\s]/, `/proc/mounts: ${line}`)
    t.equal(await readFile(join(dir, 'a'), 'utf8'), 'alpha')
    t.equal(await readFile(join(dir, 'b', 'c'), 'utf8'), 'charlie')
    // no-open: the kernel sends no OPEN/RELEASE; the adapter opens one handle per path itself
    t.equal(core.calls.get('open') ?? 0, 2, 'one core open per file, made by the adapter')
    t.equal(core.calls.get('release') ?? 0, 0, 'no release while mounted')
    t.notOk(core.handlesSeen.has(0), 'the core never sees the kernel\'s fh 0')
    const reads = core.calls.get('read') ?? 0
    t.equal(await readFile(join(dir, 'a'), 'utf8'), 'alpha')
    t.equal(core.calls.get('read') ?? 0, reads, 'a second read is served from the page cache (kernelCache)')
    t.equal(core.calls.get('open') ?? 0, 2, 'and opens nothing')
    t.equal(await codeOf(writeFile(join(dir, 'new'), 'x')), 'EROFS', 'create is EROFS')
    t.equal(await codeOf(writeFile(join(dir, 'a'), 'x')), 'EROFS', 'overwrite is EROFS')
    t.equal(await codeOf(mkdir(join(dir, 'm'))), 'EROFS', 'mkdir is EROFS')
    t.equal(await codeOf(rm(join(dir, 'a'))), 'EROFS', 'unlink is EROFS')
    for (const op of ['create', 'write', 'mkdir', 'unlink', 'truncate', 'flush']) t.equal(core.calls.get(op) ?? 0, 0, `${op} never reached the core`)
    await mount.unmount()
    t.equal(core.calls.get('release') ?? 0, 2, 'unmount gives the adapter\'s handles back')
  })

  t.test('read-only with noOpen: false still opens through the core', async t => {
    const core = new MemFs({ readOnly: true, files: { '/a': 'alpha' } })
    const { dir } = await mountForTest(t, core, { readOnly: true, immutable: true, noOpen: false })
    t.equal(await readFile(join(dir, 'a'), 'utf8'), 'alpha')
    t.equal(core.calls.get('open'), 1, 'one open')
    t.notOk(core.handlesSeen.has(0), 'reads carry the handle the core gave')
  })

  t.test('write mount: the usual errors from the core reach the caller', async t => {
    const core = new MemFs({ files: { '/f': 'x', '/full/y': 'y' } })
    const { dir } = await mountForTest(t, core)
    t.equal(await codeOf(stat(join(dir, 'nope'))), 'ENOENT')
    t.equal(await codeOf(mkdir(join(dir, 'full'))), 'EEXIST')
    t.equal(await codeOf(rmdir(join(dir, 'full'))), 'ENOTEMPTY')
    t.equal(await codeOf(symlink('f', join(dir, 'link'))), 'ENOTSUP')
    t.equal(await codeOf(readdir(join(dir, 'f'))), 'ENOTDIR')
    t.equal((await readdir(dir)).sort().join(','), 'f,full', 'readdir lists names only')
  })

  t.test('unmount of a busy mount detaches it; open files keep working until closed', async t => {
    const core = new MemFs({ files: { '/held': 'still readable after detach\n' } })
    const { logger, lines } = capturingLogger()
    const { mount, dir } = await mountForTest(t, core, { logger })
    // a child holds the file open and reads it only after the unmount
    const child = spawn('sh', ['-c', 'exec 3<held; echo ready; read -r go; cat <&3'], { cwd: dir, stdio: ['pipe', 'pipe', 'inherit'] })
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    let out = ''
    await new Promise<void>(resolve => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.startsWith('ready\n')) {
          out = out.slice('ready\n'.length)
          resolve()
        }
      })
    })
    await mount.unmount()
    t.notOk(await isMounted(dir), 'the mount point is free')
    t.ok(lines.some(l => /busy/.test(String(l.msg))), 'the busy fallback is logged')
    child.stdin.end('go\n')
    const code = await new Promise(resolve => child.on('exit', resolve))
    t.equal(code, 0, 'the holder exits cleanly')
    t.equal(out, 'still readable after detach\n', 'its open file still read through the detached mount')
    await mount.unmount()
    t.pass('unmount is idempotent')
  })

  t.test('unmount after an external fusermount -u resolves and releases the mount', async t => {
    const core = new MemFs({ files: { '/x': 'x' } })
    const dir = await mkdtemp(join(tmpdir(), 'lk-fuse-'))
    t.teardown(async () => { await forceUnmount(dir); await rm(dir, { recursive: true, force: true }) })
    const mount = await mountFuse(core, dir, { readOnly: false, immutable: false, fsName: 'x' })
    t.equal((await sh('fusermount', ['-u', dir])).code, 0, 'someone unmounts by hand')
    await mount.unmount()
    t.notOk(await isMounted(dir), 'nothing mounted')
    // mounting again at the same place works (nothing stale was left)
    const again = await mountFuse(core, dir, { readOnly: false, immutable: false, fsName: 'x' })
    t.equal(await readFile(join(dir, 'x'), 'utf8'), 'x', 'remounted')
    await again.unmount({ lazy: true })
    t.notOk(await isMounted(dir), 'lazy unmount done')
  })

  t.test('a daemon killed with SIGKILL leaves no stuck mount point (auto_unmount)', async t => {
    const dir = await mkdtemp(join(tmpdir(), 'lk-fuse-crash-'))
    t.teardown(async () => { await forceUnmount(dir); await rm(dir, { recursive: true, force: true }) })
    const script = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'mount-child.js')
    const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => { if (d.toString().startsWith('mounted')) resolve() })
      child.on('exit', code => { reject(new Error(`mount child exited with ${code}`)) })
    })
    t.equal(await readFile(join(dir, 'alive'), 'utf8'), 'yes', 'the child serves the mount')
    child.kill('SIGKILL')
    await new Promise(resolve => child.on('exit', resolve))
    let mounted = true
    for (let i = 0; i < 50 && mounted; i++) {
      await new Promise(resolve => setTimeout(resolve, 100))
      mounted = await isMounted(dir)
    }
    t.notOk(mounted, 'the mount point was released when its daemon died')
    t.same(await readdir(dir), [], 'and is an empty directory again, not ENOTCONN')
  })

  t.test('a comma in the fs name cannot inject mount options', async t => {
    const core = new MemFs()
    const { dir } = await mountForTest(t, core, { fsName: 'lakefs://r/x,allow_other,ro' })
    const line = await procMountsLine(dir)
    t.match(line, /^lakefs:\/\/r\/x_allow_other_ro /, `fsname sanitised: ${line}`)
    const options = (line ?? '').split(' ')[3]?.split(',') ?? []
    t.ok(options.includes('rw') && !options.includes('ro') && !options.includes('allow_other'), `no injected option took effect: ${options.join(',')}`)
  })

  t.test('mount failures are catalogue errors', async t => {
    const core = new MemFs()
    const missing = join(tmpdir(), `lk-fuse-missing-${process.pid}`)
    await t.rejects(mountFuse(core, missing, { readOnly: false, immutable: false, fsName: 'x' }), { code: 'LK_MOUNTPOINT_INVALID' })
    const { dir } = await mountForTest(t, core)
    await t.rejects(mountFuse(core, dir, { readOnly: false, immutable: false, fsName: 'x' }), { code: 'LK_MOUNTPOINT_BUSY' })
  })
}
