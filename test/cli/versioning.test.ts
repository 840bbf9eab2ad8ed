// The versioning walkthrough through the built CLI and a real daemon process: repo create,
// import, branch, commit via import, diff, merge, tag, log, show, cat, ls — human and --json.

import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { cliHome } from '../support/cli.js'
import { shortTmp } from '../support/tmp.js'

interface Commit { id: string, parents: string[], message: string, metadata: Record<string, string>, committer: string, creationDate: number }

t.test('walkthrough', async t => {
  const lk = cliHome(t)
  const src = shortTmp(t, 'lks-')
  mkdirSync(join(src, 'train', 'cats'), { recursive: true })
  mkdirSync(join(src, 'val'), { recursive: true })
  const big = randomBytes(300 * 1024 + 5) // several protocol chunks
  writeFileSync(join(src, 'train', 'cats', 'a.bin'), big)
  for (let i = 0; i < 40; i++) writeFileSync(join(src, 'train', `f${String(i).padStart(2, '0')}.txt`), `file ${i}\n`)
  writeFileSync(join(src, 'val', 'labels.csv'), 'id,label\n1,cat\n')

  let r = await lk.run(['repo', 'create', 'images'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /created repository lakefs:\/\/images/)
  const pid = lk.daemonPid()
  t.ok(pid !== undefined, 'the first command started a daemon')

  const repos = await lk.json<Array<{ name: string, defaultBranch: string }>>(['repo', 'list'])
  t.same(repos.map(x => [x.name, x.defaultBranch]), [['images', 'main']])

  const imp = await lk.json<{ files: number, bytes: number, commit: Commit, skipped: string[] }>(['import', src, 'lakefs://images/main', '-m', 'initial data', '--meta', 'source=camera', '--meta', 'k=v=w'])
  t.equal(imp.files, 42)
  t.equal(imp.bytes, big.length + 40 * 'file 0\n'.length + 'id,label\n1,cat\n'.length - 0 + 30) // f10..f39 are one byte longer
  t.equal(imp.commit.message, 'initial data')
  t.equal(imp.commit.metadata.source, 'camera')
  t.equal(imp.commit.metadata.k, 'v=w', '= inside a value is kept')

  // ls: one level, then recursive, then a prefix
  const top = await lk.json<Array<{ type: string, path?: string }>>(['ls', 'lakefs://images/main'])
  t.same(top.map(e => e.path), ['train/', 'val/'])
  const rec = await lk.json<Array<{ type: string, stat: { path: string, size: number } }>>(['ls', 'lakefs://images/main/', '--recursive'])
  t.equal(rec.length, 42)
  t.ok(rec.every(e => e.type === 'object'))
  const val = await lk.run(['ls', 'lakefs://images/main/val'])
  t.match(val.stdout, /val\/labels\.csv/)

  // cat: text and binary, byte-exact
  r = await lk.run(['cat', 'lakefs://images/main/val/labels.csv'])
  t.equal(r.stdout, 'id,label\n1,cat\n')
  const bin = await new Promise<Buffer>((resolve, reject) => {
    import('node:child_process').then(({ spawn }) => {
      const c = spawn(process.execPath, [join(import.meta.dirname, '../../cli/main.js'), 'cat', 'lakefs://images/main/train/cats/a.bin'], { env: lk.env })
      const parts: Buffer[] = []
      c.stdout.on('data', (d: Buffer) => parts.push(d))
      c.on('exit', code => { code === 0 ? resolve(Buffer.concat(parts)) : reject(new Error(`cat exited ${code}`)) })
    }, reject)
  })
  t.ok(bin.equals(big), 'binary cat is byte-exact')

  // branch, change on the branch, diff, merge
  r = await lk.run(['branch', 'create', 'lakefs://images/exp-1', '--source', 'lakefs://images/main'])
  t.equal(r.code, 0, r.stderr)
  const branches = await lk.json<Array<{ name: string, commitId: string, default: boolean }>>(['branch', 'list', 'lakefs://images'])
  t.same(branches.map(b => [b.name, b.default]).sort(), [['exp-1', false], ['main', true]])
  t.equal(branches[0]?.commitId, branches[1]?.commitId, 'a new branch points at its source commit')

  const src2 = shortTmp(t, 'lks-')
  writeFileSync(join(src2, 'labels.csv'), 'id,label\n1,dog\n')
  writeFileSync(join(src2, 'new.txt'), 'new\n')
  const imp2 = await lk.json<{ commit: Commit }>(['import', src2, 'lakefs://images/exp-1/val', '-m', 'relabel'])
  t.same(imp2.commit.parents, [imp.commit.id])

  const d = await lk.json<Array<{ path: string, type: string }>>(['diff', 'lakefs://images/main', 'lakefs://images/exp-1'])
  t.same(d.map(e => [e.path, e.type]), [['val/labels.csv', 'changed'], ['val/new.txt', 'added']])
  r = await lk.run(['diff', 'lakefs://images/main', 'lakefs://images/exp-1'])
  t.equal(r.stdout, '~ val/labels.csv\n+ val/new.txt\n')

  // as lakeFS: a merge commit even though main did not move, with -m and --meta kept
  const m = await lk.json<{ commitId: string }>(['merge', 'lakefs://images/exp-1', 'lakefs://images/main', '-m', 'promote relabel', '--meta', 'review=ok'])
  const mc = (await lk.json<{ commit: Commit }>(['show', `lakefs://images/${m.commitId}`])).commit
  t.same([mc.message, mc.metadata, mc.parents.length, mc.parents[1]], ['promote relabel', { review: 'ok', '.lakefs.merge.strategy': 'default' }, 2, imp2.commit.id])
  r = await lk.run(['merge', 'lakefs://images/exp-1', 'lakefs://images/main'])
  t.equal(r.code, 4, 'nothing new to merge: LK_NOTHING_TO_COMMIT')
  t.match(r.stderr, /no changes/)
  r = await lk.run(['cat', 'lakefs://images/main/val/labels.csv'])
  t.equal(r.stdout, 'id,label\n1,dog\n', 'main sees the merged change')

  // tag, log, show
  r = await lk.run(['tag', 'create', 'lakefs://images/v1', 'lakefs://images/main'])
  t.equal(r.code, 0, r.stderr)
  const log = await lk.json<Commit[]>(['log', 'lakefs://images/v1'])
  t.same(log.map(c => c.message), ['promote relabel', 'relabel', 'initial data', log[3]?.message], 'newest first, down to the initial commit')
  t.equal(log.length, 4)
  const log1 = await lk.json<Commit[]>(['log', 'lakefs://images/main', '--amount', '1'])
  t.equal(log1.length, 1)
  const shown = await lk.json<{ ref: string, kind: string, commit: Commit }>(['show', 'lakefs://images/v1'])
  t.equal(shown.kind, 'tag')
  t.equal(shown.commit.id, m.commitId)
  r = await lk.run(['log', 'lakefs://images/main', '-n', '1'])
  t.match(r.stdout, new RegExp(`^commit ${m.commitId}\\nMerge: `))
  t.match(r.stdout, /    promote relabel/)

  // a true (non fast-forward) merge with a conflict, then with a strategy
  r = await lk.run(['branch', 'create', 'lakefs://images/exp-2', '--source', 'lakefs://images/main'])
  const s3 = shortTmp(t, 'lks-')
  writeFileSync(join(s3, 'labels.csv'), 'from exp-2\n')
  await lk.json(['import', s3, 'lakefs://images/exp-2/val'])
  const s4 = shortTmp(t, 'lks-')
  writeFileSync(join(s4, 'labels.csv'), 'from main\n')
  await lk.json(['import', s4, 'lakefs://images/main/val'])
  const before = await lk.json<Commit[]>(['log', 'lakefs://images/main', '-n', '1'])
  r = await lk.run(['merge', 'lakefs://images/exp-2', 'lakefs://images/main'])
  t.equal(r.code, 4, 'a conflict exits 4')
  t.match(r.stderr, /conflicting paths \(1\):\n {2}val\/labels\.csv/)
  const rj = await lk.run(['merge', 'lakefs://images/exp-2', 'lakefs://images/main', '--json'])
  t.equal(rj.code, 4)
  const ej = JSON.parse(rj.stderr) as { error: { code: string, exitCode: number, details: { conflicts: string[] } } }
  t.equal(ej.error.code, 'LK_MERGE_CONFLICT')
  t.same(ej.error.details.conflicts, ['val/labels.csv'])
  const after = await lk.json<Commit[]>(['log', 'lakefs://images/main', '-n', '1'])
  t.equal(after[0]?.id, before[0]?.id, 'a failed merge changes nothing')
  const ms = await lk.json<{ commitId: string }>(['merge', 'lakefs://images/exp-2', 'lakefs://images/main', '--strategy', 'source-wins'])
  t.equal((await lk.json<{ commit: Commit }>(['show', `lakefs://images/${ms.commitId}`])).commit.metadata['.lakefs.merge.strategy'], 'source-wins')
  r = await lk.run(['cat', 'lakefs://images/main/val/labels.csv'])
  t.equal(r.stdout, 'from exp-2\n')

  // branch delete
  r = await lk.run(['branch', 'delete', 'lakefs://images/exp-2'])
  t.equal(r.code, 0, r.stderr)
  const left = await lk.json<Array<{ name: string }>>(['branch', 'list', 'lakefs://images'])
  t.same(left.map(b => b.name).sort(), ['exp-1', 'main'])

  // status has the daemon's pid; daemon stop ends the process
  const st = await lk.json<{ pid: number, version: string, mounts: unknown[] }>(['status'])
  t.equal(st.pid, pid)
  r = await lk.run(['daemon', 'stop'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, new RegExp(`pid ${pid}\\) stopped`))
})

t.test('import progress is quiet when piped; --store picks another store', async t => {
  const lk = cliHome(t)
  const store = shortTmp(t, 'lkst-')
  const src = shortTmp(t, 'lks-')
  for (let i = 0; i < 1500; i++) writeFileSync(join(src, `f${i}`), String(i))
  let r = await lk.run(['--store', store, 'repo', 'create', 'other'])
  t.equal(r.code, 0, r.stderr)
  r = await lk.run(['--store', store, 'import', src, 'lakefs://other/main/x'])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '', 'no progress output on a pipe')
  t.match(r.stdout, /imported 1500 files/)
  const ls = await lk.json<unknown[]>(['--store', store, 'ls', 'lakefs://other/main/x/', '--recursive'])
  t.equal(ls.length, 1500)
  r = await lk.run(['repo', 'list', '--json'])
  t.same(JSON.parse(r.stdout), [], 'the default store does not have it')
})
