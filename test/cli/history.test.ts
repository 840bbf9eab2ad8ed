// The history commands through the built CLI and a real daemon: log --path/--prefix/--since/
// --first-parent, revert (with --parent for a merge), cherry-pick, branch reset and reset --hard,
// merge -m/--meta/--allow-empty — with --json, once against the embedded store and once against
// `lk-mount serve` through the lakeFS backend, so both answer alike (lakeFS's semantics).
//
// Uncommitted changes are staged by opening the store directory in the test process, which the
// store allows (several processes may share it); the CLI has no command that stages without a mount.

import t, { type Test } from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BranchName, ObjectPath, RepoName } from '../../lib/core/ids.js'
import { LocalRemote } from '../../lib/remote/local.js'
import { cliHome, type CliHome } from '../support/cli.js'
import { lakefsCli, startServe } from '../support/serve.js'
import { shortTmp } from '../support/tmp.js'

interface Commit { id: string, parents: string[], message: string, metadata: Record<string, string> }

async function history (t: Test, lk: CliHome, storeDir: string): Promise<void> {
  const ok = async <T>(args: string[]): Promise<T> => await lk.json<T>(args)
  const fails = async (args: string[], code: number, stderr: RegExp): Promise<void> => {
    const r = await lk.run(args)
    t.equal(r.code, code, `lk-mount ${args.join(' ')} exits ${code}`, { stderr: r.stderr })
    t.match(r.stderr, stderr)
  }
  const importDir = async (uri: string, files: Record<string, string>, message: string): Promise<Commit> => {
    const src = shortTmp(t, 'lkh-')
    for (const [p, body] of Object.entries(files)) {
      mkdirSync(join(src, p, '..'), { recursive: true })
      writeFileSync(join(src, p), body)
    }
    return (await ok<{ commit: Commit }>(['import', src, uri, '-m', message])).commit
  }
  const cat = async (uri: string): Promise<{ code: number, stdout: string }> => await lk.run(['cat', uri])

  await ok(['repo', 'create', 'hist'])
  const c1 = await importDir('lakefs://hist/main', { 'train/a.txt': 'a\n', 'labels.csv': 'l1\n' }, 'initial')
  const c2 = await importDir('lakefs://hist/main/train', { 'b.txt': 'bad data\n' }, 'bad drop')
  const c3 = await importDir('lakefs://hist/main', { 'labels.csv': 'l2\n' }, 'relabel')

  // lineage: which commits changed this file / this prefix
  t.same((await ok<Commit[]>(['log', 'lakefs://hist/main', '--path', 'labels.csv'])).map(c => c.id), [c3.id, c1.id])
  t.same((await ok<Commit[]>(['log', 'lakefs://hist/main', '--prefix', 'train/'])).map(c => c.id), [c2.id, c1.id])
  t.same((await ok<Commit[]>(['log', 'lakefs://hist/main', '--path', 'train/b.txt', '--path', 'labels.csv', '-n', '2'])).map(c => c.id), [c3.id, c2.id])
  t.same(await ok<Commit[]>(['log', 'lakefs://hist/main', '--since', new Date(Date.now() + 86_400_000).toISOString()]), [], '--since tomorrow: nothing')
  t.equal((await ok<Commit[]>(['log', 'lakefs://hist/main', '--since', '2000-01-01'])).length, 4)
  await fails(['log', 'lakefs://hist/main', '--since', 'last tuesday'], 2, /--since takes a date/)

  // revert: a new commit that undoes one, history kept
  const rv = await ok<Commit>(['revert', 'lakefs://hist/main', c2.id, '-m', 'undo the bad drop', '--meta', 'ticket=42'])
  t.same([rv.message, rv.metadata.ticket, rv.parents], ['undo the bad drop', '42', [c3.id]])
  t.equal((await cat('lakefs://hist/main/train/b.txt')).code, 3, 'the reverted file is gone')
  t.equal((await cat('lakefs://hist/main/labels.csv')).stdout, 'l2\n', 'later commits stay')
  await fails(['revert', 'lakefs://hist/main', c2.id], 4, /no changes/)
  const rv2 = await ok<Commit>(['revert', 'lakefs://hist/main', c2.id.slice(0, 16), '--allow-empty'])
  t.equal(rv2.message, `Revert ${c2.id.slice(0, 16)}`, "--allow-empty records it anyway; lakeFS's default message names the ref as given")
  await fails(['revert', 'lakefs://hist/main', 'nope'], 3, /not found/)
  // conflict: the branch changed the path again since the reverted commit
  await fails(['revert', 'lakefs://hist/main', c1.id], 4, /labels\.csv/)

  // cherry-pick: promote one experiment's commit
  await ok(['branch', 'create', 'lakefs://hist/exp', '--source', 'lakefs://hist/main'])
  const e1 = await importDir('lakefs://hist/exp', { 'result.txt': 'r1\n' }, 'experiment result')
  await importDir('lakefs://hist/exp', { 'scratch.txt': 's\n' }, 'scratch')
  const cp = await ok<Commit>(['cherry-pick', 'lakefs://hist/main', 'lakefs://hist/exp~1'])
  t.equal(cp.message, 'experiment result')
  t.equal(cp.metadata['cherry-pick-origin'], e1.id)
  t.equal((await cat('lakefs://hist/main/result.txt')).stdout, 'r1\n')
  t.equal((await cat('lakefs://hist/main/scratch.txt')).code, 3, 'only the picked commit came over')

  // merge -m/--meta: always a merge commit; then revert that merge with --parent
  const mg = await ok<{ commitId: string }>(['merge', 'lakefs://hist/exp', 'lakefs://hist/main', '-m', 'merge exp', '--meta', 'run=7'])
  const mc = (await ok<{ commit: Commit }>(['show', `lakefs://hist/${mg.commitId}`])).commit
  t.same([mc.message, mc.metadata, mc.parents.length], ['merge exp', { run: '7', '.lakefs.merge.strategy': 'default' }, 2])
  await fails(['merge', 'lakefs://hist/exp', 'lakefs://hist/main'], 4, /no changes/)
  t.equal((await ok<{ commitId: string }>(['merge', 'lakefs://hist/exp', 'lakefs://hist/main', '--allow-empty'])).commitId.length, 64)
  await fails(['revert', 'lakefs://hist/main', mg.commitId], 2, /parent number/)
  await ok(['revert', 'lakefs://hist/main', mg.commitId, '--parent', '1'])
  t.equal((await cat('lakefs://hist/main/scratch.txt')).code, 3, 'the merge is undone')

  // uncommitted changes: refused, then dropped by branch reset
  const store = await LocalRemote.open({ dir: storeDir })
  await store.putObject('hist' as RepoName, 'main' as BranchName, 'staged.txt' as ObjectPath, { kind: 'buffer', data: Buffer.from('s') })
  await store.close()
  await fails(['revert', 'lakefs://hist/main', c3.id], 4, /dirty branch/)
  await fails(['cherry-pick', 'lakefs://hist/main', e1.id], 4, /dirty branch/)
  await fails(['merge', 'lakefs://hist/exp', 'lakefs://hist/main', '--allow-empty'], 4, /dirty branch/)
  const soft = await ok<{ branch: string, commitId: string, dropped: boolean }>(['branch', 'reset', 'lakefs://hist/main'])
  t.equal(soft.dropped, true)
  t.equal((await cat('lakefs://hist/main/staged.txt')).code, 3, 'the staged object is gone')

  // hard reset: the branch moves back; the commits after stay reachable by id
  const head = (await ok<Commit[]>(['log', 'lakefs://hist/exp', '-n', '1']))[0]
  const hard = await ok<{ commitId: string, dropped: boolean }>(['branch', 'reset', 'lakefs://hist/exp', '--hard', 'exp~1'])
  t.same([hard.commitId, hard.dropped], [e1.id, false])
  t.equal((await cat('lakefs://hist/exp/scratch.txt')).code, 3)
  t.equal((await cat(`lakefs://hist/${head?.id ?? ''}/scratch.txt`)).stdout, 's\n', 'the dropped commit is still there by id')
  await fails(['branch', 'reset', 'lakefs://hist/exp', '--hard', 'nope'], 3, /not found/)

  // log --first-parent skips what merges brought in
  const all = await ok<Commit[]>(['log', 'lakefs://hist/main'])
  const firstParent = await ok<Commit[]>(['log', 'lakefs://hist/main', '--first-parent'])
  t.ok(firstParent.length < all.length, 'fewer commits')
  t.notOk(firstParent.some(c => c.message === 'scratch'), 'the merged branch\'s own commits are left out')

  // human output
  const r = await lk.run(['revert', 'lakefs://hist/main', rv.id])
  t.match(r.stdout, /^reverted [0-9a-f]{64} on lakefs:\/\/hist\/main: commit [0-9a-f]{12}\n$/)
}

t.test('history commands against the embedded store', async t => {
  const lk = cliHome(t)
  t.teardown(async () => { await lk.killDaemon() })
  await history(t, lk, join(lk.home, 'store'))
})

t.test('history commands against lk-mount serve through the lakeFS backend', async t => {
  const dir = shortTmp(t, 'lkhs-')
  const AK = 'AKHIST'
  const SK = 'history-secret'
  const { url } = await startServe(t, { dir, accessKeyId: AK, secretAccessKey: SK })
  const { cli } = lakefsCli(t, { url, accessKeyId: AK, secretAccessKey: SK })
  await history(t, cli, join(dir, 'srv'))
})
