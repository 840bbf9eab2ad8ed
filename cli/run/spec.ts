// The pure parts of `lk-mount run`: parsing `--mount` specs, the environment a command sees,
// the commit metadata and the manifest. No I/O here, so each rule is tested directly.

import { basename, resolve } from 'node:path'
import { LkError } from '../../lib/core/errors.js'
import { formatUri, parseUri, type LakefsUri } from '../../lib/core/uri.js'

export type OnFailure = 'commit' | 'keep' | 'discard'

export interface MountSpec {
  /** as given (lakefs://repo/ref[/path]) */
  uri: string
  parsed: LakefsUri
  /** absolute local path */
  mountpoint: string
  write: boolean
  /** NAME in LKMOUNT_<NAME>_*: the mount point's basename, upper-cased, non-alphanumerics as _ */
  name: string
}

/**
 * `lakefs://repo/<ref>[/<path>]:<mountpoint>[:rw|:ro]`. The mount point is what follows the last
 * ':' (after an optional mode suffix), so object paths may contain ':' but mount points may not.
 */
export function parseMountSpec (s: string, cwd = process.cwd()): MountSpec {
  let rest = s
  let write = false
  const mode = /:(rw|ro)$/.exec(rest)
  if (mode !== null) {
    write = mode[1] === 'rw'
    rest = rest.slice(0, -3)
  }
  const colon = rest.lastIndexOf(':')
  const scheme = rest.indexOf('://')
  if (colon === -1 || colon <= scheme) {
    throw new LkError('LK_USAGE', `--mount ${JSON.stringify(s)}: write lakefs://<repo>/<ref>[/<path>]:<mountpoint>[:rw]`)
  }
  const uri = rest.slice(0, colon)
  const mp = rest.slice(colon + 1)
  if (mp === '') throw new LkError('LK_USAGE', `--mount ${JSON.stringify(s)} names no mount point`)
  const parsed = parseUri(uri, { ref: 'required' })
  const mountpoint = resolve(cwd, mp)
  return { uri: formatUri(parsed), parsed, mountpoint, write, name: envName(mountpoint) }
}

export function envName (mountpoint: string): string {
  const base = basename(mountpoint)
  const n = base.toUpperCase().replace(/[^A-Z0-9]/g, '_')
  return n === '' ? 'ROOT' : n
}

/** checks a set of specs together: distinct mount points and distinct env names */
export function checkSpecs (specs: MountSpec[]): void {
  if (specs.length === 0) throw new LkError('LK_USAGE', 'lk-mount run needs at least one --mount lakefs://<repo>/<ref>:<mountpoint>')
  const names = new Map<string, string>()
  const points = new Set<string>()
  for (const m of specs) {
    if (points.has(m.mountpoint)) throw new LkError('LK_USAGE', `two --mount options use the mount point ${m.mountpoint}`)
    points.add(m.mountpoint)
    const other = names.get(m.name)
    if (other !== undefined) throw new LkError('LK_USAGE', `mount points ${other} and ${m.mountpoint} both give the variable name LKMOUNT_${m.name}_*: rename one`)
    names.set(m.name, m.mountpoint)
  }
}

/** what a mount resolved to, from the daemon's answer */
export interface MountedInput extends MountSpec {
  repo: string
  ref: string
  commit: string
}

/** the variables the command sees, on top of the caller's environment */
export function runEnv (mounts: MountedInput[], extra: { runId: string, manifest?: string, mlflowRunId?: string }): Record<string, string> {
  const env: Record<string, string> = {}
  const first = mounts[0]
  if (first !== undefined) {
    env.LAKEFS_REPO = first.repo
    env.LAKEFS_REF = first.ref
    env.LAKEFS_COMMIT = first.commit
  }
  for (const m of mounts) {
    env[`LKMOUNT_${m.name}_REPO`] = m.repo
    env[`LKMOUNT_${m.name}_REF`] = m.ref
    env[`LKMOUNT_${m.name}_COMMIT`] = m.commit
    env[`LKMOUNT_${m.name}_PATH`] = m.mountpoint
    env[`LKMOUNT_${m.name}_URI`] = m.uri
  }
  env.LKMOUNT_RUN_ID = extra.runId
  if (extra.manifest !== undefined) env.LKMOUNT_RUN_MANIFEST = extra.manifest
  // the command's own mlflow calls then log into the same run
  if (extra.mlflowRunId !== undefined) env.MLFLOW_RUN_ID = extra.mlflowRunId
  return env
}

/** how the command ended */
export type Outcome =
  | { kind: 'exit', code: number }
  | { kind: 'signal', signal: NodeJS.Signals, number: number }
  | { kind: 'spawn-error', message: string }

/** the status `lk-mount run` exits with for an outcome: the command's own, 128+n for a signal */
export function outcomeStatus (o: Outcome): number {
  if (o.kind === 'exit') return o.code
  if (o.kind === 'signal') return 128 + o.number
  return 127
}

export function outcomeText (o: Outcome): string {
  if (o.kind === 'exit') return String(o.code)
  if (o.kind === 'signal') return `signal:${o.signal}`
  return `spawn-error:${o.message}`
}

/** a command line as one string a POSIX shell would read back the same */
export function shellJoin (argv: readonly string[]): string {
  return argv.map(a => /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
}

/** the run id: sortable by start time, unique enough for parallel runs on many hosts */
export function makeRunId (start: Date, random: string): string {
  return `${start.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${random}`
}

/** the manifest's path inside the first write mount (and so inside the output commit) */
export const MANIFEST_DIR = '.lk-mount/runs'

export interface RunRecord {
  runId: string
  command: string[]
  commandLine: string
  host: string
  user: string
  startedAt: string
  endedAt: string
  outcome: Outcome
  mlflow?: { trackingUri: string, runId: string, experimentId?: string }
}

/** commit metadata recording the run: the provenance a `log --meta` can find later */
export function commitMetadata (r: RunRecord, inputs: MountedInput[], manifestPath: string | undefined, user: Record<string, string> | undefined): Record<string, string> {
  const m: Record<string, string> = { ...(user ?? {}) }
  inputs.forEach((x, i) => { m[`lk-mount.input.${i}`] = `${x.uri}@${x.commit}` })
  m['lk-mount.run.id'] = r.runId
  m['lk-mount.command'] = r.commandLine.length > 4096 ? r.commandLine.slice(0, 4093) + '...' : r.commandLine
  m['lk-mount.exit'] = outcomeText(r.outcome)
  m['lk-mount.started'] = r.startedAt
  m['lk-mount.ended'] = r.endedAt
  m['lk-mount.host'] = r.host
  if (manifestPath !== undefined) m['lk-mount.manifest'] = manifestPath
  if (r.mlflow !== undefined) {
    m['mlflow.run_id'] = r.mlflow.runId
    m['mlflow.tracking_uri'] = r.mlflow.trackingUri
    if (r.mlflow.experimentId !== undefined) m['mlflow.experiment_id'] = r.mlflow.experimentId
  }
  return m
}

/** the MLflow key of a mount's value: plain with one mount, suffixed by the mount's name with several */
export function mlflowKey (base: string, m: MountSpec, several: boolean): string {
  return several ? `${base}.${m.name.toLowerCase()}` : base
}
