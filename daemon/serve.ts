// `lk-mount serve`: the embedded store behind a lakeFS-compatible API (lib/server), as a process.
//
// Until the CLI has its command modules this file is both the module the CLI will call
// (`runServe(argv)`; wire it as `lk-mount serve` with the same flags) and a runnable entry point
// (`node dist/daemon/serve.js --store DIR ...`). It is the composition root for serving: it opens
// the store (blobs in a directory or an S3 bucket), builds the presigner when S3 credentials are
// known, starts the HTTP server and stops it cleanly on SIGTERM/SIGINT.
//
// Secrets: the API secret comes from --secret-access-key or, better (command lines are visible
// in `ps`), LK_SERVE_SECRET_ACCESS_KEY; S3 credentials from AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY. None of them is ever logged.

import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import yargs from 'yargs'
import { LkError, toLkError } from '../lib/core/errors.js'
import { daemonPaths } from '../lib/control/paths.js'
import { createLogger, type Logger } from '../lib/core/log.js'
import { LocalRemote } from '../lib/remote/local.js'
import { S3BlobStore, parseS3Uri } from '../lib/store/blobs-s3.js'
import { S3Presigner } from '../lib/server/presign-s3.js'
import { startServer, type RunningServer } from '../lib/server/server.js'

export interface ServeArgs {
  store: string
  listen: string
  accessKeyId: string
  secretAccessKey: string
  /** s3://bucket/prefix, or undefined for blobs under the store directory */
  blobs?: string
  s3Endpoint?: string
  s3Region?: string
  presignExpirySeconds: number
}

export const SERVE_USAGE = `lk-mount serve [--store DIR] [--listen HOST:PORT] [--access-key-id AK --secret-access-key SK]
                [--blobs s3://bucket/prefix [--s3-endpoint URL] [--s3-region REGION]]

Serves the embedded store over a lakeFS-compatible HTTP API (under /api/v1), so lakectl,
lakeFS SDKs and lk-mount on other machines can use it. Clients authenticate with the access
key pair (HTTP basic auth); set LAKECTL_SERVER_ENDPOINT_URL=http://HOST:PORT on clients.`

/** Parses the command line and environment (pure: no I/O). */
export function parseServeArgs (argv: string[], env: Record<string, string | undefined> = process.env): ServeArgs {
  let parsed: Record<string, unknown>
  try {
    parsed = yargs(argv)
      .scriptName('lk-mount serve')
      .usage(SERVE_USAGE)
      .option('store', { type: 'string', describe: 'store directory (default $LK_MOUNT_HOME/store, as the daemon)' })
      .option('system', { type: 'boolean', default: false, describe: 'default store of the system service (/var/lib/lk-mount/store)' })
      .option('listen', { type: 'string', default: '127.0.0.1:8000', describe: 'address to listen on (port 0 picks a free one)' })
      .option('access-key-id', { type: 'string', describe: 'access key id clients must present (or LK_SERVE_ACCESS_KEY_ID)' })
      .option('secret-access-key', { type: 'string', describe: 'secret clients must present (prefer LK_SERVE_SECRET_ACCESS_KEY)' })
      .option('blobs', { type: 'string', describe: 'keep blobs in an S3 bucket, s3://bucket/prefix (credentials from AWS_* variables)' })
      .option('s3-endpoint', { type: 'string', describe: 'S3 endpoint for --blobs (RGW, MinIO, ...), e.g. http://127.0.0.1:7480' })
      .option('s3-region', { type: 'string', describe: 'S3 region for --blobs (default us-east-1)' })
      .option('presign-expiry', { type: 'number', default: 900, describe: 'lifetime of presigned URLs, seconds' })
      .strict()
      .help(false)
      .version(false)
      .exitProcess(false)
      .fail((msg: string | undefined, err: Error | undefined) => { throw new LkError('LK_USAGE', `lk-mount serve: ${msg ?? err?.message ?? 'bad arguments'}`) })
      .parseSync() as Record<string, unknown>
  } catch (e) {
    if (e instanceof LkError) throw e
    throw new LkError('LK_USAGE', `lk-mount serve: ${(e as Error).message}`)
  }
  const s = (k: string): string | undefined => typeof parsed[k] === 'string' && parsed[k] !== '' ? parsed[k] : undefined
  const accessKeyId = s('access-key-id') ?? env.LK_SERVE_ACCESS_KEY_ID
  const secretAccessKey = s('secret-access-key') ?? env.LK_SERVE_SECRET_ACCESS_KEY
  if (accessKeyId === undefined || accessKeyId === '' || secretAccessKey === undefined || secretAccessKey === '') {
    throw new LkError('LK_USAGE', 'lk-mount serve needs credentials for its clients: --access-key-id and LK_SERVE_SECRET_ACCESS_KEY (or --secret-access-key)')
  }
  const out: ServeArgs = {
    // the daemon's default store, so `lk-mount serve` shares what local mounts see
    store: resolve(s('store') ?? daemonPaths({ env: env as NodeJS.ProcessEnv, system: parsed.system === true }).store),
    listen: s('listen') ?? '127.0.0.1:8000',
    accessKeyId,
    secretAccessKey,
    presignExpirySeconds: typeof parsed['presign-expiry'] === 'number' && parsed['presign-expiry'] > 0 ? parsed['presign-expiry'] : 900,
  }
  const blobs = s('blobs')
  if (blobs !== undefined) { parseS3Uri(blobs); out.blobs = blobs }
  const endpoint = s('s3-endpoint')
  if (endpoint !== undefined) out.s3Endpoint = endpoint
  const region = s('s3-region')
  if (region !== undefined) out.s3Region = region
  if (out.blobs === undefined && (endpoint !== undefined || region !== undefined)) throw new LkError('LK_USAGE', '--s3-endpoint and --s3-region only make sense with --blobs s3://...')
  return out
}

/** Starts serving; resolves once listening. The caller stops it with close(). */
export async function startServe (args: ServeArgs, env: Record<string, string | undefined> = process.env, logger?: Logger): Promise<RunningServer> {
  const log = logger ?? createLogger()
  let blobStore: S3BlobStore | undefined
  let presigner: S3Presigner | undefined
  if (args.blobs !== undefined) {
    const { bucket, prefix } = parseS3Uri(args.blobs)
    const ak = env.AWS_ACCESS_KEY_ID
    const sk = env.AWS_SECRET_ACCESS_KEY
    const credentials = ak !== undefined && sk !== undefined ? { accessKeyId: ak, secretAccessKey: sk, ...(env.AWS_SESSION_TOKEN === undefined ? {} : { sessionToken: env.AWS_SESSION_TOKEN }) } : undefined
    blobStore = new S3BlobStore({ bucket, prefix, ...(args.s3Endpoint === undefined ? {} : { endpoint: args.s3Endpoint }), ...(args.s3Region === undefined ? {} : { region: args.s3Region }), ...(credentials === undefined ? {} : { credentials }) })
    if (credentials !== undefined) {
      presigner = new S3Presigner({ bucket, prefix, ...credentials, ...(args.s3Endpoint === undefined ? {} : { endpoint: args.s3Endpoint }), ...(args.s3Region === undefined ? {} : { region: args.s3Region }) })
    } else {
      log.warn('no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: blobs use the SDK credential chain and clients get no presigned URLs (data goes through the API)')
    }
  }
  const remote = await LocalRemote.open({ dir: args.store, log, ...(blobStore === undefined ? {} : { blobs: blobStore }) })
  try {
    const server = await startServer({
      remote,
      listen: args.listen,
      accessKeyId: args.accessKeyId,
      secretAccessKey: args.secretAccessKey,
      presignExpirySeconds: args.presignExpirySeconds,
      logger: log,
      ...(presigner === undefined ? {} : { presigner }),
      ...(args.blobs === undefined ? {} : { defaultNamespacePrefix: args.blobs.endsWith('/') ? args.blobs : args.blobs + '/' }),
    })
    return { ...server, close: async () => { await server.close(); await remote.close() } }
  } catch (e) {
    await remote.close()
    throw e
  }
}

/** The `lk-mount serve` command: parse, serve until SIGTERM/SIGINT, exit 0 (or the error's exit code). */
export async function runServe (argv: string[], env: Record<string, string | undefined> = process.env): Promise<void> {
  const log = createLogger()
  let server: RunningServer
  try {
    server = await startServe(parseServeArgs(argv, env), env, log)
  } catch (e) {
    const err = toLkError(e)
    process.stderr.write(`${err.userMessage}\n`)
    process.exitCode = err.exitCode
    return
  }
  // the one line scripts and tests wait for
  process.stdout.write(`lk-mount serve: listening on ${server.url} (API ${server.endpoint})\n`)
  await new Promise<void>(resolve => {
    const stop = (signal: string): void => {
      log.info('stopping', { signal })
      process.off('SIGTERM', onTerm)
      process.off('SIGINT', onInt)
      void server.close().then(resolve, (e: unknown) => { log.error('close failed', { error: String(e) }); process.exitCode = 1; resolve() })
    }
    const onTerm = (): void => { stop('SIGTERM') }
    const onInt = (): void => { stop('SIGINT') }
    process.on('SIGTERM', onTerm)
    process.on('SIGINT', onInt)
  })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runServe(process.argv.slice(2))
}
