// lakeFS's own Python clients, unmodified (the generated `lakefs_sdk` and the high-level `lakefs`,
// ../shared/vendor/lakefs-python), against `lk-mount serve`: test/fixtures/lakefs_sdk_scenario.py
// makes every call and checks it against what lakeFS answers; each of its checks is an assertion
// here. Once with blobs on the server's disk (serve as a child process), once with blobs in a Ceph
// RGW bucket (presigned reads and uploads). Every exchange also goes through the spec-checking
// proxy (test/support/lakefs-spec.ts).
//
// The vendored clients live outside the repository (shared/): when they are missing the test
// skips, naming the directory, except under CI, where it fails.

import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startSpecProxy, type SpecProxy } from '../support/lakefs-spec.js'
import { rgwAvailable } from '../support/rgw.js'
import { SERVE_AK, SERVE_SK, startRgwServe } from '../support/rgw-serve.js'
import { startServe } from '../support/serve.js'

const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
const SCENARIO = join(ROOT, 'test', 'fixtures', 'lakefs_sdk_scenario.py')
/** where the clients are: LK_LAKEFS_PYTHON, else shared/ beside the checkout (as CI lays it out) */
const VENDOR = process.env.LK_LAKEFS_PYTHON ?? resolve(ROOT, '..', 'shared', 'vendor', 'lakefs-python')
// Debian's interpreter: the clients run on Debian's python3-pydantic/urllib3/dateutil (scripts/setup.sh --test)
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'

interface Check { api: 'sdk' | 'hl', name: string, ok: boolean, why: string }

async function run (cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null, out: string }> {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  const code = await new Promise<number | null>(resolve => { child.on('close', resolve) })
  clearTimeout(timer)
  return { code, out }
}

const missing = !existsSync(join(VENDOR, 'lakefs_sdk')) || !existsSync(join(VENDOR, 'lakefs'))
if (missing && process.env.CI !== undefined) {
  t.fail(`lakeFS's Python clients are missing: ${VENDOR} (the shared/ directory beside the checkout, or LK_LAKEFS_PYTHON)`)
}
const skipAll = missing ? `lakeFS's Python clients not found at ${VENDOR} (set LK_LAKEFS_PYTHON to their directory)` : false

async function scenario (t: Test, url: string, mode: 'local' | 's3', proxy: SpecProxy): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lk-sdk-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const outFile = join(dir, 'checks.json')
  const env = { PYTHONPATH: VENDOR, PYTHONDONTWRITEBYTECODE: '1' }
  const probe = await run(PYTHON, ['-c', 'import lakefs_sdk, lakefs'], env, 60_000)
  if (probe.code !== 0) {
    const why = `${PYTHON} cannot import lakeFS's clients (install python3-pydantic python3-urllib3 python3-dateutil python3-typing-extensions: scripts/setup.sh --test): ${probe.out.slice(-500)}`
    if (process.env.CI !== undefined) t.fail(why)
    else await t.test('the scenario', { skip: why }, async () => {})
    return
  }
  const r = await run(PYTHON, [SCENARIO, url, SERVE_AK, SERVE_SK, mode, outFile], env, 240_000)
  t.equal(r.code, 0, 'the scenario ran', { output: r.out.slice(-3000) })
  const { checks } = JSON.parse(await readFile(outFile, 'utf8')) as { checks: Check[] }
  for (const c of checks) t.ok(c.ok, `[${c.api}] ${c.name}`, c.ok ? {} : { why: c.why })
  for (const api of ['sdk', 'hl'] as const) {
    const n = checks.filter(c => c.api === api)
    t.comment(`${mode}: ${api === 'sdk' ? 'lakefs_sdk' : 'lakefs (high-level)'}: ${n.length} calls, ${n.filter(c => !c.ok).length} failed`)
  }
  t.ok(checks.filter(c => c.api === 'sdk').length >= 100 && checks.filter(c => c.api === 'hl').length >= 40, 'the whole scenario ran')
  // lakeFS's own high-level client uploads raw bodies with the object's content type (upload(content_type=...));
  // lakeFS takes any non-multipart body as the content, though its spec lists only octet-stream
  const clientDeviation = /\(uploadObject\) request: request content type \S+ is not one of multipart\/form-data, application\/octet-stream$/
  t.same(proxy.violations.filter(v => !clientDeviation.test(v)), [], 'every exchange kept to the lakeFS spec')
}

t.test('lakeFS Python SDKs against serve, blobs on local disk', { skip: skipAll }, async t => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-sdk-serve-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const serve = await startServe(t, { dir, accessKeyId: SERVE_AK, secretAccessKey: SERVE_SK })
  const proxy = await startSpecProxy(serve.url)
  t.teardown(async () => { await proxy.close() })
  await scenario(t, proxy.endpoint.replace(/\/api\/v1$/, ''), 'local', proxy)
})

t.test('lakeFS Python SDKs against serve, blobs on Ceph RGW (presigned)', { skip: skipAll !== false ? skipAll : rgwAvailable() ? false : 'Ceph RGW packages not installed (scripts/setup.sh --test)' }, async t => {
  const { proxy } = await startRgwServe(t, 'lk-sdk-rgw-')
  await scenario(t, proxy.endpoint.replace(/\/api\/v1$/, ''), 's3', proxy)
})
