// The sample dataset every conformance runner mounts. Both runners (core and FUSE) seed a fresh
// repository with exactly these objects through the `Remote` interface and then run the suite,
// which asserts against this description.

import { createHash } from 'node:crypto'
import { branchName, repoName, type CommitId, type ObjectPath } from '../../lib/core/ids.js'
import type { Metadata, Remote } from '../../lib/remote/types.js'

export interface SampleFile { path: string, data: Buffer, metadata: Metadata }

/** deterministic bytes: the same on every runner and every run */
export function sampleBytes (seed: string, size: number): Buffer {
  const out = Buffer.alloc(size)
  let block = createHash('sha256').update(seed).digest()
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off, 0, Math.min(block.length, size - off))
    block = createHash('sha256').update(block).digest()
  }
  return out
}

export const SAMPLE_REPO = 'conformance'
export const SAMPLE_BRANCH = 'main'

export const SAMPLE_FILES: readonly SampleFile[] = [
  { path: 'README.md', data: Buffer.from('sample dataset for lk-mount conformance\n'), metadata: { owner: 'data-team', purpose: 'docs' } },
  { path: 'labels.csv', data: Buffer.from('file,label\ntrain/cat/001.bin,cat\ntrain/dog/001.bin,dog\n'), metadata: {} },
  { path: 'train/cat/001.bin', data: sampleBytes('cat-1', 100 * 1024), metadata: { label: 'cat' } },
  { path: 'train/cat/002.bin', data: sampleBytes('cat-2', 4096), metadata: { label: 'cat' } },
  { path: 'train/dog/001.bin', data: sampleBytes('dog-1', 70 * 1024), metadata: { label: 'dog' } },
  { path: 'big/blob.bin', data: sampleBytes('blob', 3 * 1024 * 1024 + 123), metadata: {} },
  { path: 'empty.txt', data: Buffer.alloc(0), metadata: {} },
]

/** top-level names of the sample, sorted */
export const SAMPLE_ROOT = ['README.md', 'big', 'empty.txt', 'labels.csv', 'train']

export function sampleFile (path: string): SampleFile {
  const f = SAMPLE_FILES.find(x => x.path === path)
  if (f === undefined) throw new Error(`no sample file ${path}`)
  return f
}

/** creates the sample repository on `remote` and returns the commit that holds the dataset */
export async function seedSample (remote: Remote, repo = SAMPLE_REPO): Promise<CommitId> {
  const r = repoName(repo)
  await remote.createRepo(r, { defaultBranch: branchName(SAMPLE_BRANCH) })
  const head = await remote.resolveRef(r, SAMPLE_BRANCH)
  const c = await remote.commitChanges(r, branchName(SAMPLE_BRANCH), SAMPLE_FILES.map(f => ({
    op: 'put' as const, path: f.path as ObjectPath, content: { kind: 'buffer' as const, data: f.data }, metadata: f.metadata, mtime: 1_700_000_000,
  })), { base: head, message: 'sample dataset' })
  return c.id
}
