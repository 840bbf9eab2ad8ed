// `lk-mount run` end to end: the real CLI, a real daemon, real FUSE mounts, a real Python job
// (test/fixtures/train.py) and the MLflow fake. Checks the commit, its metadata, the manifest in
// the commit, the job's view of its inputs, and the MLflow calls; then a command killed by a
// forwarded signal, a failing command under each --on-failure policy, and an unreachable or
// silent tracking server. Where /dev/fuse exists these FAIL if mounting does not work.

import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CLI, type CliHome, type RunResult } from '../support/cli.js'
import { fuseAvailable, procMountsLine, sh } from '../support/fuse.js'
import { startMlflowFake, type MlflowFake } from '../support/mlflow-fake.js'
import { seededCliHome } from '../support/cli-dataset.js'

const TRAIN = fileURLToPath(new URL('../../../test/fixtures/train.py', import.meta.url))

interface Commit { id: string, message: string, metadata: Record<string, string>, parents: string[] }
interface Summary {
  runId: string
  status: number
  outputs: Array<{ commit?: Commit, action: string, changes: Array<{ path: string }> }>
  manifestUri?: string
  manifestPath?: string
  localManifest: string
  mlflow?: { runId: string }
  warnings: string[]
}

interface Env { lk: CliHome, base: string, main: Commit }

async function setup (t: Test): Promise<Env> {
  const { lk, base, commit } = await seededCliHome(t, 'lkr-', { 'train/a.txt': 'alpha\n', 'train/b.txt': 'beta\n', 'labels.csv': 'a,1\nb,2\n' })
  return { lk, base, main: commit }
}

async function branch (e: Env, name: string): Promise<void> {
  const r = await e.lk.run(['branch', 'create', `lakefs://dset/${name}`, '--source', 'lakefs://dset/main'])
  if (r.code !== 0) throw new Error(r.stderr)
}

/** `lk-mount run` as a child with extra environment; `started` gets the child to signal it */
function lkRun (e: Env, args: string[], env: NodeJS.ProcessEnv = {}, started?: (pid: number) => void): Promise<RunResult & { ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    const child = spawn(process.execPath, [CLI, 'run', ...args], { env: { ...e.lk.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => { stdout += String(d) })
    child.stderr.on('data', d => { stderr += String(d) })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`lk-mount run timed out; stderr: ${stderr}`)) }, 90_000)
    child.on('exit', (code, sig) => {
      clearTimeout(timer)
      e.lk.daemonPid()
      resolve({ code: code ?? 128 + (sig === null ? 0 : 1), stdout, stderr, ms: Date.now() - t0 })
    })
    child.stdin.end()
    if (child.pid !== undefined) started?.(child.pid)
  })
}

function mounts (e: Env, outBranch: string): string[] {
  return ['--mount', `lakefs://dset/main/train:${join(e.base, 'data')}`, '--mount', `lakefs://dset/${outBranch}:${join(e.base, 'out')}:rw`]
}

async function head (e: Env, ref: string): Promise<Commit> {
  return (await e.lk.json<{ commit: Commit }>(['show', `lakefs://dset/${ref}`])).commit
}

async function noMounts (t: Test, e: Env): Promise<void> {
  t.equal(await procMountsLine(join(e.base, 'data')), undefined, 'input unmounted')
  t.equal(await procMountsLine(join(e.base, 'out')), undefined, 'output unmounted')
}

async function closedPort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => { s.listen(0, '127.0.0.1', resolve) })
  const port = (s.address() as { port: number }).port
  await new Promise<void>(resolve => { s.close(() => { resolve() }) })
  return port
}

function mlflowEnv (fake: MlflowFake, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { MLFLOW_TRACKING_URI: fake.url, MLFLOW_EXPERIMENT_NAME: 'vision', MLFLOW_TRACKING_USERNAME: 'ann', MLFLOW_TRACKING_PASSWORD: 'pw', ...extra }
}

t.test('a Python job on mounted data: commit, metadata, manifest, MLflow', async t => {
  if (!fuseAvailable(t)) return
  const e = await setup(t)
  await branch(e, 'exp-1')
  const auth = `Basic ${Buffer.from('ann:pw').toString('base64')}`
  const fake = await startMlflowFake({ auth })
  t.teardown(() => fake.close())
  const base = await head(e, 'exp-1')

  const r = await lkRun(e, [...mounts(e, 'exp-1'), '-m', 'train run 1', '--meta', 'team=vision', '--json', '--', 'python3', TRAIN, '--flag', '1'], mlflowEnv(fake))
  t.equal(r.code, 0, r.stderr)
  const s = JSON.parse(r.stdout) as Summary
  const commit = s.outputs[0]?.commit
  if (commit === undefined) throw new Error(`no commit: ${r.stderr}`)
  t.same(s.warnings, [], 'no warnings')
  t.match(r.stderr, new RegExp(`committed ${commit.id} on lakefs://dset/exp-1`))
  t.match(r.stderr, `manifest: lakefs://dset/${commit.id}/.lk-mount/runs/${s.runId}.json`)
  await noMounts(t, e)

  // the commit and its metadata
  const h = await head(e, 'exp-1')
  t.equal(h.id, commit.id, 'the branch moved to the run\'s commit')
  t.same(h.parents, [base.id])
  t.equal(h.message, 'train run 1')
  const mlRun = s.mlflow?.runId ?? ''
  t.match(h.metadata, {
    team: 'vision',
    'lk-mount.input.0': `lakefs://dset/main/train@${e.main.id}`,
    'lk-mount.input.1': `lakefs://dset/exp-1@${base.id}`,
    'lk-mount.exit': '0',
    'lk-mount.run.id': s.runId,
    'lk-mount.manifest': `.lk-mount/runs/${s.runId}.json`,
    'mlflow.run_id': mlRun,
    'mlflow.tracking_uri': fake.url,
  })
  t.match(h.metadata['lk-mount.command'], /^python3 \S+train\.py --flag 1$/)
  t.ok(Date.parse(h.metadata['lk-mount.started'] ?? '') <= Date.parse(h.metadata['lk-mount.ended'] ?? ''), 'start before end')
  t.ok((h.metadata['lk-mount.host'] ?? '') !== '', 'host recorded')

  // what the job saw and wrote
  let c = await e.lk.run(['cat', 'lakefs://dset/exp-1/results/metrics.json'])
  t.equal(c.code, 0, c.stderr)
  const metrics = JSON.parse(c.stdout) as Record<string, unknown>
  t.match(metrics, {
    files: 2, bytes: 11, data_commit_env: e.main.id, lakefs_commit_env: e.main.id, lakefs_repo_env: 'dset',
    data_commit_xattr: e.main.id, run_id: s.runId, mlflow_run_id: mlRun, argv: ['--flag', '1'],
  })

  // the manifest, inside the commit
  c = await e.lk.run(['cat', `lakefs://dset/${commit.id}/.lk-mount/runs/${s.runId}.json`])
  t.equal(c.code, 0, c.stderr)
  const manifest = JSON.parse(c.stdout) as Record<string, unknown>
  t.match(manifest, {
    kind: 'lk-mount.run', runId: s.runId, command: ['python3', TRAIN, '--flag', '1'],
    exit: { status: 0, text: '0' },
    inputs: [{ uri: 'lakefs://dset/main/train', commit: e.main.id, write: false }, { uri: 'lakefs://dset/exp-1', commit: base.id, write: true }],
    outputs: [{ branch: 'exp-1', baseCommit: base.id, changes: [{ path: 'results/metrics.json', type: 'added' }] }],
    mlflow: { runId: mlRun },
  })
  t.ok(existsSync(s.localManifest), 'local copy written')

  // MLflow: what the server was told
  t.same(fake.calls.map(x => `${x.method} ${x.endpoint}`), [
    'GET experiments/get-by-name', 'POST experiments/create', 'POST runs/create',
    'POST runs/log-batch', 'POST runs/log-batch', 'POST runs/log-batch', 'POST runs/update',
  ])
  t.ok(fake.calls.every(x => x.authorization === auth), 'basic auth on every call')
  const run = fake.runs.get(mlRun)
  if (run === undefined) throw new Error('no MLflow run')
  t.equal(run.info.experiment_id, fake.experiments.size > 1 ? [...fake.experiments.values()].find(x => x.name === 'vision')?.experiment_id : '?')
  t.equal(run.info.status, 'FINISHED')
  t.same(Object.fromEntries(run.params), {
    'lakefs.repo.data': 'dset', 'lakefs.ref.data': 'main', 'lakefs.commit.data': e.main.id,
    'lakefs.repo.out': 'dset', 'lakefs.ref.out': 'exp-1', 'lakefs.commit.out': base.id,
  })
  t.equal(run.tags.get('lakefs.commit.data'), e.main.id)
  t.equal(run.tags.get('lakefs.output.commit'), commit.id)
  t.equal(run.tags.get('lk-mount.manifest'), `lakefs://dset/${commit.id}/.lk-mount/runs/${s.runId}.json`)
  t.equal(run.tags.get('lk-mount.run_id'), s.runId)

  // found again by metadata
  const f = await e.lk.json<Array<{ path: string }>>(['find', 'lakefs://dset/exp-1', '--meta', 'kind=metrics', '--meta', `run=${s.runId}`])
  t.same(f.map(x => x.path), ['results/metrics.json'], 'object metadata the job set through xattrs')
  const l = await e.lk.json<Commit[]>(['log', 'lakefs://dset/exp-1', '--meta', `mlflow.run_id=${mlRun}`])
  t.same(l.map(x => x.id), [commit.id], 'the commit an MLflow run produced')

  // an active MLflow run: attached to, not created and not ended
  await branch(e, 'exp-2')
  const before = fake.runs.size
  const r2 = await lkRun(e, [...mounts(e, 'exp-2'), '--json', '--', 'python3', TRAIN], mlflowEnv(fake, { MLFLOW_RUN_ID: mlRun }))
  t.equal(r2.code, 0, r2.stderr)
  t.equal(fake.runs.size, before, 'no new run')
  t.equal((JSON.parse(r2.stdout) as Summary).mlflow?.runId, mlRun)
  t.equal(fake.calls.filter(x => x.endpoint === 'runs/update').length, 1, 'the caller\'s run is not ended by us')
})

t.test('a command killed by a forwarded SIGTERM', async t => {
  if (!fuseAvailable(t)) return
  const e = await setup(t)
  await branch(e, 'sig')
  const fake = await startMlflowFake()
  t.teardown(() => fake.close())
  const ready = join(e.base, 'ready')
  let runPid = 0
  const waiting = lkRun(e, [...mounts(e, 'sig'), '--on-failure', 'commit', '--', 'python3', TRAIN, '--wait', ready], { MLFLOW_TRACKING_URI: fake.url }, pid => { runPid = pid })
  const end = Date.now() + 60_000
  while (!existsSync(ready) && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 100))
  t.ok(existsSync(ready), 'the job started')
  process.kill(runPid, 'SIGTERM')
  const r = await waiting
  t.equal(r.code, 143, `128 + SIGTERM; ${r.stderr}`)
  t.match(r.stderr, /failed \(signal:SIGTERM\): committing/)
  await noMounts(t, e)
  const h = await head(e, 'sig')
  t.equal(h.metadata['lk-mount.exit'], 'signal:SIGTERM')
  const c = await e.lk.run(['cat', 'lakefs://dset/sig/results/metrics.json'])
  t.equal(c.code, 0, 'outputs written before the signal are committed')
  const run = [...fake.runs.values()][0]
  t.equal(run?.info.status, 'KILLED')
})

t.test('a failing command under each --on-failure policy', async t => {
  if (!fuseAvailable(t)) return
  const e = await setup(t)
  for (const policy of ['keep', 'commit', 'discard', 'default'] as const) {
    const name = `f-${policy}`
    await branch(e, name)
    const before = await head(e, name)
    const out = join(e.base, 'out')
    const r = await lkRun(e, [...mounts(e, name), ...(policy === 'default' ? [] : ['--on-failure', policy]), '--', 'python3', TRAIN, '--exit', '3'])
    t.equal(r.code, 3, `${policy}: the command's status; ${r.stderr}`)
    await noMounts(t, e)
    const after = await head(e, name)
    const st = await e.lk.json<{ mounts: Array<{ mountpoint: string, state: string, stats: { stagedPaths: number } }> }>(['status'])
    const staged = st.mounts.find(m => m.mountpoint === out)
    if (policy === 'commit') {
      t.not(after.id, before.id, 'commit: committed anyway')
      t.equal(after.metadata['lk-mount.exit'], '3')
      t.match(after.message, /\(3\)$/)
      t.equal(staged, undefined)
    } else if (policy === 'discard') {
      t.equal(after.id, before.id, 'discard: no commit')
      t.equal(staged, undefined, 'discard: nothing staged')
    } else {
      t.equal(after.id, before.id, `${policy}: no commit`)
      t.equal(staged?.state, 'staged', `${policy}: outputs kept staged`)
      t.equal(staged?.stats.stagedPaths, 2, 'results and manifest')
      t.match(r.stderr, /kept staged/)
      // settle it so the next policy can use the mount point: the later commit still carries
      // the run's provenance, given with --keep
      if (policy === 'keep') {
        const u = await e.lk.run(['umount', out, '--discard'])
        t.equal(u.code, 0, u.stderr)
      } else {
        const u = await e.lk.json<{ commit: Commit }>(['umount', out, '--commit'])
        t.equal(u.commit.metadata['lk-mount.exit'], '3', 'kept outputs committed later keep the run metadata')
        t.match(u.commit.message, /train\.py --exit 3 \(3\)$/)
        t.match(u.commit.metadata['lk-mount.input.0'], /^lakefs:\/\/dset\/main\/train@/)
      }
    }
  }
  // a command that cannot start
  await branch(e, 'nocmd')
  const r = await lkRun(e, [...mounts(e, 'nocmd'), '--on-failure', 'discard', '--', join(e.base, 'no-such-program')])
  t.equal(r.code, 127)
  await noMounts(t, e)
})

t.test('an unreachable or silent MLflow server is a warning, never a lost commit', async t => {
  if (!fuseAvailable(t)) return
  const e = await setup(t)
  await branch(e, 'down')
  const port = await closedPort()
  let r = await lkRun(e, [...mounts(e, 'down'), '--json', '--', 'python3', TRAIN], { MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}` })
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /warning: MLflow: .*unreachable/)
  const s = JSON.parse(r.stdout) as Summary
  t.ok(s.outputs[0]?.commit, 'committed')
  const h = await head(e, 'down')
  t.equal(h.id, s.outputs[0]?.commit?.id)
  t.equal(h.metadata['mlflow.run_id'], undefined, 'no MLflow run to record')
  t.equal(s.warnings.length, 1, 'one warning, not one per call')

  await branch(e, 'silent')
  const hang = await startMlflowFake({ hang: true })
  t.teardown(() => hang.close())
  r = await lkRun(e, [...mounts(e, 'silent'), '--json', '--', 'python3', TRAIN], { MLFLOW_TRACKING_URI: hang.url, LK_MOUNT_MLFLOW_TIMEOUT_MS: '1000' })
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /no answer within 1000 ms/)
  t.ok((JSON.parse(r.stdout) as Summary).outputs[0]?.commit, 'committed')
  t.equal(hang.calls.length, 1, 'one call went out, then the client stopped trying')
})

t.test('parallel experiments: a branch each, runs at once, compare, merge the winner, tag it', async t => {
  if (!fuseAvailable(t)) return
  const e = await setup(t)
  const fake = await startMlflowFake()
  t.teardown(() => fake.close())
  const names = ['exp-a', 'exp-b']
  for (const n of names) await branch(e, n)
  const runs = await Promise.all(names.map(async (n, i) => {
    const dir = join(e.base, n)
    mkdirSync(dir)
    t.teardown(async () => {
      for (const d of ['data', 'out']) if (await procMountsLine(join(dir, d)) !== undefined) await sh('fusermount', ['-u', '-z', join(dir, d)])
    })
    const r = await lkRun(e, [
      '--mount', `lakefs://dset/main/train:${join(dir, 'data')}`, '--mount', `lakefs://dset/${n}:${join(dir, 'out')}:rw`,
      '--meta', `lr=${i === 0 ? '0.1' : '0.01'}`, '--json', '--', 'python3', TRAIN, '--lr', String(i),
    ], { MLFLOW_TRACKING_URI: fake.url, MLFLOW_EXPERIMENT_NAME: 'sweep' })
    t.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as Summary
  }))
  const [a, b] = runs.map(s => s.outputs[0]?.commit?.id ?? '')
  t.ok(a !== '' && b !== '' && a !== b, 'two output commits')
  t.equal(fake.runs.size, 2, 'two MLflow runs in one experiment')
  t.equal(new Set([...fake.runs.values()].map(r => r.info.experiment_id)).size, 1)

  // compare the runs by their data commits
  const d = await e.lk.json<Array<{ path: string, type: string }>>(['diff', `lakefs://dset/${a ?? ''}`, `lakefs://dset/${b ?? ''}`])
  t.same(d.map(x => x.path).sort(), [`.lk-mount/runs/${runs[0]?.runId ?? ''}.json`, `.lk-mount/runs/${runs[1]?.runId ?? ''}.json`, 'results/metrics.json'].sort(), 'the results differ, and each run has its own manifest')
  // the winner is found by its metadata, merged and tagged
  const [winner] = await e.lk.json<Commit[]>(['log', 'lakefs://dset/exp-b', '--meta', 'lr=0.01'])
  t.equal(winner?.id, b)
  let r = await e.lk.run(['merge', 'lakefs://dset/exp-b', 'lakefs://dset/main'])
  t.equal(r.code, 0, r.stderr)
  r = await e.lk.run(['tag', 'create', 'lakefs://dset/best-lr', 'lakefs://dset/main'])
  t.equal(r.code, 0, r.stderr)
  const c = await e.lk.run(['cat', 'lakefs://dset/best-lr/results/metrics.json'])
  t.match(JSON.parse(c.stdout), { argv: ['--lr', '1'] }, 'the tag holds the winning run\'s results')
})

t.test('read-only run: SIGINT forwarded (stdin is not a terminal), 130, local manifest only', async t => {
  if (!fuseAvailable(t)) return
  const e = await setup(t)
  const ready = join(e.base, 'ready')
  let runPid = 0
  const waiting = lkRun(e, ['--mount', `lakefs://dset/main/train:${join(e.base, 'data')}`, '--json', '--', 'python3', TRAIN, '--no-output', '--wait', ready], {}, pid => { runPid = pid })
  const end = Date.now() + 60_000
  while (!existsSync(ready) && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 100))
  t.ok(existsSync(ready), 'the job started')
  process.kill(runPid, 'SIGINT')
  const r = await waiting
  t.equal(r.code, 130, `128 + SIGINT (Python's KeyboardInterrupt re-raised as the signal); ${r.stderr}`)
  await noMounts(t, e)
  const s = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as Summary
  t.equal(s.manifestUri, undefined, 'no write mount, no manifest in a commit')
  t.same(s.outputs, [])
  t.ok(existsSync(s.localManifest), 'the local copy records the run')
  t.equal(await head(e, 'main').then(c => c.id), e.main.id, 'nothing committed')
})
