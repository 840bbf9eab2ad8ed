// A CLI home with a small dataset imported as lakefs://dset/main, for tests that mount it.
// Teardown detaches any mount left under the test's base directory, whatever failed.

import type { Test } from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { cliHome, type CliHome } from './cli.js'
import { procMountsLine, sh } from './fuse.js'
import { shortTmp } from './tmp.js'

export interface SeedCommit { id: string, parents: string[], message: string, metadata: Record<string, string> }

export async function seededCliHome (t: Test, prefix: string, files: Record<string, string>): Promise<{ lk: CliHome, base: string, commit: SeedCommit }> {
  const lk = cliHome(t)
  const base = shortTmp(t, prefix)
  t.teardown(async () => {
    for (const d of await readdir(base).catch(() => [] as string[])) {
      const mp = join(base, d)
      if (await procMountsLine(mp) !== undefined) await sh('fusermount', ['-u', '-z', mp])
    }
  })
  const src = join(base, 'src')
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(src, rel)), { recursive: true })
    writeFileSync(join(src, rel), content)
  }
  let r = await lk.run(['repo', 'create', 'dset'])
  t.equal(r.code, 0, r.stderr)
  r = await lk.run(['import', src, 'lakefs://dset/main', '-m', 'seed', '--json'])
  t.equal(r.code, 0, r.stderr)
  return { lk, base, commit: (JSON.parse(r.stdout) as { commit: SeedCommit }).commit }
}
