// The conformance suite against the FsCore directly.

import t from 'tap'
import { CoreDriver } from './core-driver.js'
import { SAMPLE_BRANCH, SAMPLE_REPO } from './dataset.js'
import { conformanceSuite } from './suite.js'
import { openCoreMount } from '../support/core-mount.js'

conformanceSuite(t, async ({ write }) => {
  // a small chunk size makes the 3 MiB sample file span several chunks
  const m = await openCoreMount({ write, chunkSize: 1024 * 1024 })
  return { driver: new CoreDriver(m.session.fs), commit: m.session.pinnedCommit(), repo: SAMPLE_REPO, ref: SAMPLE_BRANCH, close: m.close }
})
