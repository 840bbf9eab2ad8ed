#!/usr/bin/env node
// lk-mount: the command line. See cli/README.md.

import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { LkError, toLkError } from '../lib/core/errors.js'
import { PACKAGE_VERSION } from '../lib/control/version.js'
import { toWireError } from '../lib/control/messages/response.js'
import { COMMANDS } from './commands/index.js'
import type { GlobalArgs } from './context.js'

function printError (e: unknown, json: boolean): number {
  const lk = toLkError(e)
  if (json) {
    process.stderr.write(JSON.stringify({ error: toWireError(lk) }, null, 2) + '\n')
    return lk.exitCode
  }
  process.stderr.write(`error: ${lk.message}\n`)
  const conflicts = lk.details?.conflicts
  if (Array.isArray(conflicts) && conflicts.length > 0) {
    process.stderr.write(`conflicting paths (${conflicts.length}):\n`)
    for (const p of conflicts) process.stderr.write(`  ${String(p)}\n`)
  }
  process.stderr.write(`  ${lk.hint}\n`)
  return lk.exitCode
}

async function main (argv: string[]): Promise<void> {
  const json = argv.includes('--json')
  const y = yargs(argv)
    .scriptName('lk-mount')
    .usage('$0 <command> [options]\n\nMount and sync lakeFS-style versioned data: a branch, tag or commit as a directory, lazily fetched and cached, pinned to one commit; writes become one commit on unmount.')
    .option('json', { type: 'boolean', default: false, global: true, describe: 'machine-readable output on stdout (errors as a JSON object on stderr)' })
    .option('spawn', { type: 'boolean', default: true, global: true, describe: 'start the daemon when none answers (--no-spawn: fail with exit status 8 instead)' })
    .option('store', { type: 'string', global: true, describe: 'embedded store directory (default $LK_MOUNT_HOME/store)' })
    .option('system', { type: 'boolean', default: false, global: true, describe: 'talk to the system daemon (/var/lib/lk-mount) instead of the user\'s' })
    .option('endpoint', { type: 'string', global: true, describe: 'lakeFS server URL (else LAKECTL_SERVER_ENDPOINT_URL, else server.endpoint_url in ~/.lakectl.yaml; none: the embedded store)' })
    .option('access-key-id', { type: 'string', global: true, describe: 'lakeFS access key id (else LAKECTL_CREDENTIALS_ACCESS_KEY_ID or ~/.lakectl.yaml)' })
    .option('secret-access-key', { type: 'string', global: true, describe: 'lakeFS secret access key (prefer LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY or ~/.lakectl.yaml: arguments are visible in ps)' })
    .option('lakectl-config', { type: 'string', global: true, describe: 'lakectl config file (default ~/.lakectl.yaml)' })
    .option('presign', { type: 'boolean', global: true, describe: 'lakeFS: read and write data by presigned URLs when the server offers them (--no-presign: through the lakeFS API)' })
    .option('s3-endpoint', { type: 'string', global: true, describe: 'lakeFS: the object store\'s S3 endpoint for direct data access with the caller\'s AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (else AWS_ENDPOINT_URL_S3)' })
    .command(COMMANDS)
    .demandCommand(1, 'name a command; `lk-mount --help` lists them')
    .strict()
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .fail((msg: string | null, err: Error | undefined) => {
      throw err ?? new LkError('LK_USAGE', msg ?? 'invalid command line')
    })
    .help()
    .alias('h', 'help')
    .version(PACKAGE_VERSION)
    .epilogue([
      'Environment:',
      '  LK_MOUNT_HOME    daemon home: socket, pidfile, log, state, default store and cache',
      '                   (default $XDG_DATA_HOME/lk-mount or ~/.local/share/lk-mount; /var/lib/lk-mount with --system)',
      '  LK_MOUNT_SOCKET  control socket path (default $LK_MOUNT_HOME/lk-mountd.sock)',
      '',
      'Exit status: 0 ok, 1 error, 2 usage, 3 not found, 4 conflict, 5 remote unavailable,',
      '6 permission, 7 local resource (disk, mount point, FUSE), 8 daemon or protocol.',
    ].join('\n'))
  try {
    await (y as unknown as { parseAsync: () => Promise<GlobalArgs> }).parseAsync()
  } catch (e) {
    process.exitCode = printError(e, json)
  }
}

await main(hideBin(process.argv))
