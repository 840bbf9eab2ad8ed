// `lk-mount run`: run a command against pinned, mounted data and record what it read and wrote.
//
// Order of events, and why:
// 1. Mount every --mount through the daemon (write mounts with onUnmount=keep, so a daemon that
//    stops while we run keeps the outputs staged instead of committing half a run).
// 2. Start the MLflow run (or attach to MLFLOW_RUN_ID) *before* the command, so the command's own
//    mlflow calls land in the same run (we export MLFLOW_RUN_ID) and the input commits are logged
//    even if the command never finishes.
// 3. Run the command with the caller's stdio; SIGINT/SIGTERM/SIGHUP are forwarded to it.
// 4. Write the run manifest into the first write mount (so it is part of the output commit), and
//    a local copy under $LK_MOUNT_HOME/runs/.
// 5. Unmount: write mounts commit (or follow --on-failure) with metadata recording the inputs.
// 6. Tell MLflow the output commits and end the run we created.
//
// MLflow is best effort at every step: a dead tracking server prints a warning and costs at most
// one bounded timeout; it never stops a commit.
//
// Signals: handlers stay installed until the unmounts are done, so a second Ctrl-C cannot kill
// this process between the command's end and the commit. SIGINT is not forwarded when stdin is
// a terminal: the terminal already sent it to the whole foreground process group, command
// included, and a second one would interrupt the command's own cleanup.

import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { hostname, userInfo, constants as osConstants } from 'node:os'
import { join } from 'node:path'
import { LkError, toLkError } from '../../lib/core/errors.js'
import type { ControlClient } from '../../lib/control/client.js'
import type { CommitInfo, DiffEntry } from '../../lib/control/methods/index.js'
import type { RemoteTarget } from '../../lib/control/target.js'
import { MlflowClient, MlflowError, mlflowConfigFromEnv, redactedUri, type KeyValue } from './mlflow.js'
import {
  commitMetadata, MANIFEST_DIR, makeRunId, mlflowKey, outcomeStatus, outcomeText, runEnv, shellJoin,
  type MountedInput, type MountSpec, type OnFailure, type Outcome, type RunRecord,
} from './spec.js'

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
/** paths listed per output in the manifest; the commit itself has all of them */
const MANIFEST_CHANGES_MAX = 10_000

export interface RunOptions {
  mounts: MountSpec[]
  command: string[]
  message?: string
  meta?: Record<string, string>
  onFailure: OnFailure
  target: RemoteTarget
  /** $LK_MOUNT_HOME: the local manifest copy goes under <home>/runs/ */
  home: string
  env: NodeJS.ProcessEnv
  /** for messages; default stderr */
  say?: (line: string) => void
}

export interface OutputResult {
  uri: string
  mountpoint: string
  repo: string
  branch: string
  baseCommit: string
  action: OnFailure
  commit?: CommitInfo
  error?: { code: string, message: string }
  changes: Array<{ path: string, type: string }>
  changesTruncated: boolean
}

export interface RunSummary {
  runId: string
  status: number
  outcome: Outcome
  inputs: Array<{ uri: string, mountpoint: string, repo: string, ref: string, commit: string, write: boolean }>
  outputs: OutputResult[]
  /** lakefs:// URI of the manifest in the output commit, when one was committed */
  manifestUri?: string
  /** the manifest's path inside the repository */
  manifestPath?: string
  localManifest: string
  mlflow?: { runId: string, experimentId?: string, trackingUri: string }
  warnings: string[]
}

/**
 * `connect` opens a control connection; one is held for the mounts and a fresh one after the
 * command, none while it runs: a job may run for days, and a daemon restarted meanwhile (which
 * keeps write mounts staged, see step 1) is then simply reconnected to.
 */
export async function runExperiment (connect: () => Promise<ControlClient>, o: RunOptions): Promise<RunSummary> {
  const say = o.say ?? ((l: string) => { process.stderr.write(`lk-mount run: ${l}\n`) })
  const warnings: string[] = []
  const warn = (msg: string): void => { warnings.push(msg); say(`warning: ${msg}`) }
  const started = new Date()
  const runId = makeRunId(started, randomBytes(3).toString('hex'))

  let child: ChildProcess | undefined
  let pendingSignal: NodeJS.Signals | undefined
  const onSignal = (sig: NodeJS.Signals): void => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      if (sig === 'SIGINT' && process.stdin.isTTY === true) return
      child.kill(sig)
    } else if (child === undefined) {
      pendingSignal ??= sig
    } else {
      say(`${sig} received: finishing the unmounts first`)
    }
  }
  for (const s of FORWARDED) process.on(s, onSignal)

  const mounted: MountedInput[] = []
  let client: ControlClient | undefined
  try {
    client = await connect()
    // 1. mounts
    try {
      for (const m of o.mounts) {
        if (pendingSignal !== undefined) break
        const st = await client.request('mount', { target: o.target, uri: m.uri, mountpoint: m.mountpoint, write: m.write, onUnmount: 'keep' })
        mounted.push({ ...m, repo: st.repo, ref: st.ref, commit: st.pinnedCommit })
        say(`mounted ${m.uri} at ${m.mountpoint} (commit ${st.pinnedCommit.slice(0, 12)}, ${m.write ? 'read-write' : 'read-only'})`)
      }
    } catch (e) {
      // nothing of this run was written: unmount what we mounted, keeping anything resumed
      for (const m of mounted.reverse()) {
        await client.request('umount', { mountpoint: m.mountpoint, action: 'keep' }).catch((u: unknown) => { warn(`unmounting ${m.mountpoint}: ${toLkError(u).message}`) })
      }
      throw e
    }

    client.close()
    client = undefined

    // 2. MLflow
    const several = mounted.length > 1
    const ml = await startMlflow(o.env, mounted, several, runId, o.command, warn)
    const commandLine = shellJoin(o.command)
    const firstWrite = mounted.find(m => m.write)
    const manifestPath = firstWrite === undefined ? undefined : joinRepoPath(firstWrite.parsed.path, `${MANIFEST_DIR}/${runId}.json`)
    const manifestFile = firstWrite === undefined ? undefined : join(firstWrite.mountpoint, MANIFEST_DIR, `${runId}.json`)

    // 3. the command
    let outcome: Outcome
    if (pendingSignal !== undefined) {
      outcome = { kind: 'signal', signal: pendingSignal, number: osConstants.signals[pendingSignal] }
      say(`${pendingSignal} received before the command started: not starting it`)
    } else {
      const env = { ...o.env, ...runEnv(mounted, { runId, ...(manifestFile === undefined ? {} : { manifest: manifestFile }), ...(ml === undefined ? {} : { mlflowRunId: ml.runId }) }) }
      say(`running ${commandLine}`)
      outcome = await new Promise<Outcome>((resolve) => {
        const [cmd, ...args] = o.command
        const c = spawn(cmd ?? '', args, { stdio: 'inherit', env })
        child = c
        c.once('error', (e) => { resolve({ kind: 'spawn-error', message: e.message }) })
        c.once('exit', (code, sig) => {
          if (sig !== null) resolve({ kind: 'signal', signal: sig, number: osConstants.signals[sig] })
          else resolve({ kind: 'exit', code: code ?? 1 })
        })
      })
    }
    const ended = new Date()
    const ok = outcome.kind === 'exit' && outcome.code === 0
    const action: OnFailure = ok ? 'commit' : o.onFailure
    say(`command ${ok ? 'succeeded' : `failed (${outcomeText(outcome)})`}${mounted.some(m => m.write) ? `: ${action === 'commit' ? 'committing' : action === 'keep' ? 'keeping the outputs staged' : 'discarding the outputs'}` : ''}`)

    const record: RunRecord = {
      runId,
      command: o.command,
      commandLine,
      host: hostname(),
      user: safeUser(),
      startedAt: started.toISOString(),
      endedAt: ended.toISOString(),
      outcome,
      ...(ml === undefined ? {} : { mlflow: { trackingUri: ml.trackingUri, runId: ml.runId, ...(ml.experimentId === undefined ? {} : { experimentId: ml.experimentId }) } }),
    }

    // 4. the manifest
    client = await connect()
    const c = client
    const outputs: OutputResult[] = []
    for (const m of mounted.filter(x => x.write)) {
      let changes: DiffEntry[] = []
      try { changes = await c.request('mount.diff', { mountpoint: m.mountpoint }) } catch (e) { warn(`listing the changes of ${m.mountpoint}: ${toLkError(e).message}`) }
      outputs.push({
        uri: m.uri, mountpoint: m.mountpoint, repo: m.repo, branch: m.ref, baseCommit: m.commit, action,
        changes: changes.slice(0, MANIFEST_CHANGES_MAX).map(c => ({ path: c.path, type: c.type })),
        changesTruncated: changes.length > MANIFEST_CHANGES_MAX,
      })
    }
    const manifest = (): Record<string, unknown> => ({
      kind: 'lk-mount.run',
      version: 1,
      runId,
      command: o.command,
      commandLine,
      cwd: process.cwd(),
      host: record.host,
      user: record.user,
      startedAt: record.startedAt,
      endedAt: record.endedAt,
      durationMs: ended.getTime() - started.getTime(),
      exit: { status: outcomeStatus(outcome), text: outcomeText(outcome), ...outcome },
      onFailure: o.onFailure,
      inputs: mounted.map(m => ({ uri: m.uri, mountpoint: m.mountpoint, repo: m.repo, ref: m.ref, commit: m.commit, write: m.write })),
      outputs: outputs.map(x => ({ ...x, commit: x.commit?.id ?? null })),
      mlflow: record.mlflow ?? null,
      manifestPath: manifestPath ?? null,
    })
    if (manifestFile !== undefined && action !== 'discard') {
      try {
        await mkdir(join(manifestFile, '..'), { recursive: true })
        await writeFile(manifestFile, JSON.stringify(manifest(), null, 2) + '\n')
      } catch (e) {
        warn(`writing the manifest into ${manifestFile}: ${e instanceof Error ? e.message : String(e)}`)
      }
    }

    // 5. unmount (outputs first, so an input mount's trouble cannot hold up a commit)
    const meta = commitMetadata(record, mounted, manifestFile !== undefined && action !== 'discard' ? manifestPath : undefined, o.meta)
    const message = o.message ?? `lk-mount run: ${commandLine.length > 200 ? commandLine.slice(0, 197) + '...' : commandLine}${ok ? '' : ` (${outcomeText(outcome)})`}`
    for (const out of outputs) {
      try {
        const r = await c.request('umount', { mountpoint: out.mountpoint, action, message, metadata: meta })
        if (r.commit !== undefined) {
          out.commit = r.commit
          say(`committed ${r.commit.id} on lakefs://${out.repo}/${out.branch}`)
        } else {
          say(r.action === 'keep' ? `outputs kept staged for ${out.mountpoint} (\`lk-mount status ${out.mountpoint}\`)` : r.action === 'discard' ? `outputs of ${out.mountpoint} discarded` : `nothing to commit from ${out.mountpoint}`)
        }
      } catch (e) {
        const lk = toLkError(e)
        out.error = { code: lk.code, message: lk.message }
        warn(`committing ${out.mountpoint}: ${lk.message} — ${lk.hint}`)
      }
    }
    for (const m of mounted.filter(x => !x.write)) {
      await c.request('umount', { mountpoint: m.mountpoint }).catch((e: unknown) => { warn(`unmounting ${m.mountpoint}: ${toLkError(e).message}`) })
    }

    // 6. MLflow: the outputs, and the end of a run we created
    const primary = outputs[0]
    const manifestUri = primary?.commit !== undefined && manifestPath !== undefined && manifestFile !== undefined && action !== 'discard'
      ? `lakefs://${primary.repo}/${primary.commit.id}/${manifestPath}` : undefined
    if (ml !== undefined) await finishMlflow(ml, outputs, outcome, manifestUri, warn)

    const localManifest = join(o.home, 'runs', `${runId}.json`)
    try {
      await mkdir(join(o.home, 'runs'), { recursive: true })
      await writeFile(localManifest, JSON.stringify({ ...manifest(), manifestUri: manifestUri ?? null }, null, 2) + '\n')
    } catch (e) {
      warn(`writing the local manifest ${localManifest}: ${e instanceof Error ? e.message : String(e)}`)
    }
    say(`manifest: ${manifestUri ?? '(not committed)'}; local copy ${localManifest}`)

    // the command's status wins; when the command succeeded a failed commit must not look fine
    let status = outcomeStatus(outcome)
    if (status === 0) {
      const failed = outputs.find(x => x.error !== undefined)
      if (failed?.error !== undefined) status = new LkError(failed.error.code as never, failed.error.message).exitCode
    }
    return {
      runId, status, outcome,
      inputs: mounted.map(m => ({ uri: m.uri, mountpoint: m.mountpoint, repo: m.repo, ref: m.ref, commit: m.commit, write: m.write })),
      outputs,
      ...(manifestUri === undefined ? {} : { manifestUri }),
      ...(manifestPath === undefined ? {} : { manifestPath }),
      localManifest,
      ...(record.mlflow === undefined ? {} : { mlflow: record.mlflow }),
      warnings,
    }
  } finally {
    client?.close()
    for (const s of FORWARDED) process.off(s, onSignal)
  }
}

function joinRepoPath (prefix: string, rel: string): string {
  if (prefix === '') return rel
  return prefix.endsWith('/') ? prefix + rel : `${prefix}/${rel}`
}

function safeUser (): string {
  try { return userInfo().username } catch { return String(process.getuid?.() ?? 'unknown') }
}

interface MlRun {
  client: MlflowClient
  runId: string
  experimentId?: string
  trackingUri: string
  /** we created it, so we end it */
  created: boolean
  several: boolean
}

async function startMlflow (env: NodeJS.ProcessEnv, mounted: MountedInput[], several: boolean, lkRunId: string, command: string[], warn: (m: string) => void): Promise<MlRun | undefined> {
  let cfg
  try { cfg = mlflowConfigFromEnv(env) } catch (e) { warn(e instanceof Error ? e.message : String(e)); return undefined }
  if (cfg === undefined) return undefined
  const client = new MlflowClient(cfg)
  const trackingUri = redactedUri(cfg.baseUrl)
  const inputs: KeyValue[] = []
  for (const m of mounted) {
    inputs.push({ key: mlflowKey('lakefs.repo', m, several), value: m.repo })
    inputs.push({ key: mlflowKey('lakefs.ref', m, several), value: m.ref })
    inputs.push({ key: mlflowKey('lakefs.commit', m, several), value: m.commit })
    inputs.push({ key: mlflowKey('lakefs.uri', m, several), value: `${m.uri}@${m.commit}` })
  }
  let run: MlRun
  try {
    const active = env.MLFLOW_RUN_ID
    if (active !== undefined && active !== '') {
      run = { client, runId: active, trackingUri, created: false, several }
    } else {
      const expId = env.MLFLOW_EXPERIMENT_ID !== undefined && env.MLFLOW_EXPERIMENT_ID !== ''
        ? env.MLFLOW_EXPERIMENT_ID
        : env.MLFLOW_EXPERIMENT_NAME !== undefined && env.MLFLOW_EXPERIMENT_NAME !== '' ? await client.experimentId(env.MLFLOW_EXPERIMENT_NAME) : '0'
      const r = await client.createRun({
        experimentId: expId,
        startTimeMs: Date.now(),
        tags: [
          { key: 'mlflow.source.type', value: 'LOCAL' },
          { key: 'mlflow.source.name', value: command[0] ?? '' },
          { key: 'mlflow.user', value: safeUser() },
          { key: 'lk-mount.run_id', value: lkRunId },
        ],
      })
      run = { client, runId: r.runId, experimentId: r.experimentId, trackingUri, created: true, several }
    }
  } catch (e) {
    warn(`MLflow: ${e instanceof Error ? e.message : String(e)}; the run goes on without MLflow`)
    return undefined
  }
  // tags first and apart: tags can be overwritten, params cannot, so a param that clashes with an
  // earlier value in an attached run fails only its own batch
  try {
    await client.logBatch(run.runId, { tags: [...inputs, { key: 'lk-mount.run_id', value: lkRunId }] })
  } catch (e) { warn(`MLflow: logging the input tags: ${errText(e)}`) }
  if (!client.unreachable) {
    try { await client.logBatch(run.runId, { params: inputs.filter(p => !p.key.startsWith('lakefs.uri')) }) } catch (e) { warn(`MLflow: logging the input params: ${errText(e)}`) }
  }
  return run
}

async function finishMlflow (ml: MlRun, outputs: OutputResult[], outcome: Outcome, manifestUri: string | undefined, warn: (m: string) => void): Promise<void> {
  if (ml.client.unreachable) return
  const tags: KeyValue[] = []
  const severalOut = outputs.length > 1
  for (const out of outputs) {
    if (out.commit === undefined) continue
    const key = (base: string): string => severalOut ? `${base}.${out.mountpoint.split('/').at(-1)?.toLowerCase().replace(/[^a-z0-9]/g, '_') ?? ''}` : base
    tags.push({ key: key('lakefs.output.commit'), value: out.commit.id })
    tags.push({ key: key('lakefs.output.uri'), value: `lakefs://${out.repo}/${out.commit.id}` })
  }
  if (manifestUri !== undefined) tags.push({ key: 'lk-mount.manifest', value: manifestUri })
  try {
    if (tags.length > 0) await ml.client.logBatch(ml.runId, { tags })
  } catch (e) { warn(`MLflow: logging the output commit: ${errText(e)}`) }
  if (ml.created && !ml.client.unreachable) {
    const status = outcome.kind === 'exit' && outcome.code === 0 ? 'FINISHED' : outcome.kind === 'signal' ? 'KILLED' : 'FAILED'
    try { await ml.client.updateRun(ml.runId, status, Date.now()) } catch (e) { warn(`MLflow: ending the run: ${errText(e)}`) }
  }
}

function errText (e: unknown): string {
  return e instanceof MlflowError || e instanceof Error ? e.message : String(e)
}
