// The control protocol over a real Unix socket: handshake, version mismatch (never a hang),
// malformed input, progress, binary chunks, socket permissions, stale and live sockets.

import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, statSync } from 'node:fs'
import { createServer, createConnection } from 'node:net'
import { join } from 'node:path'
import { LkError } from '../../lib/core/errors.js'
import { ControlClient } from '../../lib/control/client.js'
import { ControlServer } from '../../lib/control/server.js'
import { shortTmp } from '../support/tmp.js'
import { MAX_CHUNK_BYTES } from '../../lib/control/messages/chunk.js'
import { PROTOCOL_VERSION, PACKAGE_VERSION } from '../../lib/control/version.js'

async function rejectsCode (t: Test, p: Promise<unknown>, code: string, msg: string): Promise<LkError | undefined> {
  try {
    await p
    t.fail(`${msg}: expected ${code}, it succeeded`)
    return undefined
  } catch (e) {
    t.ok(e instanceof LkError, `${msg}: an LkError`)
    t.equal((e as LkError).code, code, msg)
    return e as LkError
  }
}

function startServer (t: Test, opts: { protocol?: number } = {}): Promise<{ server: ControlServer, socket: string, aborted: string[] }> {
  const dir = shortTmp(t)
  const socket = join(dir, 'home', 'lk.sock')
  const server = new ControlServer({ socketPath: socket, ...opts })
  const aborted: string[] = []
  server.handle('daemon.status', async () => ({
    pid: process.pid, version: PACKAGE_VERSION, protocol: PROTOCOL_VERSION, home: dir, socket, defaultStore: dir,
    startedAt: new Date().toISOString(), uptimeSec: 0, mounts: [], cache: null,
  }))
  server.handle('repo.create', async (p) => {
    if (p.name === 'boom') throw new Error('handler exploded')
    return { name: p.name, defaultBranch: p.defaultBranch, storageNamespace: p.storageNamespace ?? '', creationDate: 1 }
  })
  server.handle('import', async (p, ctx) => {
    for (let i = 1; i <= 5; i++) {
      ctx.progress({ phase: 'hash', done: i, total: 5, message: p.dir })
      await new Promise(r => setTimeout(r, 120))
    }
    if (p.message === 'wait-for-abort') {
      await new Promise<void>(resolve => { ctx.signal.addEventListener('abort', () => { aborted.push(p.dir); resolve() }) })
    }
    return { commit: { id: 'c', parents: [], message: '', committer: '', creationDate: 0, metadata: {}, metaRangeId: '' }, files: 5, bytes: 0, skipped: [] } as never
  })
  const blob = randomBytes(1024 * 1024 + 17)
  server.handle('cat', async (_p, ctx) => {
    // uneven slices: the server re-chunks to the protocol's bound
    await ctx.chunk(blob.subarray(0, 1000))
    await ctx.chunk(blob.subarray(1000))
    return { stat: { path: 'x', checksum: 'c', size: blob.length, mtime: 0, contentType: '', metadata: {}, physicalAddress: '' }, bytes: blob.length } as never
  })
  ;(server as unknown as { blob: Buffer }).blob = blob
  return server.listen().then(() => {
    t.teardown(() => server.close())
    return { server, socket, aborted }
  })
}

t.test('handshake and a request', async t => {
  const { socket } = await startServer(t)
  const c = await ControlClient.connect({ socketPath: socket })
  t.teardown(() => { c.close() })
  t.equal(c.daemon.protocol, PROTOCOL_VERSION)
  t.equal(c.daemon.version, PACKAGE_VERSION)
  t.equal(c.daemon.pid, process.pid)
  const st = await c.request('daemon.status', {})
  t.equal(st.pid, process.pid)
  const repo = await c.request('repo.create', { name: 'images' })
  t.equal(repo.name, 'images')
  t.equal(repo.defaultBranch, 'main', 'defaults are filled by the validator')
})

t.test('socket is 0600 in a 0700 directory', async t => {
  const { socket } = await startServer(t)
  t.equal(statSync(socket).mode & 0o777, 0o600)
  t.ok(statSync(socket).isSocket())
})

t.test('protocol mismatch is an error, both ways, never a hang', async t => {
  const { socket } = await startServer(t, { protocol: 999 })
  const e = await rejectsCode(t, ControlClient.connect({ socketPath: socket, timeoutMs: 2000 }), 'LK_DAEMON_VERSION', 'old client, new daemon')
  t.match(e?.message, /999/)
  const { socket: s2 } = await startServer(t)
  await rejectsCode(t, ControlClient.connect({ socketPath: s2, protocol: 0, timeoutMs: 2000 }), 'LK_DAEMON_VERSION', 'new client... other protocol')
})

t.test('a listener that never answers the hello', async t => {
  const dir = shortTmp(t)
  const socket = join(dir, 'mute.sock')
  const conns: Array<ReturnType<typeof createConnection>> = []
  const mute = createServer(s => { conns.push(s) })
  await new Promise<void>(r => mute.listen(socket, r))
  t.teardown(() => { for (const s of conns) s.destroy(); mute.close() })
  const started = Date.now()
  await rejectsCode(t, ControlClient.connect({ socketPath: socket, timeoutMs: 500 }), 'LK_DAEMON_VERSION', 'handshake timeout')
  t.ok(Date.now() - started < 3000, 'bounded')
})

t.test('nothing listening', async t => {
  const dir = shortTmp(t)
  await rejectsCode(t, ControlClient.connect({ socketPath: join(dir, 'none.sock') }), 'LK_DAEMON_UNAVAILABLE', 'no socket file')
})

t.test('malformed messages are answered, the connection survives', async t => {
  const { socket } = await startServer(t)
  const c = await ControlClient.connect({ socketPath: socket })
  t.teardown(() => { c.close() })
  const unaddressed: LkError[] = []
  c.onUnaddressedError = e => { unaddressed.push(e) }
  c.sendRaw('this is not json')
  c.sendRaw(JSON.stringify({ id: 'x', method: 'daemon.status' }))
  await rejectsCode(t, c.request('no.such.method' as 'daemon.status', {}), 'LK_USAGE', 'unknown method')
  await rejectsCode(t, c.request('repo.create', { name: 'Bad Name!' }), 'LK_BAD_NAME', 'name validated at the edge')
  await rejectsCode(t, c.request('repo.create', { name: 42 as unknown as string }), 'LK_PROTOCOL', 'wrong type')
  await rejectsCode(t, c.request('cat', { uri: 'lakefs://repo1/main/a/../b' }), 'LK_BAD_PATH', '.. segment')
  await rejectsCode(t, c.request('cat', { uri: 'lakefs://repo1/main/a\0b' }), 'LK_BAD_PATH', 'NUL byte')
  await rejectsCode(t, c.request('cat', { uri: 'http://x/y' }), 'LK_BAD_URI', 'not a lakefs URI')
  await rejectsCode(t, c.request('mount', { uri: 'lakefs://repo1/main', mountpoint: 'relative/dir' }), 'LK_USAGE', 'relative mount point')
  const e = await rejectsCode(t, c.request('repo.create', { name: 'boom' }), 'LK_INTERNAL', 'handler exception')
  t.match(e?.message, /handler exploded/)
  const st = await c.request('daemon.status', {})
  t.equal(st.pid, process.pid, 'still serving after all that')
  t.equal(unaddressed.length, 2, 'both unaddressable lines were answered')
  t.ok(unaddressed.every(u => u.code === 'LK_PROTOCOL'))
})

t.test('first message must be hello', async t => {
  const { socket } = await startServer(t)
  const s = createConnection(socket)
  let got = ''
  s.on('data', d => { got += d.toString() })
  await new Promise(r => s.once('connect', r))
  s.write(JSON.stringify({ id: 1, method: 'daemon.status', params: {} }) + '\n')
  await new Promise(r => s.once('close', r))
  const msg = JSON.parse(got.split('\n')[0] ?? '') as { error?: { code: string } }
  t.equal(msg.error?.code, 'LK_PROTOCOL')
})

t.test('progress events arrive before the result, rate-limited', async t => {
  const { socket } = await startServer(t)
  const c = await ControlClient.connect({ socketPath: socket })
  t.teardown(() => { c.close() })
  const seen: number[] = []
  const r = await c.request('import', { dir: '/data', uri: 'lakefs://repo1/main' }, { onProgress: ev => { seen.push(ev.done) } })
  t.equal(r.files, 5)
  t.ok(seen.length >= 3, `saw ${seen.length} progress events`)
  t.same(seen, [...seen].sort((a, b) => a - b), 'in order')
  t.equal(seen[seen.length - 1], 5, 'the last event is kept')
})

t.test('binary data streams in bounded chunks', async t => {
  const { socket, server } = await startServer(t)
  const blob = (server as unknown as { blob: Buffer }).blob
  const c = await ControlClient.connect({ socketPath: socket })
  t.teardown(() => { c.close() })
  const parts: Buffer[] = []
  let slow = 0
  const r = await c.request('cat', { uri: 'lakefs://repo1/main/x' }, {
    onChunk: async d => {
      t.ok(d.length <= MAX_CHUNK_BYTES)
      if (slow++ < 3) await new Promise(res => setTimeout(res, 50)) // a slow consumer
      parts.push(d)
    },
  })
  t.equal(r.bytes, blob.length)
  t.ok(Buffer.concat(parts).equals(blob), 'bytes identical')
  t.ok(parts.length >= Math.ceil(blob.length / MAX_CHUNK_BYTES))
})

t.test('closing the connection aborts its requests', async t => {
  const { socket, aborted } = await startServer(t)
  const c = await ControlClient.connect({ socketPath: socket })
  const p = c.request('import', { dir: '/abort-me', uri: 'lakefs://repo1/main', message: 'wait-for-abort' })
  await new Promise(r => setTimeout(r, 800))
  c.close()
  await rejectsCode(t, p, 'LK_DAEMON_UNAVAILABLE', 'pending request fails')
  for (let i = 0; i < 50 && aborted.length === 0; i++) await new Promise(r => setTimeout(r, 20))
  t.same(aborted, ['/abort-me'])
})

t.test('stale socket is replaced, a live one refused', async t => {
  const dir = shortTmp(t)
  const socket = join(dir, 'lk.sock')
  // a process that listens and is killed -9 leaves the socket file behind
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise(r => child.stdout.once('data', r))
  const live = new ControlServer({ socketPath: socket })
  await rejectsCode(t, live.listen(), 'LK_DAEMON_RUNNING', 'a live listener is not replaced')
  child.kill('SIGKILL')
  await new Promise(r => child.once('exit', r))
  t.ok(existsSync(socket), 'the stale socket file is left behind')
  const s = new ControlServer({ socketPath: socket })
  s.handle('daemon.status', async () => ({ pid: 1, version: 'v', protocol: PROTOCOL_VERSION, home: '', socket, defaultStore: '', startedAt: '', uptimeSec: 0, mounts: [], cache: null }))
  await s.listen()
  t.teardown(() => s.close())
  const c = await ControlClient.connect({ socketPath: socket })
  t.teardown(() => { c.close() })
  t.equal((await c.request('daemon.status', {})).pid, 1)
  const again = new ControlServer({ socketPath: socket })
  await rejectsCode(t, again.listen(), 'LK_DAEMON_RUNNING', 'our own live server is not replaced')
})
