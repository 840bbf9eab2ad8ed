// Micro-benchmark of the FUSE adapter's levers (not a test): warm reads of many small files and a
// warm `ls -l` of a big directory, through the mount and on local disk, for several option sets.
// The filesystem behind the mount is the in-memory test double, so what is measured is the
// adapter, libfuse and the kernel, not lib/fs. Readers are child processes.
//
//   node dist/bench/fuse-micro.js [--files 4000] [--size 32768] [--dir-entries 20000] [--epochs 3]

import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { forceUnmount, mountFuse } from '../lib/fuse/index.js'
import type { FuseOptions } from '../lib/fuse/types.js'
import { MemFs } from '../test/support/mem-fs.js'
import { MemoryRemote } from '../test/support/memory-remote.js'
import { ContentCache } from '../lib/cache/index.js'
import { openMountSession } from '../lib/fs/index.js'
import { branchName, refExpr, repoName, type ObjectPath } from '../lib/core/ids.js'
import type { FsCore } from '../lib/fs/types.js'

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '4000' },
    size: { type: 'string', default: '32768' },
    'dir-entries': { type: 'string', default: '20000' },
    epochs: { type: 'string', default: '3' },
  },
})
const FILES = Number(values.files)
const SIZE = Number(values.size)
const DIR_ENTRIES = Number(values['dir-entries'])
const EPOCHS = Number(values.epochs)

// Reads every file whole, `epochs` times, with one reader; prints seconds per epoch. The file list
// is made once (a loader's index), so an epoch is open+read+close per file.
const READER = `
import os, sys, time, json
root, epochs, buffering = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
paths = []
for d, dirs, files in os.walk(root):
    dirs.sort()
    paths += [os.path.join(d, f) for f in sorted(files)]
out = []
for _ in range(epochs):
    t0 = time.perf_counter()
    n = 0
    for p in paths:
        with open(p, 'rb', buffering=buffering) as f:
            n += len(f.read())
    out.append(time.perf_counter() - t0)
print(json.dumps({'files': len(paths), 'bytes': n, 'epochs': out}))
`

function run (cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 256 << 20, timeout: 600_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${cmd} failed: ${stderr}`))
      else resolve(stdout)
    })
  })
}

async function readEpochs (root: string, buffering: number): Promise<number[]> {
  const out = JSON.parse(await run('python3', ['-c', READER, root, String(EPOCHS), String(buffering)])) as { epochs: number[] }
  return out.epochs
}

/** seconds for `ls -l` of a directory, best of 3 after one warm-up */
async function lsTime (dir: string): Promise<number> {
  await run('ls', ['-l', dir])
  let best = Infinity
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint()
    await run('ls', ['-l', dir])
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9)
  }
  return best
}

interface Row { variant: string, epoch1: number, warm: number, warmUnbuffered: number, ls: number, reqPerFile: string }

async function main (): Promise<void> {
  const data = new Map<string, Buffer>()
  for (let i = 0; i < FILES; i++) data.set(`/small/d${i % 20}/f${i}.bin`, randomBytes(SIZE))
  for (let i = 0; i < DIR_ENTRIES; i++) data.set(`/big/e${i}`, Buffer.alloc(16, i % 256))

  // local disk baseline
  const local = await mkdtemp(join(tmpdir(), 'lk-bench-local-'))
  const rows: Row[] = []
  try {
    for (const [p, b] of data) {
      await mkdir(join(local, p, '..'), { recursive: true })
      await writeFile(join(local, p), b)
    }
    const e = await readEpochs(join(local, 'small'), -1)
    const u = await readEpochs(join(local, 'small'), 0)
    rows.push({ variant: 'local disk', epoch1: e[0] ?? NaN, warm: Math.min(...e.slice(1)), warmUnbuffered: Math.min(...u.slice(1)), ls: await lsTime(join(local, 'big')), reqPerFile: '-' })
  } finally {
    await rm(local, { recursive: true, force: true })
  }

  const variants: Array<[string, Partial<FuseOptions>, boolean]> = [
    ['rw, 1 s timeouts, no page cache (defaults)', { readOnly: false, immutable: false }, true],
    ['rw + immutable (kernelCache, 3600 s)', { readOnly: false, immutable: true }, true],
    ['ro + immutable, open via core', { readOnly: true, immutable: true, noOpen: false }, true],
    ['ro + immutable + no-open (read-only default)', { readOnly: true, immutable: true }, true],
    ['ro + immutable + no-open, async getattr only', { readOnly: true, immutable: true }, false],
    ['ro + immutable + no-open + no xattr ops', { readOnly: true, immutable: true, xattrs: false }, true],
  ]
  // the real read path: a pinned MountSession over an in-memory remote, with the on-disk cache
  const remote = new MemoryRemote()
  const repo = repoName('bench')
  await remote.createRepo(repo, { defaultBranch: branchName('main') })
  const head = await remote.resolveRef(repo, 'main')
  await remote.commitChanges(repo, branchName('main'), [...data].map(([p, b]) => ({
    op: 'put' as const, path: p.slice(1) as ObjectPath, content: { kind: 'buffer' as const, data: b }, metadata: {}, mtime: 1_700_000_000,
  })), { base: head, message: 'bench data' })
  const cacheDir = await mkdtemp(join(tmpdir(), 'lk-bench-cache-'))
  const cache = await ContentCache.open({ dir: cacheDir, maxBytes: 4 << 30 })
  const session = await openMountSession({ remote, repo, ref: refExpr('main'), write: false, cache })
  const calls = new Map<string, number>()
  // count what reaches lib/fs, as the double does
  const counted = new Proxy(session.fs, {
    get (target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown
      if (typeof v !== 'function') return v
      return (...args: unknown[]) => {
        calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1)
        return (v as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })

  const cores: Array<[string, Partial<FuseOptions>, () => { core: FsCore, calls: Map<string, number> }]> = [
    ...variants.map(([name, opts, syncAttrs]): [string, Partial<FuseOptions>, () => { core: FsCore, calls: Map<string, number> }] => [name, opts, () => {
      const core = new MemFs({ readOnly: opts.readOnly === true, files: Object.fromEntries(data) })
      core.syncAttrs = syncAttrs
      return { core, calls: core.calls }
    }]),
    ['lib/fs MountSession + cache, read-only defaults', { readOnly: true, immutable: true }, () => ({ core: counted, calls })],
  ]
  for (const [variant, opts, make] of cores) {
    const { core, calls: coreCalls } = make()
    const dir = await mkdtemp(join(tmpdir(), 'lk-bench-mnt-'))
    const mount = await mountFuse(core, dir, { readOnly: false, immutable: false, fsName: 'lk-bench', ...opts })
    try {
      const e = await readEpochs(join(dir, 'small'), -1)
      const before = [...coreCalls.values()].reduce((a, b) => a + b, 0)
      const warmOnly = await readEpochs(join(dir, 'small'), -1)
      const after = [...coreCalls.values()].reduce((a, b) => a + b, 0)
      const u = await readEpochs(join(dir, 'small'), 0)
      const ls = await lsTime(join(dir, 'big'))
      rows.push({
        variant,
        epoch1: e[0] ?? NaN,
        warm: Math.min(...e.slice(1), ...warmOnly),
        warmUnbuffered: Math.min(...u),
        ls,
        reqPerFile: ((after - before) / (FILES * EPOCHS)).toFixed(2),
      })
    } finally {
      await mount.unmount({ lazy: true }).catch(() => {})
      await forceUnmount(dir)
      await rm(dir, { recursive: true, force: true })
    }
  }

  await session.close()
  await cache.close()
  await rm(cacheDir, { recursive: true, force: true })

  const base = rows[0] as Row
  const ratio = (local: number, x: number): string => (local / x).toFixed(2) + 'x'
  console.log(`\n${FILES} files x ${SIZE} B, ${EPOCHS} epochs, 1 reader; ls -l of ${DIR_ENTRIES} entries. "x local" = speed relative to local disk.\n`)
  console.log('| variant | epoch 1 s | warm epoch s (x local) | warm, buffering=0 (x local) | ls -l s (x local) | core calls per file, warm |')
  console.log('|---|---|---|---|---|---|')
  for (const r of rows) {
    console.log(`| ${r.variant} | ${r.epoch1.toFixed(3)} | ${r.warm.toFixed(3)} (${ratio(base.warm, r.warm)}) | ${r.warmUnbuffered.toFixed(3)} (${ratio(base.warmUnbuffered, r.warmUnbuffered)}) | ${r.ls.toFixed(3)} (${ratio(base.ls, r.ls)}) | ${r.reqPerFile} |`)
  }
}

main().catch(e => {
  console.error(e)
  process.exitCode = 1
})
