// Opening the lakeFS backend the way the daemon needs it: find the endpoint and credentials the
// lakectl way (lakefs-config.ts), build the client, and check the credentials once up front, so
// a wrong key fails at start with LK_CREDENTIALS instead of on the first read of a mount.
// Returns undefined when no endpoint is configured anywhere (the caller uses the embedded store).

import type { Logger } from '../core/log.js'
import { LakefsRemote, type LakefsRemoteOptions } from './lakefs.js'
import { describeLakefsConfig, loadLakefsConfig, type LakefsFlags } from './lakefs-config.js'

export interface OpenLakefsOptions {
  flags?: LakefsFlags
  env?: Record<string, string | undefined>
  logger?: Logger
  /** client tuning and the optional direct S3 data path */
  client?: Omit<LakefsRemoteOptions, 'endpoint' | 'accessKeyId' | 'secretAccessKey' | 'logger'>
  /** skip the up-front GET /config (default: check) */
  check?: boolean
}

export async function openLakefsRemote (o: OpenLakefsOptions = {}): Promise<LakefsRemote | undefined> {
  const config = await loadLakefsConfig(o.flags ?? {}, o.env ?? process.env)
  if (config === undefined) return undefined
  const remote = LakefsRemote.fromConfig(config, { ...o.client, ...(o.logger === undefined ? {} : { logger: o.logger }) })
  if (o.check !== false) {
    try {
      const info = await remote.serverInfo()
      o.logger?.info('lakeFS endpoint', { config: describeLakefsConfig(config), version: info.version, blockstore: info.blockstore, presign: info.presign })
    } catch (e) {
      await remote.close()
      throw e
    }
  }
  return remote
}
