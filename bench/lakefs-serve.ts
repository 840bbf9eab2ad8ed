// What the lakeFS API costs over the in-process store: the same reads through LocalRemote and
// through LakefsRemote → lk-mount serve (127.0.0.1, API data path), on one machine; serve runs
// in-process and, for a fair client number, as its own process (dist/daemon/serve.js).
//   node dist/bench/lakefs-serve.js [bigMiB=64] [smallCount=500]

import { createHash, randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BranchName, ObjectPath, RepoName } from '../lib/core/ids.js'
import { LakefsRemote } from '../lib/remote/lakefs.js'
import { LocalRemote } from '../lib/remote/local.js'
import type { ObjectStat, Remote } from '../lib/remote/types.js'
import { startServer } from '../lib/server/server.js'

const bigMiB = Number(process.argv[2] ?? 64)
const smallCount = Number(process.argv[3] ?? 500)
const repo = 'bench' as RepoName
const main = 'main' as BranchName
const P = (s: string): ObjectPath => s as ObjectPath

const dir = await mkdtemp(join(tmpdir(), 'lk-bench-serve-'))
try {
  const store = await LocalRemote.open({ dir: join(dir, 'store'), fsync: false })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: 'AK', secretAccessKey: 'SK' })
  const client = new LakefsRemote({ endpoint: server.endpoint, accessKeyId: 'AK', secretAccessKey: 'SK' })

  await store.createRepo(repo)
  const big = randomBytes(bigMiB * 1024 * 1024)
  const file = join(dir, 'big.bin')
  await writeFile(file, big)
  let t0 = performance.now()
  await client.putObject(repo, main, P('big.bin'), { kind: 'file', file, size: big.length, sha256: createHash('sha256').update(big).digest('hex') })
  const uploadMs = performance.now() - t0
  t0 = performance.now()
  for (let i = 0; i < smallCount; i++) await client.putObject(repo, main, P(`small/${String(i).padStart(5, '0')}`), { kind: 'buffer', data: randomBytes(100 * 1024) })
  const smallPutMs = performance.now() - t0
  const commit = await store.commit(repo, main, { message: 'bench' })

  const readBig = async (r: Remote): Promise<number> => {
    const stat = await r.statObject(repo, commit.id, P('big.bin'))
    const t = performance.now()
    const chunk = 8 * 1024 * 1024
    for (let off = 0; off < stat.size; off += chunk) await r.readRange(repo, stat, off, off + chunk)
    return performance.now() - t
  }
  const readSmall = async (r: Remote): Promise<number> => {
    const t = performance.now()
    const stats: ObjectStat[] = []
    let after = ''
    for (;;) {
      const page = await r.listObjects(repo, commit.id, { prefix: 'small/', after, amount: 1000 })
      for (const e of page.entries) if (e.type === 'object') stats.push(e.stat)
      if (!page.hasMore) break
      after = page.nextAfter
    }
    for (const s of stats) await r.readRange(repo, s, 0, s.size)
    return performance.now() - t
  }
  const rows: Array<[string, string]> = []
  const mbps = (ms: number): string => `${(bigMiB / (ms / 1000)).toFixed(0)} MiB/s`
  const ops = (ms: number): string => `${(smallCount / (ms / 1000)).toFixed(0)} files/s`
  rows.push(['upload big via API (multipart form)', mbps(uploadMs)])
  rows.push([`upload ${smallCount} × 100 KiB via API`, ops(smallPutMs)])
  for (const [name, r] of [['LocalRemote (in-process)', store], ['LakefsRemote → serve', client]] as const) {
    await readBig(r) // warm
    rows.push([`${name}: read ${bigMiB} MiB in 8 MiB ranges`, mbps(await readBig(r))])
    rows.push([`${name}: list + read ${smallCount} × 100 KiB`, ops(await readSmall(r))])
  }
  await client.close()
  await server.close()
  await store.close()

  // the same store served by a separate process: client and server no longer share a thread
  const child = spawn(process.execPath, [fileURLToPath(new URL('../daemon/serve.js', import.meta.url)), '--store', join(dir, 'store'), '--listen', '127.0.0.1:0', '--access-key-id', 'AK'], { env: { ...process.env, LK_SERVE_SECRET_ACCESS_KEY: 'SK' }, stdio: ['ignore', 'pipe', 'ignore'] })
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); const m = /listening on (\S+)/.exec(out); if (m?.[1] !== undefined) resolve(m[1]) })
      child.once('exit', () => { reject(new Error('serve exited')) })
    })
    const remote = new LakefsRemote({ endpoint: url + '/api/v1', accessKeyId: 'AK', secretAccessKey: 'SK' })
    await readBig(remote)
    rows.push([`LakefsRemote → serve process: read ${bigMiB} MiB in 8 MiB ranges`, mbps(await readBig(remote))])
    rows.push([`LakefsRemote → serve process: list + read ${smallCount} × 100 KiB`, ops(await readSmall(remote))])
    await remote.close()
  } finally {
    child.kill('SIGTERM')
  }
  for (const [k, v] of rows) console.log(`${k.padEnd(64)} ${v}`)
} finally {
  await rm(dir, { recursive: true, force: true })
}
