// Profiling probe for the cold read path (not part of the suite): where does a cold sequential
// read of a big object spend its time? Measures, against RGW + `lk-mount serve` with S3 blobs:
//   1. LakefsRemote.readRange of whole chunks, one at a time and N in flight;
//   2. ContentCache.read in 128 KiB kernel-sized reads (what a FUSE mount asks), fresh cache.
//   3. (`small` mode) LakefsRemote.readRange of many small whole objects, N in flight: the
//      object store's small-GET rate, the ceiling of a cold small-file epoch.
//   npx tsc -p . && node dist/bench/probe-read.js [MiB=128] [chunkMiB=8] [readAhead=2]
//   node dist/bench/probe-read.js small [files=500] [KiB=100]

import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { get as httpGet, Agent } from 'node:http'
import { startRgw } from '../test/support/rgw.js'
import { LocalRemote } from '../lib/remote/local.js'
import { LakefsRemote } from '../lib/remote/lakefs.js'
import { S3BlobStore } from '../lib/store/blobs-s3.js'
import { S3Presigner } from '../lib/server/presign-s3.js'
import { startServer } from '../lib/server/server.js'
import { ContentCache } from '../lib/cache/index.js'
import { branchName, repoName, type ObjectPath, type RepoName } from '../lib/core/ids.js'

const MiB = 1024 * 1024
if (process.argv[2] === 'small') {
  await probeSmall(Number(process.argv[3] ?? 500), Number(process.argv[4] ?? 100) * 1024)
  process.exit(0)
}
const size = Number(process.argv[2] ?? 128) * MiB
const chunk = Number(process.argv[3] ?? 8) * MiB
const readAhead = Number(process.argv[4] ?? 2)
await withProbeServer(4 * size, [{ path: 'big.bin', data: randomBytes(size) }], async ({ dir, repo, client }) => {
  const stat = await client.statObject(repo, 'main', 'big.bin' as ObjectPath)
  console.log(`physical address: ${stat.physicalAddress.slice(0, 60)}...`)

  // the same ranges with node:http (no fetch/web streams), to tell the client's cost from the server's
  const agent = new Agent({ keepAlive: true })
  const httpRange = async (off: number, end: number): Promise<number> => await new Promise((resolve, reject) => {
    httpGet(stat.physicalAddress, { agent, headers: { range: `bytes=${off}-${end - 1}` } }, res => {
      let n = 0
      res.on('data', (d: Buffer) => { n += d.length })
      res.on('end', () => { resolve(n) })
      res.on('error', reject)
    }).on('error', reject)
  })
  for (const inflight of [1, 2, 4]) {
    const t0 = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: inflight }, async () => {
      while (next * chunk < size) {
        const off = (next++) * chunk
        await httpRange(off, Math.min(size, off + chunk))
      }
    }))
    console.log(`node:http ${chunk / MiB} MiB ranges, ${inflight} in flight: ${(size / MiB / ((performance.now() - t0) / 1000)).toFixed(0)} MiB/s`)
  }
  agent.destroy()

  for (const inflight of [1, 2, 4]) {
    const t0 = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: inflight }, async () => {
      while (next * chunk < size) {
        const off = (next++) * chunk
        await client.readRange(repo, stat, off, Math.min(size, off + chunk))
      }
    }))
    console.log(`readRange ${chunk / MiB} MiB chunks, ${inflight} in flight: ${(size / MiB / ((performance.now() - t0) / 1000)).toFixed(0)} MiB/s`)
  }

  const cache = await ContentCache.open({ dir: join(dir, 'cache'), maxBytes: 4 * size, chunkSize: chunk, readAhead })
  const buf = Buffer.alloc(128 * 1024)
  const t0 = performance.now()
  for (let pos = 0; pos < size; pos += buf.length) await cache.read({ remote: client, repo, stat }, buf, buf.length, pos)
  console.log(`ContentCache.read 128 KiB sequential, chunk ${chunk / MiB} MiB, read-ahead ${readAhead}: ${(size / MiB / ((performance.now() - t0) / 1000)).toFixed(0)} MiB/s`)
  await cache.close()
})

async function probeSmall (files: number, bytes: number): Promise<void> {
  const objects = Array.from({ length: files }, (_, i) => ({ path: `d/f${String(i).padStart(6, '0')}`, data: randomBytes(bytes) }))
  await withProbeServer(2 * files * bytes, objects, async ({ repo, client }) => {
    const stats = (await client.listObjects(repo, 'main', { prefix: 'd/', amount: 1000 })).entries.flatMap(e => e.type === 'object' ? [e.stat] : [])
    for (const inflight of [1, 4, 8, 16, 32]) {
      const t0 = performance.now()
      let next = 0
      await Promise.all(Array.from({ length: inflight }, async () => {
        while (next < stats.length) {
          const st = stats[next++]
          if (st !== undefined) await client.readRange(repo, st, 0, st.size)
        }
      }))
      console.log(`readRange of ${stats.length} objects of ${bytes / 1024} KiB, ${inflight} in flight: ${(stats.length / ((performance.now() - t0) / 1000)).toFixed(0)} objects/s`)
    }
  })
}

/**
 * RGW with the objects as content-addressed blobs of an embedded store committed on `main` of
 * repository `probe`, `lk-mount serve` over it (presigned URLs), and a LakefsRemote client; all
 * stopped after `fn`, the work directory removed
 */
async function withProbeServer (dataBytes: number, objects: Array<{ path: string, data: Buffer }>, fn: (p: { dir: string, repo: RepoName, client: LakefsRemote }) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lk-probe-'))
  const rgw = await startRgw({ memstoreBytes: dataBytes + (256 << 20) })
  try {
    await rgw.createBucket('probe')
    const creds = { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey }
    const blobs = new S3BlobStore({ bucket: 'probe', prefix: 'lk', endpoint: rgw.endpoint, credentials: creds })
    const store = await LocalRemote.open({ dir: join(dir, 'store'), blobs, fsync: false })
    const repo = repoName('probe')
    await store.createRepo(repo)
    const entries: Array<{ path: string, checksum: string, size: number }> = []
    for (const o of objects) {
      const sha = createHash('sha256').update(o.data).digest('hex')
      await blobs.put(sha, { kind: 'buffer', data: o.data })
      entries.push({ path: o.path, checksum: sha, size: o.data.length })
    }
    await store.commitSortedEntries(repo, branchName('main'), entries, { message: 'probe' })
    const presigner = new S3Presigner({ bucket: 'probe', prefix: 'lk', endpoint: rgw.endpoint, ...creds })
    const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: 'AK', secretAccessKey: 'SK', presigner })
    const client = new LakefsRemote({ endpoint: server.endpoint, accessKeyId: 'AK', secretAccessKey: 'SK' })
    try {
      await fn({ dir, repo, client })
    } finally {
      await client.close()
      await server.close()
      await store.close()
    }
  } finally {
    await rgw.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
