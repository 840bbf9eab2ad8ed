// The control handlers: each one a few lines from typed params to the remote or the manager.
// Params arrive validated (lib/control/methods); errors are LkErrors and go back to the client.

import { LkError } from '../lib/core/errors.js'
import type { RepoName } from '../lib/core/ids.js'
import type { LakefsUri } from '../lib/core/uri.js'
import type { ControlServer } from '../lib/control/server.js'
import { METHODS } from '../lib/control/methods/index.js'
import type { DaemonStatus } from '../lib/control/methods/index.js'
import type { RemoteTarget } from '../lib/control/target.js'
import type { Manager } from '../lib/manager/index.js'
import type { MountStatus } from '../lib/manager/types.js'
import type { MountParams } from '../lib/control/methods/mounts.js'
import type { DiffEntry, ListEntry, Remote } from '../lib/remote/types.js'
import { importDirectory } from './import.js'
import { findPage, logMatching } from './find.js'
import type { PathUse } from './policy.js'

export interface HandlerDeps {
  remoteFor (target: RemoteTarget): Promise<Remote>
  manager (): Promise<Manager>
  status (): Promise<DaemonStatus>
  /** starts the graceful shutdown after the answer went out */
  stop (): void
  /** throws LK_PATH_FORBIDDEN for a local path this request may not name (daemon/policy.ts) */
  checkPath (use: PathUse, path: string): void
}

const READ_PIECE = 1024 * 1024

function refOf (u: LakefsUri): string {
  if (u.ref === undefined) throw new LkError('LK_BAD_URI', `lakefs://${u.repo} names no ref`)
  return u.ref
}

async function requireRepo (remote: Remote, repo: RepoName): Promise<void> {
  await remote.getRepo(repo)
}

async function mountWith (d: HandlerDeps, p: MountParams): Promise<MountStatus> {
  return await (await d.manager()).mount({
    uri: p.uri,
    mountpoint: p.mountpoint,
    write: p.write,
    target: p.target,
    ...(p.onUnmount === undefined ? {} : { onUnmount: p.onUnmount }),
    ...(p.message === undefined ? {} : { message: p.message }),
    ...(p.metadata === undefined ? {} : { metadata: p.metadata }),
    ...(p.cacheSize === undefined ? {} : { cacheSize: p.cacheSize }),
    ...(p.cacheDir === undefined ? {} : { cacheDir: p.cacheDir }),
    ...(p.allowOther === undefined ? {} : { allowOther: p.allowOther }),
    ...(p.xattrs === undefined ? {} : { xattrs: p.xattrs }),
  })
}

export function registerHandlers (server: ControlServer, d: HandlerDeps): void {
  server
    .handle('daemon.status', async () => await d.status())
    .handle('daemon.stop', async () => { setImmediate(() => { d.stop() }); return { pid: process.pid } })
    .handle('daemon.methods', async () => Object.values(METHODS).map(m => ({ name: m.name, title: m.title, help: m.help })))

    .handle('repo.create', async (p) => {
      const r = await d.remoteFor(p.target)
      return await r.createRepo(p.name, { defaultBranch: p.defaultBranch, ...(p.storageNamespace === undefined ? {} : { storageNamespace: p.storageNamespace }) })
    })
    .handle('repo.list', async (p) => await (await d.remoteFor(p.target)).listRepos())

    .handle('branch.create', async (p) => {
      if (p.source.repo !== p.repo) throw new LkError('LK_USAGE', `--source must be a ref of ${p.repo}, got lakefs://${p.source.repo}`)
      return await (await d.remoteFor(p.target)).createBranch(p.repo, p.name, refOf(p.source))
    })
    .handle('branch.list', async (p) => {
      const r = await d.remoteFor(p.target)
      const repo = await r.getRepo(p.repo)
      return (await r.listBranches(p.repo)).map(b => ({ ...b, default: b.name === repo.defaultBranch }))
    })
    .handle('branch.delete', async (p) => {
      const r = await d.remoteFor(p.target)
      const kind = await r.refKind(p.repo, p.name)
      if (kind !== 'branch') throw new LkError('LK_NOT_A_BRANCH', `${p.name} is a ${kind}, not a branch`)
      await r.deleteBranch(p.repo, p.name)
      return { deleted: p.name }
    })
    .handle('branch.reset', async (p) => {
      const r = await d.remoteFor(p.target)
      if (p.hard !== undefined) return { ...(await r.hardReset(p.repo, p.branch, p.hard)), branch: p.branch, dropped: false }
      const kind = await r.refKind(p.repo, p.branch)
      if (kind !== 'branch') throw new LkError('LK_NOT_A_BRANCH', `${p.branch} is a ${kind}, not a branch`)
      await r.resetBranch(p.repo, p.branch, { type: 'all' })
      return { branch: p.branch, commitId: await r.resolveRef(p.repo, p.branch), dropped: true }
    })
    .handle('revert', async (p) => await (await d.remoteFor(p.target)).revert(p.repo, p.branch, p.commit, {
      ...(p.parent === undefined ? {} : { parentNumber: p.parent }),
      ...(p.message === undefined ? {} : { message: p.message }),
      ...(p.metadata === undefined ? {} : { metadata: p.metadata }),
      allowEmpty: p.allowEmpty,
    }))
    .handle('cherry-pick', async (p) => await (await d.remoteFor(p.target)).cherryPick(p.repo, p.branch, p.commit, {
      ...(p.parent === undefined ? {} : { parentNumber: p.parent }),
      ...(p.message === undefined ? {} : { message: p.message }),
    }))
    .handle('tag.create', async (p) => {
      if (p.ref.repo !== p.repo) throw new LkError('LK_USAGE', `the tagged ref must be of ${p.repo}, got lakefs://${p.ref.repo}`)
      return await (await d.remoteFor(p.target)).createTag(p.repo, p.name, refOf(p.ref))
    })
    .handle('tag.list', async (p) => await (await d.remoteFor(p.target)).listTags(p.repo))

    .handle('ls', async (p) => {
      const r = await d.remoteFor(p.target)
      const ref = refOf(p.uri)
      const list = async (prefix: string): Promise<ListEntry[]> => {
        const out: ListEntry[] = []
        let after = ''
        for (;;) {
          const page = await r.listObjects(p.uri.repo, ref, { prefix, after, amount: 1000, ...(p.recursive ? {} : { delimiter: '/' }) })
          out.push(...page.entries)
          if (!page.hasMore) return out
          after = page.nextAfter
        }
      }
      const path: string = p.uri.path
      // `ls .../dir` means the directory's content; fall back to the exact prefix (a file)
      if (path !== '' && !path.endsWith('/')) {
        const inside = await list(path + '/')
        if (inside.length > 0) return { entries: inside }
      }
      return { entries: await list(path) }
    })
    .handle('cat', async (p, ctx) => {
      const r = await d.remoteFor(p.target)
      const stat = await r.statObject(p.uri.repo, refOf(p.uri), p.uri.path)
      let sent = 0
      while (sent < stat.size) {
        if (ctx.signal.aborted) break
        const buf = await r.readRange(p.uri.repo, stat, sent, Math.min(stat.size, sent + READ_PIECE))
        if (buf.length === 0) throw new LkError('LK_STORE_CORRUPT', `${p.uri.path} is shorter than its recorded size`)
        await ctx.chunk(buf)
        sent += buf.length
      }
      return { stat, bytes: sent }
    })
    .handle('import', async (p, ctx) => {
      d.checkPath('import source', p.dir)
      return await importDirectory(await d.remoteFor(p.target), p, ctx)
    })
    .handle('log', async (p) => await logMatching(await d.remoteFor(p.target), p))
    .handle('find', async (p, ctx) => await findPage(await d.remoteFor(p.target), p, ctx.signal))
    .handle('show', async (p) => {
      const r = await d.remoteFor(p.target)
      const ref = refOf(p.uri)
      const kind = await r.refKind(p.uri.repo, ref)
      const commit = await r.getCommit(p.uri.repo, await r.resolveRef(p.uri.repo, ref))
      return { ref, kind, commit }
    })
    .handle('diff', async (p) => {
      const r = await d.remoteFor(p.target)
      await requireRepo(r, p.left.repo)
      const out: DiffEntry[] = []
      let after = ''
      for (;;) {
        const page = await r.diff(p.left.repo, refOf(p.left), refOf(p.right), { after, amount: 1000 })
        out.push(...page.entries)
        if (!page.hasMore) return out
        after = page.nextAfter
      }
    })
    .handle('merge', async (p) => {
      const r = await d.remoteFor(p.target)
      const kind = await r.refKind(p.dest.repo, p.destBranch)
      if (kind !== 'branch') throw new LkError('LK_NOT_A_BRANCH', `${p.destBranch} is a ${kind}: merge needs a destination branch`)
      return await r.merge(p.source.repo, refOf(p.source), p.destBranch, {
        strategy: p.strategy,
        ...(p.message === undefined ? {} : { message: p.message }),
        ...(p.metadata === undefined ? {} : { metadata: p.metadata }),
        allowEmpty: p.allowEmpty,
      })
    })

    .handle('mount', async (p) => {
      d.checkPath('mountpoint', p.mountpoint)
      if (p.cacheDir !== undefined) d.checkPath('cache directory', p.cacheDir)
      return await mountWith(d, p)
    })
    .handle('umount', async (p, ctx) => {
      ctx.progress({ phase: 'unmount', done: 0 })
      return await (await d.manager()).unmount({
        mountpoint: p.mountpoint,
        ...(p.action === undefined ? {} : { action: p.action }),
        ...(p.message === undefined ? {} : { message: p.message }),
        ...(p.metadata === undefined ? {} : { metadata: p.metadata }),
      })
    })
    .handle('mount.commit', async (p) => await (await d.manager()).commit(p.mountpoint, {
      message: p.message,
      ...(p.metadata === undefined ? {} : { metadata: p.metadata }),
      ...(p.branch === undefined ? {} : { branch: p.branch }),
    }))
    .handle('mount.diff', async (p) => await (await d.manager()).diff(p.mountpoint))
    .handle('mount.status', async (p) => await (await d.manager()).status(p.mountpoint))
    .handle('sync', async (p, ctx) => await (await d.manager()).syncs.start({
      uri: p.uri,
      dir: p.dir,
      target: p.target,
      ...(p.onStop === undefined ? {} : { onStop: p.onStop }),
      ...(p.commitEveryMs === undefined ? {} : { commitEveryMs: p.commitEveryMs }),
      ...(p.include === undefined ? {} : { include: p.include }),
      ...(p.exclude === undefined ? {} : { exclude: p.exclude }),
      ...(p.pull === undefined ? {} : { pull: p.pull }),
      ...(p.message === undefined ? {} : { message: p.message }),
      ...(p.metadata === undefined ? {} : { metadata: p.metadata }),
    }, (ev) => { ctx.progress(ev) }))
    .handle('sync.stop', async (p, ctx) => await (await d.manager()).syncs.stop({
      dir: p.dir,
      ...(p.action === undefined ? {} : { action: p.action }),
      ...(p.message === undefined ? {} : { message: p.message }),
      ...(p.metadata === undefined ? {} : { metadata: p.metadata }),
    }, (ev) => { ctx.progress(ev) }))
    .handle('sync.status', async (p) => (await d.manager()).syncs.status(p.dir))
    .handle('sync.pull', async (p, ctx) => await (await d.manager()).syncs.pull(p.dir, { force: p.force }, (ev) => { ctx.progress(ev) }))
    .handle('prefetch', async (p, ctx) => await (await d.manager()).prefetch(p.path, (done, total, bytes) => { ctx.progress({ phase: 'fetch', done, total, bytes }) }))
}
