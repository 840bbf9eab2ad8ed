// Short temporary directories: Unix socket paths must fit in 107 bytes, which tap's fixture
// directories (named after the test) do not.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export function shortTmp (t: { teardown (fn: () => unknown): void }, prefix = 'lk-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}
