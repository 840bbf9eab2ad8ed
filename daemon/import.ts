// `import`: the daemon reads a local directory and commits its regular files as one commit.
//
// Every path is validated before anything is stored (one bad name and nothing changes); content is
// hashed here (streamed, bounded memory) and handed to the remote as files, so the store copies
// each file once and dedups by checksum. The commit is `commitChanges` against the branch head we
// resolved, so the branch's shared staging area is never touched and a concurrent writer is
// detected (LK_CONFLICT) rather than overwritten.

import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { LkError, toLkError } from '../lib/core/errors.js'
import { objectPath, type BranchName } from '../lib/core/ids.js'
import type { LakefsUri } from '../lib/core/uri.js'
import type { HandlerContext } from '../lib/control/server.js'
import type { ImportResult } from '../lib/control/methods/index.js'
import type { Change, Metadata, Remote } from '../lib/remote/types.js'

interface FoundFile { abs: string, path: string, size: number, mtime: number }

async function sha256File (file: string, signal: AbortSignal): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024, signal })) h.update(chunk as Buffer)
  return h.digest('hex')
}

export async function importDirectory (remote: Remote, p: {
  dir: string
  uri: LakefsUri
  branch: BranchName
  message: string | undefined
  metadata: Metadata | undefined
}, ctx: HandlerContext): Promise<ImportResult> {
  const root = await lstat(p.dir).catch((e: unknown) => { throw new LkError('LK_USAGE', `cannot read ${p.dir}: ${toLkError(e).message}`) })
  if (!root.isDirectory()) throw new LkError('LK_USAGE', `${p.dir} is not a directory`)
  const kind = await remote.refKind(p.uri.repo, p.branch)
  if (kind !== 'branch') throw new LkError('LK_NOT_A_BRANCH', `${p.branch} is a ${kind}: import writes to a branch`)
  const base = await remote.resolveRef(p.uri.repo, p.branch)

  let prefix: string = p.uri.path
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/'
  const files: FoundFile[] = []
  const skipped: string[] = []
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await readdir(dir)).sort()
    for (const name of names) {
      if (ctx.signal.aborted) throw new LkError('LK_USAGE', 'import cancelled')
      const abs = join(dir, name)
      const relPath = rel === '' ? name : `${rel}/${name}`
      const st = await lstat(abs)
      if (st.isDirectory()) { await walk(abs, relPath); continue }
      if (!st.isFile()) { skipped.push(relPath); continue }
      files.push({ abs, path: objectPath(prefix + relPath), size: st.size, mtime: Math.floor(st.mtimeMs / 1000) })
      if (files.length % 500 === 0) ctx.progress({ phase: 'scan', done: files.length })
    }
  }
  await walk(p.dir, '')
  if (files.length === 0) throw new LkError('LK_NOTHING_TO_COMMIT', `${p.dir} has no regular files to import`)
  const total = files.length
  const totalBytes = files.reduce((n, f) => n + f.size, 0)
  ctx.progress({ phase: 'scan', done: total, total })

  const changes: Change[] = []
  let bytes = 0
  for (const [i, f] of files.entries()) {
    const sha256 = await sha256File(f.abs, ctx.signal)
    changes.push({ op: 'put', path: objectPath(f.path), content: { kind: 'file', file: f.abs, size: f.size, sha256 }, mtime: f.mtime })
    bytes += f.size
    ctx.progress({ phase: 'hash', done: i + 1, total, bytes, message: f.path })
  }
  ctx.progress({ phase: 'commit', done: 0, total: 1, bytes: totalBytes })
  const commit = await remote.commitChanges(p.uri.repo, p.branch, changes, {
    base,
    message: p.message ?? `Import ${total} files from ${p.dir}`,
    metadata: { 'lk-mount.import-source': p.dir, ...p.metadata },
  })
  ctx.progress({ phase: 'commit', done: 1, total: 1, bytes: totalBytes })
  return { commit, files: total, bytes: totalBytes, skipped }
}
