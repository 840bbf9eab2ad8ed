// A small MLflow tracking server for tests: the REST 2.0 endpoints `lk-mount run` uses, with the
// request and answer shapes of MLflow's published API (mlflow.org/docs/latest/rest-api.html),
// keeping experiments and runs in memory and recording every call so tests can check what a
// client sent. Error answers are MLflow's: HTTP 4xx with {error_code, message}.
//
// Modes for failure tests: `auth` (answer 401 unless the Authorization header matches) and
// `hang` (accept requests and never answer: a black-hole server for timeout tests).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface MlflowCall {
  method: string
  /** the endpoint after /api/2.0/mlflow/, e.g. 'runs/create' */
  endpoint: string
  query: Record<string, string>
  body: Record<string, unknown> | undefined
  authorization: string | undefined
  contentType: string | undefined
}

interface KV { key: string, value: string }

export interface FakeRun {
  info: { run_id: string, run_uuid: string, experiment_id: string, run_name: string, status: string, start_time: number, end_time?: number, lifecycle_stage: string, artifact_uri: string, user_id: string }
  params: Map<string, string>
  tags: Map<string, string>
}

export interface MlflowFake {
  url: string
  calls: MlflowCall[]
  experiments: Map<string, { experiment_id: string, name: string }>
  runs: Map<string, FakeRun>
  close (): Promise<void>
}

class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) { super(message) }
}

export async function startMlflowFake (opts: { auth?: string, hang?: boolean } = {}): Promise<MlflowFake> {
  const calls: MlflowCall[] = []
  const experiments = new Map<string, { experiment_id: string, name: string }>([['0', { experiment_id: '0', name: 'Default' }]])
  const runs = new Map<string, FakeRun>()
  let nextExp = 1
  let nextRun = 1
  const hung = new Set<ServerResponse>()

  const runOf = (body: Record<string, unknown>): FakeRun => {
    const id = typeof body.run_id === 'string' ? body.run_id : body.run_uuid
    const run = typeof id === 'string' ? runs.get(id) : undefined
    if (run === undefined) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Run with id=${String(id)} not found`)
    return run
  }
  const kvs = (v: unknown, what: string): KV[] => {
    if (v === undefined) return []
    if (!Array.isArray(v)) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `${what} must be an array`)
    return v.map((x: unknown) => {
      const o = x as Record<string, unknown>
      if (typeof o?.key !== 'string' || typeof o.value !== 'string') throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `${what} entries need string key and value`)
      return { key: o.key, value: o.value }
    })
  }
  const logParam = (run: FakeRun, p: KV): void => {
    const old = run.params.get(p.key)
    if (old !== undefined && old !== p.value) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Changing param values is not allowed. Param with key='${p.key}' was already logged with value='${old}'`)
    run.params.set(p.key, p.value)
  }
  const runJson = (r: FakeRun): unknown => ({
    info: r.info,
    data: { params: [...r.params].map(([key, value]) => ({ key, value })), tags: [...r.tags].map(([key, value]) => ({ key, value })), metrics: [] },
  })

  const routes: Record<string, (q: Record<string, string>, b: Record<string, unknown>) => unknown> = {
    'GET experiments/get-by-name': (q) => {
      const e = [...experiments.values()].find(x => x.name === q.experiment_name)
      if (e === undefined) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Could not find experiment with name '${q.experiment_name ?? ''}'`)
      return { experiment: { ...e, lifecycle_stage: 'active', artifact_location: `mlflow-artifacts:/${e.experiment_id}` } }
    },
    'POST experiments/create': (_q, b) => {
      if (typeof b.name !== 'string' || b.name === '') throw new ApiError(400, 'INVALID_PARAMETER_VALUE', "Missing value for required parameter 'name'")
      if ([...experiments.values()].some(x => x.name === b.name)) throw new ApiError(400, 'RESOURCE_ALREADY_EXISTS', `Experiment '${b.name}' already exists.`)
      const id = String(nextExp++)
      experiments.set(id, { experiment_id: id, name: b.name })
      return { experiment_id: id }
    },
    'POST runs/create': (_q, b) => {
      const exp = typeof b.experiment_id === 'string' ? b.experiment_id : '0'
      if (!experiments.has(exp)) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `No Experiment with id=${exp} exists`)
      const id = `run${String(nextRun++).padStart(4, '0')}${'f'.repeat(25)}`
      const tags = new Map(kvs(b.tags, 'tags').map(t => [t.key, t.value]))
      const run: FakeRun = {
        info: { run_id: id, run_uuid: id, experiment_id: exp, run_name: typeof b.run_name === 'string' ? b.run_name : `run-${nextRun}`, status: 'RUNNING', start_time: typeof b.start_time === 'number' ? b.start_time : Date.now(), lifecycle_stage: 'active', artifact_uri: `mlflow-artifacts:/${exp}/${id}/artifacts`, user_id: typeof b.user_id === 'string' ? b.user_id : '' },
        params: new Map(),
        tags,
      }
      runs.set(id, run)
      return { run: runJson(run) }
    },
    'GET runs/get': (q) => ({ run: runJson(runOf(q)) }),
    'POST runs/log-batch': (_q, b) => {
      const run = runOf(b)
      const params = kvs(b.params, 'params')
      const tags = kvs(b.tags, 'tags')
      if (params.length > 100 || tags.length > 100) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', 'A batch logging request can contain at most 100 params and 100 tags')
      for (const t of tags) run.tags.set(t.key, t.value)
      for (const p of params) logParam(run, p)
      return {}
    },
    'POST runs/log-parameter': (_q, b) => {
      const run = runOf(b)
      if (typeof b.key !== 'string' || typeof b.value !== 'string') throw new ApiError(400, 'INVALID_PARAMETER_VALUE', 'key and value are required')
      logParam(run, { key: b.key, value: b.value })
      return {}
    },
    'POST runs/set-tag': (_q, b) => {
      const run = runOf(b)
      if (typeof b.key !== 'string' || typeof b.value !== 'string') throw new ApiError(400, 'INVALID_PARAMETER_VALUE', 'key and value are required')
      run.tags.set(b.key, b.value)
      return {}
    },
    'POST runs/update': (_q, b) => {
      const run = runOf(b)
      if (typeof b.status === 'string') {
        if (!['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'].includes(b.status)) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `invalid status ${b.status}`)
        run.info.status = b.status
      }
      if (typeof b.end_time === 'number') run.info.end_time = b.end_time
      return { run_info: run.info }
    },
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const url = new URL(req.url ?? '/', 'http://x')
    const endpoint = url.pathname.replace(/^\/api\/2\.0\/mlflow\//, '')
    const query = Object.fromEntries(url.searchParams)
    const text = Buffer.concat(chunks).toString('utf8')
    let body: Record<string, unknown> | undefined
    const call: MlflowCall = { method: req.method ?? '', endpoint, query, body: undefined, authorization: req.headers.authorization, contentType: req.headers['content-type'] }
    calls.push(call)
    if (opts.hang === true) { hung.add(res); return }
    const send = (status: number, v: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(v))
    }
    try {
      if (opts.auth !== undefined && req.headers.authorization !== opts.auth) throw new ApiError(401, 'UNAUTHENTICATED', 'You are not authenticated.')
      if (req.method === 'POST') {
        if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new ApiError(400, 'BAD_REQUEST', 'POST bodies must be application/json')
        try { body = JSON.parse(text) as Record<string, unknown> } catch { throw new ApiError(400, 'MALFORMED_REQUEST', 'body is not JSON') }
        call.body = body
      }
      const route = routes[`${req.method ?? ''} ${endpoint}`]
      if (route === undefined || !url.pathname.startsWith('/api/2.0/mlflow/')) throw new ApiError(404, 'ENDPOINT_NOT_FOUND', `no endpoint ${req.method ?? ''} ${url.pathname}`)
      send(200, route(query, body ?? {}))
    } catch (e) {
      if (e instanceof ApiError) send(e.status, { error_code: e.code, message: e.message })
      else send(500, { error_code: 'INTERNAL_ERROR', message: String(e) })
    }
  }

  const server: Server = createServer((req, res) => { void handle(req, res) })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    experiments,
    runs,
    close: async () => {
      for (const r of hung) r.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    },
  }
}
