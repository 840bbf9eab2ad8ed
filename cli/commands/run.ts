// lk-mount run --mount lakefs://repo/<ref>[/<path>]:<mountpoint>[:rw] ... [-m msg] [--meta k=v]...
//              [--on-failure commit|keep|discard] -- <command> [args...]
//
// Thin: parses the specs and hands over to cli/run (the orchestration). The command after `--`
// is taken verbatim from the process's own argv, so yargs never reinterprets its arguments
// (numbers, flags, `--`).

import type { CommandModule } from 'yargs'
import { LkError } from '../../lib/core/errors.js'
import { connect, parseMeta, pathsOf, printJson, targetOf, type GlobalArgs } from '../context.js'
import { runExperiment } from '../run/index.js'
import { checkSpecs, parseMountSpec, type OnFailure } from '../run/spec.js'

export const runCommand: CommandModule<GlobalArgs, GlobalArgs & {
  mount?: string[], message?: string, meta?: string[], 'on-failure': OnFailure, command?: string[]
}> = {
  command: 'run [command..]',
  describe: 'Run a command on mounted data and commit its outputs with provenance',
  builder: (y) => y
    .positional('command', { type: 'string', array: true, describe: 'the command and its arguments, after --' })
    .option('mount', { type: 'string', array: true, describe: 'lakefs://<repo>/<ref>[/<path>]:<mountpoint>[:rw] (repeatable; read-only unless :rw)' })
    .option('message', { alias: 'm', type: 'string', describe: 'commit message of the outputs (default: the command line)' })
    .option('meta', { type: 'string', array: true, describe: 'extra commit metadata key=value (repeatable)' })
    .option('on-failure', { type: 'string', choices: ['commit', 'keep', 'discard'] as const, default: 'keep' as OnFailure, describe: 'what a failed or killed command\'s outputs become' })
    .example('$0 run --mount lakefs://images/v3:/data --mount lakefs://images/exp-42/out:/out:rw -- python train.py', '')
    .epilog([
      'Mounts each ref through the daemon (pinned to its commit), runs the command with these variables:',
      '  LAKEFS_REPO, LAKEFS_REF, LAKEFS_COMMIT              of the first --mount',
      '  LKMOUNT_<NAME>_REPO/_REF/_COMMIT/_PATH/_URI         per mount; NAME is the mount point\'s basename,',
      '                                                      upper-cased, other characters as _; _PATH is the mount point',
      '  LKMOUNT_RUN_ID, LKMOUNT_RUN_MANIFEST                the run id and where its manifest will be written',
      '  MLFLOW_RUN_ID                                       the MLflow run, when MLFLOW_TRACKING_URI is set',
      'forwards SIGINT, SIGTERM and SIGHUP to it, then unmounts. Write mounts commit their outputs with metadata',
      '(lk-mount.input.<i> = uri@commit, lk-mount.command, lk-mount.exit, lk-mount.started/ended, lk-mount.host,',
      'lk-mount.run.id, lk-mount.manifest, mlflow.run_id) and the run manifest at <write mount>/.lk-mount/runs/<run-id>.json.',
      'A failed command follows --on-failure (default: keep the outputs staged). Exits with the command\'s status',
      '(128+signal when it was killed).',
      '',
      'MLflow (when MLFLOW_TRACKING_URI is an http(s) URL): logs to MLFLOW_RUN_ID or a new run in MLFLOW_EXPERIMENT_ID /',
      'MLFLOW_EXPERIMENT_NAME / Default; params and tags lakefs.repo, lakefs.ref, lakefs.commit (suffixed .<name> with',
      'several mounts) and the tag lakefs.output.commit. Credentials: MLFLOW_TRACKING_USERNAME/PASSWORD or',
      'MLFLOW_TRACKING_TOKEN. An unreachable server is a warning (timeout LK_MOUNT_MLFLOW_TIMEOUT_MS, default 5000).',
    ].join('\n')),
  handler: async (a) => {
    const dd = process.argv.indexOf('--')
    const command = dd === -1 ? [] : process.argv.slice(dd + 1)
    if (command.length === 0 || command[0] === '') throw new LkError('LK_USAGE', 'lk-mount run needs a command after --, e.g. lk-mount run --mount ... -- python train.py')
    const specs = (a.mount ?? []).map(s => parseMountSpec(s))
    checkSpecs(specs)
    const meta = parseMeta(a.meta)
    const summary = await runExperiment(async () => await connect(a), {
        mounts: specs,
        command,
        ...(a.message === undefined ? {} : { message: a.message }),
        ...(meta === undefined ? {} : { meta }),
        onFailure: a['on-failure'],
        target: targetOf(a),
        home: pathsOf(a).home,
      env: process.env,
    })
    if (a.json) printJson(summary)
    process.exitCode = summary.status
  },
}
