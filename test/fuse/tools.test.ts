// Real tools against a real mount: coreutils, findutils, attr's getfattr/setfattr, dd, and a Python
// dataset loader that walks the tree and checks every byte. Each tool runs in a child process.

import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MemFs } from '../support/mem-fs.js'
import { openCoreMount } from '../support/core-mount.js'
import { SAMPLE_FILES } from '../conformance/dataset.js'
import { mountFuse } from '../../lib/fuse/index.js'
import { fuseAvailable, mountForTest, sh } from '../support/fuse.js'

const LOADER = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'loader.py')

/** a small dataset: class directories of files of assorted sizes, one empty, one large */
function dataset (): Map<string, Buffer> {
  const files = new Map<string, Buffer>()
  for (let c = 0; c < 6; c++) {
    for (let i = 0; i < 25; i++) files.set(`train/class${c}/img${String(i).padStart(3, '0')}.bin`, randomBytes((c * 7919 + i * 104729) % 70000))
  }
  files.set('val/empty', Buffer.alloc(0))
  files.set('val/big.bin', randomBytes(3 << 20))
  files.set('README name with spaces.txt', Buffer.from('dataset card\n'))
  return files
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

async function scratch (t: Test): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'lk-tools-'))
  t.teardown(() => rm(d, { recursive: true, force: true }))
  return d
}

if (fuseAvailable(t)) {
  t.test('read-only pinned mount: loader.py reads every file with the right sha256, twice', async t => {
    const files = dataset()
    const core = new MemFs({ readOnly: true, files: Object.fromEntries([...files].map(([p, b]) => ['/' + p, b])) })
    const { dir } = await mountForTest(t, core, { readOnly: true, immutable: true, fsName: 'lakefs://ds/v1' })
    const tmp = await scratch(t)
    const manifest = join(tmp, 'manifest.json')
    await writeFile(manifest, JSON.stringify(Object.fromEntries([...files].map(([p, b]) => [p, sha(b)]))))

    const r = await sh('python3', [LOADER, dir, manifest, '--epochs', '2', '--workers', '4'], { timeoutMs: 120_000 })
    t.equal(r.code, 0, `loader: ${r.stdout}${r.stderr}`)
    const out = JSON.parse(r.stdout) as { files: number, bytes: number, problems: string[] }
    t.equal(out.files, files.size, 'every file walked')
    t.same(out.problems, [], 'no mismatches')

    // the loader must fail when a byte differs: drop one file from the manifest's view
    const wrong = JSON.parse(await readFile(manifest, 'utf8')) as Record<string, string>
    wrong['train/class1/img004.bin'] = sha(Buffer.from('something else'))
    await writeFile(manifest, JSON.stringify(wrong))
    const bad = await sh('python3', [LOADER, dir, manifest])
    t.equal(bad.code, 1, 'a wrong digest is caught')
    t.match(bad.stdout, /sha256 mismatch train\/class1\/img004\.bin/)

    const ls = await sh('ls', ['-l', join(dir, 'train', 'class2')])
    t.equal(ls.code, 0)
    t.equal(ls.stdout.split('\n').filter(l => l.startsWith('-r')).length, 25, 'ls -l shows 25 read-only files')
    const find = await sh('find', [dir, '-type', 'f'])
    t.equal(find.stdout.trim().split('\n').length, files.size, 'find sees every file')
    const st = await sh('stat', ['-c', '%s %F', join(dir, 'val', 'big.bin')])
    t.equal(st.stdout.trim(), `${3 << 20} regular file`, 'stat size and type')
    const cat = await sh('sh', ['-c', 'cat "$1" | sha256sum', 'sh', join(dir, 'README name with spaces.txt')])
    t.equal(cat.stdout.split(' ')[0], sha(Buffer.from('dataset card\n')), 'cat of a name with spaces')
    const copy = join(tmp, 'copy')
    t.equal((await sh('cp', ['-r', dir, copy])).code, 0, 'cp -r out of the mount')
    t.equal((await readFile(join(copy, 'val', 'big.bin'))).equals(files.get('val/big.bin') ?? Buffer.alloc(1)), true, 'copied bytes equal')
    const touch = await sh('touch', [join(dir, 'x')])
    t.match(touch.stderr, /Read-only file system/, 'writing fails with EROFS')
  })

  t.test('a real mount session (pinned sample commit): loader.py, ls -l, getfattr of the commit', async t => {
    const core = await openCoreMount({ write: false })
    t.teardown(() => core.close())
    const dir = await mkdtemp(join(tmpdir(), 'lk-tools-session-'))
    const mount = await mountFuse(core.session.fs, dir, { readOnly: true, immutable: true, fsName: 'lakefs://conformance/main' })
    t.teardown(async () => { await mount.unmount(); await rm(dir, { recursive: true, force: true }) })
    const tmp = await scratch(t)
    const manifest = join(tmp, 'manifest.json')
    await writeFile(manifest, JSON.stringify(Object.fromEntries(SAMPLE_FILES.map(f => [f.path, sha(f.data)]))))
    const r = await sh('python3', [LOADER, dir, manifest, '--epochs', '3', '--workers', '4'])
    t.equal(r.code, 0, `loader: ${r.stdout}${r.stderr}`)
    t.equal((JSON.parse(r.stdout) as { files: number }).files, SAMPLE_FILES.length, 'every object walked, no control file')
    const commit = await sh('getfattr', ['--absolute-names', '-n', 'user.lakefs.commit', '--only-values', dir])
    t.equal(commit.stdout, core.session.pinnedCommit(), 'getfattr shows the pinned commit')
    const ls = await sh('ls', ['-l', join(dir, 'train', 'cat')])
    t.match(ls.stdout, /-r--r--r-- .* 102400 .* 001\.bin/, 'ls -l: read-only mode and size')
    const dd = await sh('dd', [`if=${join(dir, 'big', 'blob.bin')}`, 'of=/dev/null', 'bs=1M'])
    t.equal(dd.code, 0, 'dd reads the 3 MiB object')
  })

  t.test('write mount: cp, dd, mv, rm, mkdir, setfattr/getfattr', async t => {
    const core = new MemFs()
    const { dir } = await mountForTest(t, core)
    const tmp = await scratch(t)
    const src = join(tmp, 'src')
    await mkdir(join(src, 'sub'), { recursive: true })
    const a = randomBytes(200_000)
    await writeFile(join(src, 'a.bin'), a)
    await writeFile(join(src, 'sub', 'b.txt'), 'bee\n')

    t.equal((await sh('mkdir', ['-p', join(dir, 'out', 'deep', 'er')])).code, 0, 'mkdir -p')
    t.equal((await sh('cp', ['-r', src, join(dir, 'out', 'copy')])).code, 0, 'cp -r into the mount')
    t.equal((await sh('cmp', [join(src, 'a.bin'), join(dir, 'out', 'copy', 'a.bin')])).code, 0, 'cmp: identical')

    // dd: overwrite 4 KiB in the middle without truncating, then append past the end
    const patch = join(tmp, 'patch')
    await writeFile(patch, Buffer.alloc(4096, 0xab))
    t.equal((await sh('dd', [`if=${patch}`, `of=${join(dir, 'out', 'copy', 'a.bin')}`, 'bs=4096', 'seek=10', 'conv=notrunc'])).code, 0, 'dd seek notrunc')
    t.equal((await sh('dd', [`if=${patch}`, `of=${join(dir, 'out', 'copy', 'a.bin')}`, 'bs=4096', 'seek=100', 'conv=notrunc'])).code, 0, 'dd past the end')
    const expected = Buffer.alloc(100 * 4096 + 4096)
    a.copy(expected)
    expected.fill(0xab, 10 * 4096, 11 * 4096)
    expected.fill(0xab, 100 * 4096)
    const got = await sh('sha256sum', [join(dir, 'out', 'copy', 'a.bin')])
    t.equal(got.stdout.split(' ')[0], sha(expected), 'dd wrote exactly those bytes, with a zero-filled hole')

    t.equal((await sh('mv', [join(dir, 'out', 'copy', 'sub'), join(dir, 'out', 'deep', 'moved')])).code, 0, 'mv a directory')
    t.equal((await sh('cat', [join(dir, 'out', 'deep', 'moved', 'b.txt')])).stdout, 'bee\n', 'cat after mv')
    t.equal((await sh('mv', [join(dir, 'out', 'copy', 'a.bin'), join(dir, 'a2.bin')])).code, 0, 'mv a file')
    const ls = await sh('ls', ['-l', dir])
    t.match(ls.stdout, /a2\.bin/, 'ls -l shows it')
    t.match(ls.stdout, new RegExp(`\\s${expected.length}\\s`), 'with its size')
    const find = await sh('find', [join(dir, 'out'), '-name', '*.txt'])
    t.equal(find.stdout.trim(), join(dir, 'out', 'deep', 'moved', 'b.txt'), 'find -name')

    t.equal((await sh('setfattr', ['-n', 'user.split', '-v', 'train', join(dir, 'a2.bin')])).code, 0, 'setfattr')
    const gf = await sh('getfattr', ['--absolute-names', '-n', 'user.split', '--only-values', join(dir, 'a2.bin')])
    t.equal(gf.stdout, 'train', 'getfattr')

    t.equal((await sh('rm', ['-r', join(dir, 'out')])).code, 0, 'rm -r')
    t.equal((await sh('rm', [join(dir, 'a2.bin')])).code, 0, 'rm')
    t.equal((await sh('ls', ['-A', dir])).stdout, '', 'empty again')
    const rmMissing = await sh('rm', [join(dir, 'nope')])
    t.match(rmMissing.stderr, /No such file or directory/, 'rm of a missing file says ENOENT')
  })
}
