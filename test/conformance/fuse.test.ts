// The conformance suite through a real FUSE mount: a MountSession over the seeded sample
// repository (the same fixture as the core runner), served by lib/fuse with the options the
// manager uses, and driven through the kernel by FuseDriver. Skips only when /dev/fuse is absent;
// a mount that fails where /dev/fuse exists fails the run.

import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { forceUnmount, mountFuse } from '../../lib/fuse/index.js'
import { openCoreMount } from '../support/core-mount.js'
import { fuseAvailable } from '../support/fuse.js'
import { SAMPLE_BRANCH, SAMPLE_REPO } from './dataset.js'
import { FuseDriver } from './fuse-driver.js'
import { conformanceSuite } from './suite.js'

if (fuseAvailable(t)) {
  conformanceSuite(t, async ({ write }) => {
    const core = await openCoreMount({ write, chunkSize: 1024 * 1024 })
    const dir = await mkdtemp(join(tmpdir(), 'lk-conf-'))
    const cleanup = async (): Promise<void> => {
      await forceUnmount(dir).catch(() => {})
      await rm(dir, { recursive: true, force: true })
      await core.close()
    }
    let mount
    try {
      // what the manager does: pinned read-only mounts get every lever, write mounts none that
      // assume immutability
      mount = await mountFuse(core.session.fs, dir, { readOnly: !write, immutable: !write, fsName: `lakefs://${SAMPLE_REPO}/${SAMPLE_BRANCH}` })
    } catch (e) {
      await cleanup()
      throw e
    }
    const m = mount
    const driver = new FuseDriver(dir)
    return {
      driver,
      commit: core.session.pinnedCommit(),
      repo: SAMPLE_REPO,
      ref: SAMPLE_BRANCH,
      close: async () => {
        await driver.closeAll()
        await m.unmount().catch(() => {})
        await cleanup()
      },
    }
  })
}
