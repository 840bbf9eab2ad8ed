// lakectl-style configuration: flags > LAKECTL_* env > ~/.lakectl.yaml, and the secret never shows.

import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LkError } from '../../lib/core/errors.js'
import { describeLakefsConfig, loadLakefsConfig, normaliseEndpoint, resolveLakefsConfig } from '../../lib/remote/lakefs-config.js'

const FILE = `
server:
  endpoint_url: http://file.example:8000
credentials:
  access_key_id: AKFILE
  secret_access_key: file-secret
`

t.test('endpoint normalisation', async t => {
  t.equal(normaliseEndpoint('http://h:8000'), 'http://h:8000/api/v1')
  t.equal(normaliseEndpoint('http://h:8000/'), 'http://h:8000/api/v1')
  t.equal(normaliseEndpoint('https://h/api/v1/'), 'https://h/api/v1')
  t.equal(normaliseEndpoint('https://h/lakefs'), 'https://h/lakefs/api/v1')
  t.throws(() => normaliseEndpoint('ftp://h'), { code: 'LK_USAGE' })
  t.throws(() => normaliseEndpoint('not a url'), { code: 'LK_USAGE' })
  const e = t.throws(() => normaliseEndpoint('http://AK:sekrit@h:8000')) as LkError
  t.equal(e.code, 'LK_USAGE')
  t.notMatch(e.message, /sekrit/)
})

t.test('precedence: flags > env > file', async t => {
  const fromFile = resolveLakefsConfig({ fileContent: FILE })
  t.same(fromFile, { endpoint: 'http://file.example:8000/api/v1', accessKeyId: 'AKFILE', secretAccessKey: 'file-secret', sources: { endpoint: 'file', accessKeyId: 'file', secretAccessKey: 'file' } })

  const env = { LAKECTL_SERVER_ENDPOINT_URL: 'http://env.example', LAKECTL_CREDENTIALS_ACCESS_KEY_ID: 'AKENV' }
  const mixed = resolveLakefsConfig({ env, fileContent: FILE })
  t.equal(mixed?.endpoint, 'http://env.example/api/v1')
  t.equal(mixed?.accessKeyId, 'AKENV')
  t.equal(mixed?.secretAccessKey, 'file-secret', 'a value missing from env falls back to the file')
  t.same(mixed?.sources, { endpoint: 'env', accessKeyId: 'env', secretAccessKey: 'file' })

  const flags = resolveLakefsConfig({ flags: { endpoint: 'http://flag.example:1', secretAccessKey: 'flag-secret' }, env, fileContent: FILE })
  t.equal(flags?.endpoint, 'http://flag.example:1/api/v1')
  t.equal(flags?.accessKeyId, 'AKENV')
  t.equal(flags?.secretAccessKey, 'flag-secret')

  t.equal(resolveLakefsConfig({ env: { LAKECTL_SERVER_ENDPOINT_URL: '' }, flags: { endpoint: '' } }), undefined, 'nothing configured: undefined (embedded store)')
  t.equal(resolveLakefsConfig({ fileContent: '' }), undefined, 'an empty file configures nothing')
})

t.test('missing credentials and bad files are clear errors without the secret', async t => {
  const e = t.throws(() => resolveLakefsConfig({ env: { LAKECTL_SERVER_ENDPOINT_URL: 'http://h', LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY: 'env-secret' } })) as LkError
  t.equal(e.code, 'LK_CREDENTIALS')
  t.match(e.message, /access key id is missing/)
  t.notMatch(e.message, /env-secret/)

  const bad = t.throws(() => resolveLakefsConfig({ fileContent: 'credentials:\n  secret_access_key: "unterminated-secret\n  x: [' })) as LkError
  t.equal(bad.code, 'LK_USAGE')
  t.notMatch(bad.message, /unterminated-secret/)
  t.throws(() => resolveLakefsConfig({ fileContent: '- a\n- b\n' }), { code: 'LK_USAGE' })
})

t.test('description never shows the secret', async t => {
  const c = resolveLakefsConfig({ fileContent: FILE })
  t.ok(c)
  if (c === undefined) return
  const d = describeLakefsConfig(c)
  t.match(d, /AKFILE/)
  t.notMatch(d, /file-secret/)
})

t.test('loadLakefsConfig reads the file named by HOME, and an explicit --config must exist', async t => {
  const home = mkdtempSync(join(tmpdir(), 'lk-lakectl-'))
  t.teardown(() => { rmSync(home, { recursive: true, force: true }) })
  t.equal(await loadLakefsConfig({}, { HOME: home }), undefined, 'no file, no env: undefined')
  writeFileSync(join(home, '.lakectl.yaml'), FILE)
  const c = await loadLakefsConfig({}, { HOME: home, LAKECTL_CREDENTIALS_ACCESS_KEY_ID: 'AKENV' })
  t.equal(c?.endpoint, 'http://file.example:8000/api/v1')
  t.equal(c?.accessKeyId, 'AKENV')
  await t.rejects(loadLakefsConfig({ configFile: join(home, 'missing.yaml') }, { HOME: home }), { code: 'LK_USAGE' })
})

t.test('openLakefsRemote: lakectl config to a checked client', async t => {
  const { LocalRemote } = await import('../../lib/remote/local.js')
  const { startServer } = await import('../../lib/server/server.js')
  const { openLakefsRemote } = await import('../../lib/remote/lakefs-open.js')
  const dir = mkdtempSync(join(tmpdir(), 'lk-open-'))
  const store = await LocalRemote.open({ dir: join(dir, 'store') })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: 'AKOPEN', secretAccessKey: 'open-secret' })
  t.teardown(async () => { await server.close(); await store.close(); rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, '.lakectl.yaml'), `server:\n  endpoint_url: ${server.url}\ncredentials:\n  access_key_id: AKOPEN\n  secret_access_key: open-secret\n`)
  const r = await openLakefsRemote({ env: { HOME: dir } })
  t.ok(r, 'a client from ~/.lakectl.yaml')
  t.same(await r?.listRepos(), [])
  t.same(await r?.serverInfo(), { version: 'lk-mount-serve-0.1.0', blockstore: 'local', presign: false })
  await r?.close()
  const e = await openLakefsRemote({ env: { HOME: dir, LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY: 'wrong-one' } }).catch((err: unknown) => err) as LkError
  t.equal(e.code, 'LK_CREDENTIALS', 'a wrong secret (env beats the file) fails at open')
  t.notMatch(e.message, /wrong-one|open-secret/)
  t.equal(await openLakefsRemote({ env: { HOME: join(dir, 'nowhere') } }), undefined, 'nothing configured: undefined')
})
