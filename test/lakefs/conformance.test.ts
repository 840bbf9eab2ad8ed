// The filesystem conformance suite with the mount core over the lakeFS client: FsCore →
// LakefsRemote → lk-mount serve → embedded store. Reads are lazy fetches through the API,
// commits on unmount go through LakefsRemote.commitChanges; every exchange is spec-checked.

import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LakefsRemote } from '../../lib/remote/lakefs.js'
import { LocalRemote } from '../../lib/remote/local.js'
import { startServer } from '../../lib/server/server.js'
import { CoreDriver } from '../conformance/core-driver.js'
import { SAMPLE_BRANCH, SAMPLE_REPO } from '../conformance/dataset.js'
import { conformanceSuite } from '../conformance/suite.js'
import { openCoreMount } from '../support/core-mount.js'
import { startSpecProxy } from '../support/lakefs-spec.js'

conformanceSuite(t, async ({ write }) => {
  const dir = await mkdtemp(join(tmpdir(), 'lk-lakefs-conf-'))
  const store = await LocalRemote.open({ dir, fsync: false })
  const server = await startServer({ remote: store, listen: '127.0.0.1:0', accessKeyId: 'AKCONF', secretAccessKey: 'conf-secret' })
  // every exchange of the mount core with the server is checked against the spec too
  const proxy = await startSpecProxy(server.url)
  const client = new LakefsRemote({ endpoint: proxy.endpoint, accessKeyId: 'AKCONF', secretAccessKey: 'conf-secret', retries: 1, backoffMs: 10 })
  const m = await openCoreMount({ write, chunkSize: 1024 * 1024, remote: client })
  return {
    driver: new CoreDriver(m.session.fs),
    commit: m.session.pinnedCommit(),
    repo: SAMPLE_REPO,
    ref: SAMPLE_BRANCH,
    close: async () => {
      await m.close()
      await proxy.close()
      await server.close()
      await store.close()
      await rm(dir, { recursive: true, force: true })
      if (proxy.violations.length > 0) throw new Error(`lakeFS spec violations:\n${proxy.violations.join('\n')}`)
    },
  }
})
