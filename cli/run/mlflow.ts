// A small client of MLflow's tracking REST API (the 2.0 endpoints), for `lk-mount run`.
//
// Configured like MLflow's own clients: MLFLOW_TRACKING_URI (http or https only: file stores
// and `databricks` profiles are not REST endpoints we can reach on our own),
// MLFLOW_TRACKING_USERNAME/PASSWORD (basic) or MLFLOW_TRACKING_TOKEN (bearer).
//
// It must never cost the user a commit: every call has a bounded timeout
// (LK_MOUNT_MLFLOW_TIMEOUT_MS, default 5 s), failures come back as MlflowError for the caller to
// turn into a warning, and once the server has been unreachable the client stops calling it for
// the rest of the run, so a dead tracking server costs at most one timeout, not one per call.

export class MlflowError extends Error {
  /** MLflow's error_code when the server answered one (RESOURCE_DOES_NOT_EXIST, ...) */
  readonly errorCode: string | undefined
  readonly status: number | undefined
  constructor (message: string, opts: { errorCode?: string, status?: number } = {}) {
    super(message)
    this.name = 'MlflowError'
    this.errorCode = opts.errorCode
    this.status = opts.status
  }
}

export interface MlflowConfig {
  /** the tracking server's base URL, without a trailing slash */
  baseUrl: string
  /** the value of the Authorization header, when credentials are configured */
  authorization?: string
  timeoutMs: number
}

export interface KeyValue { key: string, value: string }

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED'

/** MLflow's documented limits on one log-batch request */
const BATCH_PARAMS = 100
const BATCH_TAGS = 100
/** MLflow 2.x's param value limit (older servers accept 500, they answer an error we warn about) */
const PARAM_VALUE_MAX = 6000
const TAG_VALUE_MAX = 5000

/**
 * The configuration from the environment: undefined when MLFLOW_TRACKING_URI is unset; an
 * MlflowError when it is set but not an http(s) URL.
 */
export function mlflowConfigFromEnv (env: NodeJS.ProcessEnv): MlflowConfig | undefined {
  const uri = env.MLFLOW_TRACKING_URI
  if (uri === undefined || uri === '') return undefined
  let url: URL
  try { url = new URL(uri) } catch { throw new MlflowError(`MLFLOW_TRACKING_URI ${JSON.stringify(uri)} is not a URL`) }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MlflowError(`MLFLOW_TRACKING_URI ${JSON.stringify(uri)} is not an http(s) tracking server; lk-mount logs only through the REST API`)
  }
  const timeout = Number(env.LK_MOUNT_MLFLOW_TIMEOUT_MS ?? '5000')
  const cfg: MlflowConfig = { baseUrl: uri.replace(/\/+$/, ''), timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 5000 }
  const token = env.MLFLOW_TRACKING_TOKEN
  const user = env.MLFLOW_TRACKING_USERNAME
  if (token !== undefined && token !== '') cfg.authorization = `Bearer ${token}`
  else if (user !== undefined && user !== '') cfg.authorization = `Basic ${Buffer.from(`${user}:${env.MLFLOW_TRACKING_PASSWORD ?? ''}`).toString('base64')}`
  return cfg
}

/** a tracking URI safe to print or store: credentials in the URL are dropped */
export function redactedUri (baseUrl: string): string {
  try {
    const u = new URL(baseUrl)
    u.username = ''
    u.password = ''
    return u.toString().replace(/\/+$/, '')
  } catch { return '<invalid>' }
}

export class MlflowClient {
  readonly #cfg: MlflowConfig
  #unreachable: MlflowError | undefined

  constructor (cfg: MlflowConfig) {
    this.#cfg = cfg
  }

  /** true after a call could not reach the server (later calls fail at once) */
  get unreachable (): boolean { return this.#unreachable !== undefined }

  async #call (method: 'GET' | 'POST', endpoint: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.#unreachable !== undefined) throw this.#unreachable
    let url = `${this.#cfg.baseUrl}/api/2.0/mlflow/${endpoint}`
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.#cfg.authorization !== undefined) headers.authorization = this.#cfg.authorization
    let payload: string | undefined
    if (method === 'GET') {
      const q = new URLSearchParams()
      for (const [k, v] of Object.entries(body)) q.set(k, String(v))
      url += `?${q.toString()}`
    } else {
      headers['content-type'] = 'application/json'
      payload = JSON.stringify(body)
    }
    let res: Response
    let text: string
    try {
      res = await fetch(url, { method, headers, ...(payload === undefined ? {} : { body: payload }), signal: AbortSignal.timeout(this.#cfg.timeoutMs) })
      text = await res.text()
    } catch (e) {
      const why = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')
        ? `no answer within ${this.#cfg.timeoutMs} ms`
        : (e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e))
      this.#unreachable = new MlflowError(`MLflow tracking server ${redactedUri(this.#cfg.baseUrl)} unreachable (${endpoint}): ${why}`)
      throw this.#unreachable
    }
    let json: unknown
    try { json = text === '' ? {} : JSON.parse(text) } catch { json = undefined }
    const obj = typeof json === 'object' && json !== null && !Array.isArray(json) ? json as Record<string, unknown> : undefined
    if (!res.ok) {
      const code = typeof obj?.error_code === 'string' ? obj.error_code : undefined
      const msg = typeof obj?.message === 'string' ? obj.message : text.slice(0, 200)
      throw new MlflowError(`MLflow ${endpoint} answered HTTP ${res.status}${code === undefined ? '' : ` ${code}`}: ${msg}`, { status: res.status, ...(code === undefined ? {} : { errorCode: code }) })
    }
    if (obj === undefined) throw new MlflowError(`MLflow ${endpoint} answered something that is not a JSON object`)
    return obj
  }

  /** the experiment id of a name, creating the experiment when it does not exist (as mlflow.set_experiment does) */
  async experimentId (name: string): Promise<string> {
    try {
      const r = await this.#call('GET', 'experiments/get-by-name', { experiment_name: name })
      const exp = r.experiment as Record<string, unknown> | undefined
      if (typeof exp?.experiment_id === 'string') return exp.experiment_id
      throw new MlflowError('experiments/get-by-name answered no experiment_id')
    } catch (e) {
      if (!(e instanceof MlflowError) || e.errorCode !== 'RESOURCE_DOES_NOT_EXIST') throw e
    }
    let r: Record<string, unknown>
    try {
      r = await this.#call('POST', 'experiments/create', { name })
    } catch (e) {
      // runs started together race to create the experiment: the loser reads the winner's
      if (!(e instanceof MlflowError) || e.errorCode !== 'RESOURCE_ALREADY_EXISTS') throw e
      const again = await this.#call('GET', 'experiments/get-by-name', { experiment_name: name })
      const exp = again.experiment as Record<string, unknown> | undefined
      if (typeof exp?.experiment_id === 'string') return exp.experiment_id
      throw new MlflowError('experiments/get-by-name answered no experiment_id')
    }
    if (typeof r.experiment_id !== 'string') throw new MlflowError('experiments/create answered no experiment_id')
    return r.experiment_id
  }

  async createRun (opts: { experimentId: string, startTimeMs: number, runName?: string, tags?: KeyValue[] }): Promise<{ runId: string, experimentId: string }> {
    const r = await this.#call('POST', 'runs/create', {
      experiment_id: opts.experimentId,
      start_time: opts.startTimeMs,
      ...(opts.runName === undefined ? {} : { run_name: opts.runName }),
      tags: (opts.tags ?? []).map(clipTag),
    })
    const info = (r.run as Record<string, unknown> | undefined)?.info as Record<string, unknown> | undefined
    const runId = typeof info?.run_id === 'string' ? info.run_id : typeof info?.run_uuid === 'string' ? info.run_uuid : undefined
    if (runId === undefined) throw new MlflowError('runs/create answered no run_id')
    return { runId, experimentId: typeof info?.experiment_id === 'string' ? info.experiment_id : opts.experimentId }
  }

  /** params and tags, split into batches within MLflow's per-request limits */
  async logBatch (runId: string, opts: { params?: KeyValue[], tags?: KeyValue[] }): Promise<void> {
    const params = (opts.params ?? []).map(p => ({ key: p.key, value: p.value.slice(0, PARAM_VALUE_MAX) }))
    const tags = (opts.tags ?? []).map(clipTag)
    for (let i = 0, j = 0; i < params.length || j < tags.length; i += BATCH_PARAMS, j += BATCH_TAGS) {
      await this.#call('POST', 'runs/log-batch', { run_id: runId, metrics: [], params: params.slice(i, i + BATCH_PARAMS), tags: tags.slice(j, j + BATCH_TAGS) })
    }
  }

  async setTag (runId: string, key: string, value: string): Promise<void> {
    await this.#call('POST', 'runs/set-tag', { run_id: runId, ...clipTag({ key, value }) })
  }

  async updateRun (runId: string, status: RunStatus, endTimeMs: number): Promise<void> {
    await this.#call('POST', 'runs/update', { run_id: runId, status, end_time: endTimeMs })
  }
}

function clipTag (t: KeyValue): KeyValue {
  return { key: t.key, value: t.value.slice(0, TAG_VALUE_MAX) }
}
