// Model-based test: random sequences of puts, deletes, resets, commits, commitChanges and
// branch creations run against the real store (with tiny index ranges, so every range edge is
// exercised) and against a few Maps; after every step listings (paged, with and without a
// delimiter), stats, reads and diffStaged must agree with the model.

import t from 'tap'
import fc from 'fast-check'
import { rm } from 'node:fs/promises'
import { LocalRemote } from '../../lib/remote/local.js'
import { B, P, R, buf, codeOf } from '../support/store.js'
import { mkdtemp } from 'node:fs/promises'
import * as os from 'node:os'
import * as path from 'node:path'

const repo = R('model')
const PATHS = ['a', 'a/b/c', 'a/x', 'a/y', 'b/z', 'c/d/e', 'é', 'z', 'a-b', 'a/b/d', '😀']
const BRANCHES = ['main', 'dev', 'f-1']
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

type Op =
  | { op: 'put', b: number, p: number, v: number }
  | { op: 'del', b: number, p: number }
  | { op: 'commit', b: number }
  | { op: 'changes', b: number, puts: number[], dels: number[], v: number }
  | { op: 'reset', b: number, kind: 'all' | 'object' | 'prefix', p: number }
  | { op: 'branch', b: number, from: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('put' as const), b: fc.nat(2), p: fc.nat(PATHS.length - 1), v: fc.nat(3) }), weight: 5 },
  { arbitrary: fc.record({ op: fc.constant('del' as const), b: fc.nat(2), p: fc.nat(PATHS.length - 1) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('commit' as const), b: fc.nat(2) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('changes' as const), b: fc.nat(2), puts: fc.array(fc.nat(PATHS.length - 1), { maxLength: 3 }), dels: fc.array(fc.nat(PATHS.length - 1), { maxLength: 2 }), v: fc.nat(3) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('reset' as const), b: fc.nat(2), kind: fc.constantFrom('all' as const, 'object' as const, 'prefix' as const), p: fc.nat(PATHS.length - 1) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('branch' as const), b: fc.nat(2), from: fc.nat(2) }), weight: 1 },
)

interface ModelBranch { head: Map<string, string>, staged: Map<string, string | null> }

function view (b: ModelBranch): Map<string, string> {
  const m = new Map(b.head)
  for (const [k, v] of b.staged) { if (v === null) m.delete(k); else m.set(k, v) }
  return m
}

async function check (remote: LocalRemote, model: Map<string, ModelBranch>, where: string): Promise<void> {
  for (const [name, mb] of model) {
    const want = [...view(mb).entries()].sort((x, y) => byteOrder(x[0], y[0]))
    // paged listing, 3 at a time
    const got: string[] = []
    let after = ''
    for (let i = 0; i < 20; i++) {
      const page = await remote.listObjects(repo, name, { after, amount: 3 })
      for (const e of page.entries) got.push(e.type === 'object' ? e.stat.path : `?${e.path}`)
      if (!page.hasMore) break
      after = page.nextAfter
    }
    if (JSON.stringify(got) !== JSON.stringify(want.map(w => w[0]))) throw new Error(`${where}: ${name} lists ${JSON.stringify(got)}, model ${JSON.stringify(want.map(w => w[0]))}`)
    // delimiter listing of the root
    const roll = [...new Set(want.map(([p]) => (p.includes('/') ? p.slice(0, p.indexOf('/') + 1) : p)))]
    const d = (await remote.listObjects(repo, name, { delimiter: '/' })).entries.map(e => (e.type === 'prefix' ? e.path : e.stat.path))
    if (JSON.stringify(d) !== JSON.stringify(roll)) throw new Error(`${where}: ${name} delimiter listing ${JSON.stringify(d)}, model ${JSON.stringify(roll)}`)
    for (const [p, v] of want) {
      const st = await remote.statObject(repo, name, P(p))
      const bytes = (await remote.readRange(repo, st, 0, 100)).toString()
      if (bytes !== v) throw new Error(`${where}: ${name}:${p} reads ${bytes}, model ${v}`)
    }
    // staged diff: what differs from the head
    const staged = [...mb.staged.entries()].filter(([p, v]) => !(v === null && !mb.head.has(p))).map(([p]) => p).sort(byteOrder)
    const ds = (await remote.diffStaged(repo, B(name))).entries.map(e => e.path)
    if (JSON.stringify(ds) !== JSON.stringify(staged)) throw new Error(`${where}: ${name} diffStaged ${JSON.stringify(ds)}, model ${JSON.stringify(staged)}`)
  }
}

t.test('store agrees with a model over random operation sequences', async t => {
  let run = 0
  await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async ops => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lk-model-'))
    const remote = await LocalRemote.open({ dir, fsync: false, rangeTarget: 2 })
    run++
    try {
      await remote.createRepo(repo)
      const model = new Map<string, ModelBranch>([['main', { head: new Map(), staged: new Map() }]])
      for (const [i, o] of ops.entries()) {
        const bn = BRANCHES[o.b]!
        const mb = model.get(bn)
        const where = `run ${run} step ${i} ${JSON.stringify(o)}`
        if (mb === undefined) {
          if (o.op === 'branch') {
            const from = model.get(BRANCHES[o.from]!)
            if (from === undefined) continue
            await remote.createBranch(repo, B(bn), BRANCHES[o.from]!)
            model.set(bn, { head: new Map(from.head), staged: new Map() })
          } else if (o.op === 'put') {
            const code = await codeOf(remote.putObject(repo, B(bn), P(PATHS[o.p]!), buf('x')))
            if (code !== 'LK_REF_NOT_FOUND') throw new Error(`${where}: put on a missing branch gave ${code}`)
          }
          continue
        }
        switch (o.op) {
          case 'put': {
            const v = `${PATHS[o.p]}=${o.v}`
            await remote.putObject(repo, B(bn), P(PATHS[o.p]!), buf(v))
            mb.staged.set(PATHS[o.p]!, v)
            break
          }
          case 'del': {
            const p = PATHS[o.p]!
            await remote.deleteObjects(repo, B(bn), [P(p)])
            if (view(mb).has(p)) mb.staged.set(p, null)
            break
          }
          case 'commit': {
            const code = await codeOf(remote.commit(repo, B(bn), { message: where }))
            const want = mb.staged.size === 0 ? 'LK_NOTHING_TO_COMMIT' : 'ok'
            if (code !== want) throw new Error(`${where}: commit gave ${code}, model ${want}`)
            mb.head = view(mb)
            mb.staged.clear()
            break
          }
          case 'changes': {
            const base = await remote.resolveRef(repo, bn)
            const changes = [
              ...o.puts.map(p => ({ op: 'put' as const, path: P(PATHS[p]!), content: buf(`${PATHS[p]}~${o.v}`) })),
              ...o.dels.map(p => ({ op: 'delete' as const, path: P(PATHS[p]!) })),
            ]
            await remote.commitChanges(repo, B(bn), changes, { base, message: where })
            // later changes to a path win, as the store documents
            for (const c of changes) { if (c.op === 'put') mb.head.set(c.path, `${c.path}~${o.v}`); else mb.head.delete(c.path) }
            break
          }
          case 'reset': {
            const p = PATHS[o.p]!
            const prefix = p.includes('/') ? p.slice(0, p.indexOf('/') + 1) : p
            if (o.kind === 'all') { await remote.resetBranch(repo, B(bn), { type: 'all' }); mb.staged.clear() }
            if (o.kind === 'object') { await remote.resetBranch(repo, B(bn), { type: 'object', path: P(p) }); mb.staged.delete(p) }
            if (o.kind === 'prefix') {
              await remote.resetBranch(repo, B(bn), { type: 'prefix', path: P(prefix) })
              for (const k of [...mb.staged.keys()]) if (k.startsWith(prefix)) mb.staged.delete(k)
            }
            break
          }
          case 'branch': {
            const code = await codeOf(remote.createBranch(repo, B(bn), 'main'))
            if (code !== 'LK_BRANCH_EXISTS') throw new Error(`${where}: createBranch on an existing branch gave ${code}`)
            break
          }
        }
        await check(remote, model, where)
      }
      const v = await remote.verify(repo)
      if (v.commits < 1) throw new Error('verify found no commits')
    } finally {
      await remote.close()
      await rm(dir, { recursive: true, force: true })
    }
  }), { numRuns: 30, seed: Number(process.env.LK_MODEL_SEED ?? 42) })
  t.pass(`${run} runs agreed with the model`)
})
