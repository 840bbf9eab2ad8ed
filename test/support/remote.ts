// The one place tests choose their Remote: switch to LocalRemote (lib/remote/local.ts) here when
// the embedded store is merged, and every core test follows.

import type { Remote } from '../../lib/remote/types.js'
import { MemoryRemote } from './memory-remote.js'

export async function makeTestRemote (_dir?: string): Promise<Remote> {
  return new MemoryRemote()
}
