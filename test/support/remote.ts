// The one place tests choose their Remote. Default: the embedded store (LocalRemote) in `dir`,
// so the core is tested against the real lakeFS-semantics engine; LK_TEST_REMOTE=memory picks
// the in-process MemoryRemote (faster, no disk), which is also used where no directory is given.

import { LocalRemote } from '../../lib/remote/local.js'
import type { Remote } from '../../lib/remote/types.js'
import { MemoryRemote } from './memory-remote.js'

export async function makeTestRemote (dir?: string): Promise<Remote> {
  if (dir === undefined || process.env.LK_TEST_REMOTE === 'memory') return new MemoryRemote()
  return await LocalRemote.open({ dir, fsync: false })
}
