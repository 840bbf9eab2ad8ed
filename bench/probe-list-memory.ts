// Heap bytes per listed entry: LakefsRemote (presigned listings) into a mount's BaseView.
//   npx tsc -p . && node --expose-gc dist/bench/probe-list-memory.js [--entries 200000] [--budget N]
// No server: `fetch` answers /objects/ls with pages shaped as `lk-mount serve` sends them (a
// SigV4-presigned URL per entry, ~430 characters, with its expiry), 1000 entries per directory.
// Lists every directory in order (as `find` does) and prints the V8 heap growth per entry after
// a full GC, with the listing cache's own count of what it holds.

import { createHash } from 'node:crypto'
import { LakefsRemote } from '../lib/remote/lakefs.js'
import { BaseView } from '../lib/fs/base.js'
import { S3Presigner } from '../lib/server/presign-s3.js'
import type { CommitId, RepoName } from '../lib/core/ids.js'

const args = process.argv.slice(2)
const arg = (name: string, dflt: number): number => { const i = args.indexOf(name); return i === -1 ? dflt : Number(args[i + 1]) }
const ENTRIES = arg('--entries', 200_000)
const BUDGET = arg('--budget', NaN)
const PER_DIR = 1000
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')

const signer = new S3Presigner({ endpoint: 'http://127.0.0.1:7480', bucket: 'lk-bench', prefix: 'blobs', accessKeyId: 'AKIAEXAMPLEEXAMPLE00', secretAccessKey: 'secret' })
const dirName = (d: number): string => `d${String(d).padStart(5, '0')}`
const commit = createHash('sha256').update('c').digest('hex') as CommitId

function page (prefix: string, delimiter: string | null, after: string | null, amount: number): unknown {
  if (prefix === '') {
    const results = []
    for (let d = 0; d < ENTRIES / PER_DIR; d++) results.push({ path: dirName(d) + '/', path_type: 'common_prefix', physical_address: '', checksum: '', mtime: 0 })
    return { results, pagination: { has_more: false, next_offset: '', results: results.length, max_per_page: 1000 } }
  }
  const d = Number(prefix.slice(1, 6))
  const start = after === null ? 0 : Number(after.slice(prefix.length + 1, prefix.length + 9)) - d * PER_DIR + 1
  const results = []
  for (let i = start; i < Math.min(PER_DIR, start + amount); i++) {
    const n = d * PER_DIR + i
    const sum = createHash('sha256').update(String(n)).digest('hex')
    results.push({ path: `${prefix}f${String(n).padStart(8, '0')}.jpg`, path_type: 'object', physical_address: signer.sign('GET', `blobs/${sum.slice(0, 2)}/${sum}`, 900), physical_address_expiry: Math.floor(Date.now() / 1000) + 900, checksum: sum, size_bytes: 1024, mtime: 1764000000, content_type: 'application/octet-stream', metadata: {} })
  }
  void delimiter
  const last = results.at(-1) as { path: string } | undefined
  const more = start + amount < PER_DIR
  return { results, pagination: { has_more: more, next_offset: more && last !== undefined ? last.path : '', results: results.length, max_per_page: 1000 } }
}

globalThis.fetch = (async (input: string | URL | Request): Promise<Response> => {
  const u = new URL(String(input))
  if (u.pathname.endsWith('/config')) return Response.json({ storage_config: { pre_sign_support: true, blockstore_type: 's3' } })
  if (u.pathname.endsWith('/objects/ls')) {
    const q = u.searchParams
    return Response.json(page(q.get('prefix') ?? '', q.get('delimiter'), q.get('after'), Number(q.get('amount') ?? 1000)))
  }
  return new Response('{"message":"not found"}', { status: 404 })
}) as typeof fetch

const remote = new LakefsRemote({ endpoint: 'http://lakefs.invalid/api/v1', accessKeyId: 'a', secretAccessKey: 's' })
const view = Number.isFinite(BUDGET)
  ? new BaseView(remote, 'repo' as RepoName, commit, '', { maxEntries: BUDGET })
  : new BaseView(remote, 'repo' as RepoName, commit, '')

gc(); gc()
const h0 = process.memoryUsage().heapUsed
const rss0 = process.memoryUsage.rss()
const t0 = performance.now()
const root = await view.list('')
for (const name of [...root.keys()]) {
  const children = await view.list(name)
  // what find does next: a lookup per child (answered from the listing)
  for (const c of children.keys()) view.lookupSync(`${name}/${c}`)
}
const ms = performance.now() - t0
gc(); gc()
const h1 = process.memoryUsage().heapUsed
const rss1 = process.memoryUsage.rss()
const held = view.memory()
console.log(JSON.stringify({ entries: ENTRIES, budget: Number.isFinite(BUDGET) ? BUDGET : null, heapMiB: +((h1 - h0) / 2 ** 20).toFixed(1), bytesPerEntry: Math.round((h1 - h0) / ENTRIES), rssGrowthMiB: +((rss1 - rss0) / 2 ** 20).toFixed(1), listMs: Math.round(ms), held }))
// keep the view alive until the measurement is done
if (view.commit === '') console.log(remote.description)
