// The pure rules of `lk-mount run` (mount specs, variable names, metadata, exit status) and the
// MLflow client against the fake tracking server: request shapes, auth, experiment lookup and
// creation, and the bounded behaviour when the server is down or never answers.

import t from 'tap'
import { createServer } from 'node:net'
import { checkSpecs, commitMetadata, envName, makeRunId, outcomeStatus, parseMountSpec, runEnv, shellJoin, type MountedInput } from '../../cli/run/spec.js'
import { MlflowClient, MlflowError, mlflowConfigFromEnv } from '../../cli/run/mlflow.js'
import { startMlflowFake } from '../support/mlflow-fake.js'

t.test('mount specs', async t => {
  const a = parseMountSpec('lakefs://images/main/train:/data', '/w')
  t.same([a.uri, a.mountpoint, a.write, a.name, a.parsed.path], ['lakefs://images/main/train', '/data', false, 'DATA', 'train'])
  const b = parseMountSpec('lakefs://images/exp-42:out dir:rw', '/w')
  t.same([b.uri, b.mountpoint, b.write, b.name], ['lakefs://images/exp-42', '/w/out dir', true, 'OUT_DIR'])
  t.equal(parseMountSpec('lakefs://images/main:/mnt/x:ro').write, false)
  t.equal(parseMountSpec('lakefs://images/main/a:b.txt:/mnt/x').parsed.path, 'a:b.txt', 'object paths may hold ":"')
  for (const bad of ['lakefs://images/main', 'lakefs://images/main:', '/data', 'lakefs://images:/d', 's3://b/k:/d']) {
    t.throws(() => parseMountSpec(bad), { name: 'LkError' }, bad)
  }
  t.equal(envName('/mnt/my-data.v2'), 'MY_DATA_V2')
  t.throws(() => { checkSpecs([parseMountSpec('lakefs://images/main:/a/data'), parseMountSpec('lakefs://images/dev:/b/data')]) }, /both give the variable name LKMOUNT_DATA_/)
  t.throws(() => { checkSpecs([parseMountSpec('lakefs://images/main:/a'), parseMountSpec('lakefs://images/dev:/a:rw')]) }, /two --mount options/)
  t.throws(() => { checkSpecs([]) }, /at least one --mount/)
})

t.test('environment, metadata, exit status', async t => {
  const m = (s: string, commit: string): MountedInput => {
    const p = parseMountSpec(s)
    return { ...p, repo: p.parsed.repo, ref: p.parsed.ref ?? '', commit }
  }
  const inputs = [m('lakefs://images/v3/train:/mnt/data', 'c1'), m('lakefs://images/exp:/mnt/out:rw', 'c2')]
  const env = runEnv(inputs, { runId: 'R', manifest: '/mnt/out/.lk-mount/runs/R.json', mlflowRunId: 'M' })
  t.match(env, {
    LAKEFS_REPO: 'images', LAKEFS_REF: 'v3', LAKEFS_COMMIT: 'c1',
    LKMOUNT_DATA_COMMIT: 'c1', LKMOUNT_DATA_PATH: '/mnt/data', LKMOUNT_DATA_URI: 'lakefs://images/v3/train',
    LKMOUNT_OUT_REF: 'exp', LKMOUNT_OUT_COMMIT: 'c2', LKMOUNT_RUN_ID: 'R', MLFLOW_RUN_ID: 'M',
  })
  const meta = commitMetadata({
    runId: 'R', command: ['python', 'it s.py'], commandLine: shellJoin(['python', "it's.py"]), host: 'h', user: 'u',
    startedAt: 's', endedAt: 'e', outcome: { kind: 'signal', signal: 'SIGTERM', number: 15 },
    mlflow: { trackingUri: 'http://x', runId: 'M' },
  }, inputs, '.lk-mount/runs/R.json', { team: 'vision', 'lk-mount.exit': 'forged' })
  t.match(meta, {
    'lk-mount.input.0': 'lakefs://images/v3/train@c1', 'lk-mount.input.1': 'lakefs://images/exp@c2',
    'lk-mount.exit': 'signal:SIGTERM', 'lk-mount.command': "python 'it'\\''s.py'", 'mlflow.run_id': 'M', team: 'vision',
    'lk-mount.manifest': '.lk-mount/runs/R.json',
  })
  t.equal(outcomeStatus({ kind: 'signal', signal: 'SIGKILL', number: 9 }), 137)
  t.equal(outcomeStatus({ kind: 'exit', code: 3 }), 3)
  t.equal(outcomeStatus({ kind: 'spawn-error', message: 'ENOENT' }), 127)
  t.match(makeRunId(new Date('2026-11-26T15:00:01.234Z'), 'abc123'), /^20261126T150001Z-abc123$/)
})

t.test('MLflow client: request shapes, experiment by name, auth', async t => {
  const fake = await startMlflowFake({ auth: 'Bearer s3cret' })
  t.teardown(() => fake.close())
  t.throws(() => mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: 'file:///tmp/mlruns' }), MlflowError)
  t.equal(mlflowConfigFromEnv({}), undefined)
  const anon = new MlflowClient(mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: fake.url })!)
  t.match(await anon.experimentId('x').catch((e: unknown) => e), { errorCode: 'UNAUTHENTICATED', status: 401 })
  t.equal(anon.unreachable, false, 'an error answer is not an unreachable server')

  const c = new MlflowClient(mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: fake.url + '/', MLFLOW_TRACKING_TOKEN: 's3cret' })!)
  const exp = await c.experimentId('vision')
  t.equal(await c.experimentId('vision'), exp, 'found, not created twice')
  const run = await c.createRun({ experimentId: exp, startTimeMs: 1000, tags: [{ key: 'a', value: 'b' }] })
  const params = Array.from({ length: 150 }, (_, i) => ({ key: `p${i}`, value: String(i) }))
  await c.logBatch(run.runId, { params, tags: [{ key: 't', value: 'x'.repeat(6000) }] })
  await c.setTag(run.runId, 'k', 'v')
  await c.updateRun(run.runId, 'FINISHED', 2000)
  t.match(await c.logBatch(run.runId, { params: [{ key: 'p1', value: 'changed' }] }).catch((e: unknown) => e), { errorCode: 'INVALID_PARAMETER_VALUE' }, 'params never change')
  const r = fake.runs.get(run.runId)!
  t.equal(r.params.size, 150, 'params split into batches of at most 100')
  t.equal(r.tags.get('t')?.length, 5000, 'tag values clipped to MLflow\'s limit')
  t.equal(r.info.status, 'FINISHED')
  t.equal(r.info.end_time, 2000)
  t.same(fake.calls.map(x => `${x.method} ${x.endpoint}`), [
    'GET experiments/get-by-name', 'GET experiments/get-by-name', 'POST experiments/create', 'GET experiments/get-by-name',
    'POST runs/create', 'POST runs/log-batch', 'POST runs/log-batch', 'POST runs/set-tag', 'POST runs/update', 'POST runs/log-batch',
  ])
  const create = fake.calls.find(x => x.endpoint === 'runs/create')!
  t.same(create.body, { experiment_id: exp, start_time: 1000, tags: [{ key: 'a', value: 'b' }] })
  t.equal(create.contentType, 'application/json')

  const basic = new MlflowClient(mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: fake.url, MLFLOW_TRACKING_USERNAME: 'ann', MLFLOW_TRACKING_PASSWORD: 'pw' })!)
  t.match(await basic.experimentId('vision').catch((e: unknown) => e), { status: 401 })
  t.equal(fake.calls.at(-1)?.authorization, `Basic ${Buffer.from('ann:pw').toString('base64')}`)
})

t.test('MLflow client: a server that is down or never answers costs one bounded wait', async t => {
  // a port nothing listens on
  const probe = createServer()
  await new Promise<void>(resolve => { probe.listen(0, '127.0.0.1', resolve) })
  const port = (probe.address() as { port: number }).port
  await new Promise<void>(resolve => { probe.close(() => { resolve() }) })
  const down = new MlflowClient(mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}` })!)
  await t.rejects(down.createRun({ experimentId: '0', startTimeMs: 1 }), /unreachable/)
  t.equal(down.unreachable, true)

  const fake = await startMlflowFake({ hang: true })
  t.teardown(() => fake.close())
  const hung = new MlflowClient(mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: fake.url, LK_MOUNT_MLFLOW_TIMEOUT_MS: '300' })!)
  const t0 = Date.now()
  await t.rejects(hung.createRun({ experimentId: '0', startTimeMs: 1 }), /no answer within 300 ms/)
  await t.rejects(hung.setTag('r', 'k', 'v'), /unreachable/)
  const ms = Date.now() - t0
  t.ok(ms < 2000, `two calls to a black hole took ${ms} ms (one timeout)`)
  t.equal(fake.calls.length, 1, 'the second call never went out')
})

t.test('runs started together create their experiment once (regression: RESOURCE_ALREADY_EXISTS race)', async t => {
  const fake = await startMlflowFake()
  t.teardown(() => fake.close())
  const clients = Array.from({ length: 6 }, () => new MlflowClient(mlflowConfigFromEnv({ MLFLOW_TRACKING_URI: fake.url })!))
  const ids = await Promise.all(clients.map(async c => await c.experimentId('sweep')))
  t.equal(new Set(ids).size, 1, 'every run got the same experiment id')
})
