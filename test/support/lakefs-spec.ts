// Checks HTTP exchanges against the lakeFS OpenAPI spec (lib/lakefs-api/lakefs-swagger.yml) with
// ajv, so neither the lk-mount client nor `lk-mount serve` can drift from lakeFS — and they
// cannot drift *together*, because both are held to the spec file, not to each other.
//
// `startSpecProxy(upstream)` is a recording HTTP proxy: the client talks to it, it forwards to
// the server, and every request (operation known, query parameters declared and typed, JSON body
// valid) and every response (status declared for the operation, JSON body valid for it) is
// checked. `violations` lists what failed; `operations` counts what was exercised.

import { readFileSync } from 'node:fs'
import { createServer, request, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Ajv, type ValidateFunction } from 'ajv'
import { parse as parseYaml } from 'yaml'

const SPEC_FILE = fileURLToPath(new URL('../../../lib/lakefs-api/lakefs-swagger.yml', import.meta.url))

type Json = Record<string, unknown>

interface Param { name: string, in: string, required?: boolean, schema?: Json }
interface Operation {
  operationId: string
  method: string
  template: string[]
  params: Param[]
  requestJson: Json | undefined
  requestTypes: string[]
  responses: Record<string, { json: Json | undefined }>
}

/**
 * Deviations of real lakeFS from its own spec that the server follows (and the client accepts).
 * key: "operationId status"
 */
export const KNOWN_DEVIATIONS: Record<string, string> = {
  'updateObjectUserMetadata 204': 'real lakeFS answers 204 No Content; the spec says 201',
}

const GO_BOOLEANS = new Set(['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False'])

/** OpenAPI 3.0 → JSON Schema: nullable becomes a type union; $refs point into the registered spec */
function convert (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(convert)
  if (node === null || typeof node !== 'object') return node
  const out: Json = {}
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/')) out[k] = 'lakefs' + v
    else if (k === 'example' || k === 'x-validation-exclude-body') continue
    else out[k] = convert(v)
  }
  if (out.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null']
  delete out.nullable
  return out
}

export class SpecChecker {
  readonly ajv: Ajv
  readonly #ops: Operation[] = []
  readonly #validators = new Map<string, ValidateFunction>()
  readonly #components: Json

  constructor () {
    const spec = parseYaml(readFileSync(SPEC_FILE, 'utf8')) as Json
    this.#components = convert(spec.components) as Json
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false })
    this.ajv.addSchema({ $id: 'lakefs', components: this.#components })
    const resolve = (x: unknown): Json => {
      let cur = x as Json
      for (let i = 0; i < 5 && typeof cur?.$ref === 'string'; i++) {
        const path = (cur.$ref as string).replace(/^lakefs#\//, '').split('/')
        let n: unknown = { components: this.#components }
        for (const p of path) n = (n as Json)[p]
        cur = n as Json
      }
      return cur
    }
    for (const [path, item] of Object.entries(convert(spec.paths) as Record<string, Json>)) {
      const common = (item.parameters as unknown[] | undefined) ?? []
      for (const method of ['get', 'post', 'put', 'delete', 'head', 'patch']) {
        const op = item[method] as Json | undefined
        if (op === undefined) continue
        const params = [...common, ...((op.parameters as unknown[] | undefined) ?? [])].map(p => resolve(p) as unknown as Param)
        const content = (op.requestBody as Json | undefined)?.content as Record<string, Json> | undefined
        const responses: Operation['responses'] = {}
        for (const [status, resp] of Object.entries((op.responses as Json | undefined) ?? {})) {
          const r = resolve(resp)
          const c = (r.content as Record<string, Json> | undefined)?.['application/json']
          responses[status] = { json: c?.schema as Json | undefined }
        }
        this.#ops.push({
          operationId: op.operationId as string,
          method: method.toUpperCase(),
          template: path.split('/').filter(s => s !== ''),
          params,
          requestJson: content?.['application/json']?.schema as Json | undefined,
          requestTypes: Object.keys(content ?? {}),
          responses,
        })
      }
    }
  }

  #validator (key: string, schema: Json): ValidateFunction {
    let v = this.#validators.get(key)
    if (v === undefined) { v = this.ajv.compile(schema); this.#validators.set(key, v) }
    return v
  }

  /** the spec's operation for a method and a path below /api/v1 (most literal segments wins) */
  find (method: string, segments: string[]): Operation | undefined {
    let best: Operation | undefined
    let bestScore = -1
    for (const op of this.#ops) {
      if (op.method !== method || op.template.length !== segments.length) continue
      let score = 0
      let ok = true
      op.template.forEach((t, i) => {
        if (t.startsWith('{')) return
        if (t === segments[i]) score++
        else ok = false
      })
      if (ok && score > bestScore) { best = op; bestScore = score }
    }
    return best
  }

  checkRequest (op: Operation, query: URLSearchParams, contentType: string | undefined, body: Buffer): string[] {
    const problems: string[] = []
    const declared = new Map(op.params.filter(p => p.in === 'query').map(p => [p.name, p]))
    for (const name of new Set(query.keys())) {
      const p = declared.get(name)
      if (p === undefined) { problems.push(`query parameter "${name}" is not declared`); continue }
      const type = (p.schema?.type as string | undefined) ?? 'string'
      for (const v of query.getAll(name)) {
        if (type === 'integer') {
          const n = Number(v)
          if (!/^-?\d+$/.test(v)) problems.push(`query "${name}"=${v} is not an integer`)
          if (typeof p.schema?.minimum === 'number' && n < p.schema.minimum) problems.push(`query "${name}"=${v} below ${p.schema.minimum}`)
          if (typeof p.schema?.maximum === 'number' && n > p.schema.maximum) problems.push(`query "${name}"=${v} above ${p.schema.maximum}`)
        } else if (type === 'boolean' && !GO_BOOLEANS.has(v)) {
          // lakeFS's generated server parses booleans with Go's strconv.ParseBool (the Python SDK sends True/False)
          problems.push(`query "${name}"=${v} is not a boolean`)
        }
      }
    }
    for (const p of declared.values()) if (p.required === true && !query.has(p.name)) problems.push(`required query parameter "${p.name}" missing`)
    const mediaType = (contentType ?? '').split(';')[0]?.trim() ?? ''
    if (op.requestTypes.length === 0) {
      if (body.length > 0) problems.push('a body was sent to an operation that takes none')
    } else if (body.length > 0 || mediaType !== '') {
      if (!op.requestTypes.includes(mediaType)) problems.push(`request content type ${mediaType} is not one of ${op.requestTypes.join(', ')}`)
      if (mediaType === 'application/json' && op.requestJson !== undefined) {
        let doc: unknown
        try { doc = JSON.parse(body.toString('utf8')) } catch { problems.push('request body is not JSON') }
        const v = this.#validator(`${op.operationId} request`, op.requestJson)
        if (doc !== undefined && !v(doc)) problems.push(`request body: ${this.ajv.errorsText(v.errors)}`)
      }
    }
    return problems
  }

  checkResponse (op: Operation, status: number, headers: IncomingHttpHeaders, body: Buffer): string[] {
    const deviation = KNOWN_DEVIATIONS[`${op.operationId} ${status}`]
    if (deviation !== undefined) return []
    const declared = op.responses[String(status)] ?? (status >= 400 ? op.responses.default : undefined)
    if (declared === undefined) return [`status ${status} is not declared`]
    if (declared.json === undefined) return []
    if (!String(headers['content-type'] ?? '').startsWith('application/json')) return [`status ${status} should carry application/json, got ${String(headers['content-type'])}`]
    let doc: unknown
    try { doc = JSON.parse(body.toString('utf8')) } catch { return ['response body is not JSON'] }
    const v = this.#validator(`${op.operationId} ${status}`, declared.json)
    return v(doc) ? [] : [`response body: ${this.ajv.errorsText(v.errors)}`]
  }
}

export interface SpecProxy {
  /** the proxy's API endpoint (…/api/v1) to give the client */
  endpoint: string
  /** "METHOD path → status: problem" for every exchange that broke the spec */
  violations: string[]
  /** operationId → number of exchanges seen (with status codes) */
  operations: Map<string, Set<number>>
  close (): Promise<void>
}

/** a recording proxy in front of `upstream` (http://host:port) that checks every exchange */
export async function startSpecProxy (upstream: string, checker = new SpecChecker()): Promise<SpecProxy> {
  const violations: string[] = []
  const operations = new Map<string, Set<number>>()
  const target = new URL(upstream)
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const url = new URL(req.url ?? '/', 'http://x')
      const segments = url.pathname.replace(/^\/api\/v1\/?/, '').split('/').filter(s => s !== '').map(s => decodeURIComponent(s))
      const op = checker.find(req.method ?? 'GET', segments)
      const label = `${req.method ?? ''} ${url.pathname}`
      if (op === undefined) violations.push(`${label}: no such operation in the spec`)
      else for (const p of checker.checkRequest(op, url.searchParams, req.headers['content-type'], body)) violations.push(`${label} (${op.operationId}) request: ${p}`)
      const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, upRes => {
        const out: Buffer[] = []
        upRes.on('data', (c: Buffer) => out.push(c))
        upRes.on('end', () => {
          const resBody = Buffer.concat(out)
          const status = upRes.statusCode ?? 0
          if (op !== undefined) {
            let seen = operations.get(op.operationId)
            if (seen === undefined) { seen = new Set(); operations.set(op.operationId, seen) }
            seen.add(status)
            for (const p of checker.checkResponse(op, status, upRes.headers, resBody)) violations.push(`${label} (${op.operationId}) → ${status}: ${p}`)
          }
          res.writeHead(status, upRes.headers).end(resBody)
        })
      })
      up.on('error', () => { res.destroy() })
      up.end(body)
    })
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}/api/v1`,
    violations,
    operations,
    close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) },
  }
}
