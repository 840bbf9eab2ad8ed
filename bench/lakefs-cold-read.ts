// Cold read of one big file through a lakeFS mount vs a plain parallel ranged GET of the same
// object from the object store, side by side (A B A B ...). Not a test: prints a table.
//
// Setup: a real Ceph RGW, `lk-mount serve` with its blobs in an RGW bucket (presigned data
// path), the daemon under a private LK_MOUNT_HOME; the file is imported once. Each "mount" run
// uses a fresh --cache-dir, so every byte comes from RGW; the raw run reads the blob object with
// @aws-sdk/client-s3, 8 ranges of 8 MiB in flight, as fast as the SDK allows.
//
//   node dist/bench/lakefs-cold-read.js [MiB=1024] [rounds=2]

import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { startRgw } from '../test/support/rgw.js'

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url))
const SERVE = fileURLToPath(new URL('../daemon/serve.js', import.meta.url))
const mib = Number(process.argv[2] ?? 1024)
const rounds = Number(process.argv[3] ?? 2)
const AK = 'AKBENCH'
const SK = 'bench-secret'

function run (cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number, out: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    c.stdout.on('data', d => { out += String(d) })
    c.stderr.on('data', d => { out += String(d) })
    c.on('exit', code => { resolve({ code: code ?? 1, out }) })
  })
}

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lk-coldread-'))
  const rgw = await startRgw({ memstoreBytes: (mib * 3 + 512) * 1024 * 1024 })
  const serve = spawn(process.execPath, [SERVE, '--store', join(dir, 'srv'), '--listen', '127.0.0.1:0', '--access-key-id', AK, '--blobs', 's3://bench/store', '--s3-endpoint', rgw.endpoint], {
    env: { ...process.env, LK_SERVE_SECRET_ACCESS_KEY: SK, AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey, LK_MOUNT_HOME: join(dir, 'sh') },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const env: NodeJS.ProcessEnv = { ...process.env, LK_MOUNT_HOME: join(dir, 'home'), LK_MOUNT_SOCKET: '' }
  try {
    await rgw.createBucket('bench')
    const url = await new Promise<string>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => { reject(new Error('serve did not start: ' + out)) }, 20_000)
      serve.stdout.on('data', (d: Buffer) => { out += String(d); const m = /listening on (http:\/\/\S+)/.exec(out); if (m?.[1] !== undefined) { clearTimeout(timer); resolve(m[1]) } })
    })
    Object.assign(env, { LAKECTL_SERVER_ENDPOINT_URL: url, LAKECTL_CREDENTIALS_ACCESS_KEY_ID: AK, LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY: SK })
    const data = join(dir, 'data')
    await mkdir(data)
    const fh = await open(join(data, 'big.bin'), 'w')
    const hash = createHash('sha256')
    for (let i = 0; i < mib; i++) { const b = randomBytes(1024 * 1024); hash.update(b); await fh.write(b) }
    await fh.close()
    const sha = hash.digest('hex')
    const cli = async (args: string[]): Promise<string> => {
      const r = await run(process.execPath, [CLI, ...args], env)
      if (r.code !== 0) throw new Error(`lk-mount ${args.join(' ')}: ${r.out}`)
      return r.out
    }
    await cli(['repo', 'create', 'bench'])
    await cli(['import', data, 'lakefs://bench/main', '-m', 'bench data'])
    const key = `store/${sha.slice(0, 2)}/${sha}`
    const size = mib * 1024 * 1024

    const raw = async (): Promise<number> => {
      const t0 = performance.now()
      const part = 8 * 1024 * 1024
      let next = 0
      let got = 0
      const worker = async (): Promise<void> => {
        while (next < size) {
          const start = next
          next += part
          const want = Math.min(size, start + part) - start
          const r = await rgw.client.send(new GetObjectCommand({ Bucket: 'bench', Key: key, Range: `bytes=${start}-${start + want - 1}` }))
          const n = (await r.Body?.transformToByteArray())?.length ?? 0
          if (n !== want) throw new Error(`range at ${start}: ${n} of ${want} bytes (content-range ${r.ContentRange ?? '?'})`)
          got += n
        }
      }
      await Promise.all(Array.from({ length: 8 }, worker))
      if (got !== size) throw new Error(`raw read ${got} of ${size} bytes (key ${key})`)
      return (performance.now() - t0) / 1000
    }
    const viaMount = async (i: number): Promise<number> => {
      const mnt = join(dir, `mnt${i}`)
      await cli(['mount', 'lakefs://bench/main', mnt, '--cache-dir', join(dir, `cache${i}`), '--cache-size', `${mib * 2}M`])
      try {
        const t0 = performance.now()
        let n = 0
        for await (const chunk of createReadStream(join(mnt, 'big.bin'), { highWaterMark: 1024 * 1024 })) n += (chunk as Buffer).length
        if (n !== size) throw new Error(`mount read ${n} of ${size} bytes`)
        return (performance.now() - t0) / 1000
      } finally {
        await cli(['umount', mnt])
      }
    }
    const rows: Array<{ round: number, raw: number, mount: number }> = []
    for (let i = 0; i < rounds; i++) {
      const m = await viaMount(i)
      const r = await raw()
      rows.push({ round: i + 1, raw: r, mount: m })
      console.log(`round ${i + 1}: mount ${(mib / m).toFixed(0)} MiB/s, raw parallel GET ${(mib / r).toFixed(0)} MiB/s, ratio ${(r / m).toFixed(2)}`)
    }
    const med = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? NaN }
    const m = med(rows.map(r => r.mount))
    const r = med(rows.map(r => r.raw))
    console.log(`\n| ${mib} MiB cold read | MiB/s |\n|---|---|\n| through the mount (lakeFS backend, presigned) | ${(mib / m).toFixed(0)} |\n| raw SDK GET, 8 × 8 MiB ranges | ${(mib / r).toFixed(0)} |\n| ratio mount / raw | ${(r / m).toFixed(2)} |`)
    console.log(`load average: ${(await import('node:os')).loadavg().map(x => x.toFixed(1)).join(' ')}`)
  } finally {
    await run(process.execPath, [CLI, 'daemon', 'stop'], env)
    serve.kill('SIGTERM')
    await rgw.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

main().catch((e: unknown) => { console.error(e); process.exitCode = 1 })
