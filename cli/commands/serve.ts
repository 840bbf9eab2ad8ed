// lk-mount serve: the embedded store behind a lakeFS-compatible API, in the foreground.
//
// The server runs as its own process (dist/daemon/serve.js, located by path so the CLI stays on
// its side of the layers, like `daemon --foreground`): stdio is inherited and SIGTERM/SIGINT are
// forwarded, so systemd, a terminal's Ctrl-C and `kill <cli pid>` all stop it cleanly.

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { CommandModule } from 'yargs'
import type { GlobalArgs } from '../context.js'

export const SERVE_ENTRY = fileURLToPath(new URL('../../daemon/serve.js', import.meta.url))

type ServeArgs = GlobalArgs & {
  listen: string
  'access-key-id'?: string
  'secret-access-key'?: string
  blobs?: string
  's3-endpoint'?: string
  's3-region'?: string
  'presign-expiry': number
}

export const serveCommand: CommandModule<GlobalArgs, ServeArgs> = {
  command: 'serve',
  describe: 'Serve the embedded store over a lakeFS-compatible HTTP API (for lakectl, lakeFS SDKs, lk-mount elsewhere)',
  builder: (y) => y
    .option('listen', { type: 'string', default: '127.0.0.1:8000', describe: 'HOST:PORT to listen on (port 0 picks a free one)' })
    .option('access-key-id', { type: 'string', describe: 'access key id clients authenticate with (or LK_SERVE_ACCESS_KEY_ID)' })
    .option('secret-access-key', { type: 'string', describe: 'its secret; prefer LK_SERVE_SECRET_ACCESS_KEY (command lines show in ps)' })
    .option('blobs', { type: 'string', describe: 'keep blobs in an S3 bucket, s3://bucket/prefix (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); clients then get presigned URLs' })
    .option('s3-endpoint', { type: 'string', describe: 'S3 endpoint for --blobs (Ceph RGW, MinIO, ...), e.g. http://127.0.0.1:7480' })
    .option('s3-region', { type: 'string', describe: 'S3 region for --blobs (default us-east-1)' })
    .option('presign-expiry', { type: 'number', default: 900, describe: 'lifetime of presigned URLs, seconds' })
    .epilog([
      'Clients: lakectl with server.endpoint_url http://HOST:PORT and these credentials, or',
      'lk-mount on another machine with LAKECTL_SERVER_ENDPOINT_URL, LAKECTL_CREDENTIALS_ACCESS_KEY_ID and',
      'LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY. The API is under /api/v1; see docs/lakefs.md for what it serves.',
    ].join('\n')),
  handler: async (a) => {
    const argv: string[] = [SERVE_ENTRY, '--listen', a.listen, '--presign-expiry', String(a['presign-expiry'])]
    if (a.store !== undefined) argv.push('--store', a.store)
    if (a.system) argv.push('--system')
    const pass = ['access-key-id', 'secret-access-key', 'blobs', 's3-endpoint', 's3-region'] as const
    for (const k of pass) { const v = a[k]; if (v !== undefined) argv.push(`--${k}`, v) }
    const child = spawn(process.execPath, argv, { stdio: 'inherit', env: process.env })
    const forward = (sig: NodeJS.Signals): void => { child.kill(sig) }
    process.on('SIGTERM', forward)
    process.on('SIGINT', forward)
    process.exitCode = await new Promise<number>(resolve => child.once('exit', (c, s) => { resolve(c ?? (s === null ? 1 : 128)) }))
    process.off('SIGTERM', forward)
    process.off('SIGINT', forward)
  },
}
