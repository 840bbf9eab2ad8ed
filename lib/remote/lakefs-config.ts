// Where the lakeFS client finds its endpoint and credentials, the way lakectl does: command-line
// flags win over `LAKECTL_*` environment variables, which win over `~/.lakectl.yaml`.
//
// `resolveLakefsConfig` is a pure function over the three sources (so it is unit-tested without a
// home directory); `loadLakefsConfig` reads the file and the process environment around it.
// The secret never appears in anything this module returns for display (`describeLakefsConfig`)
// nor in the errors it throws.

import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { LkError } from '../core/errors.js'

export interface LakefsFlags {
  endpoint?: string | undefined
  accessKeyId?: string | undefined
  secretAccessKey?: string | undefined
  /** path of the lakectl config file (lakectl's --config); default ~/.lakectl.yaml */
  configFile?: string | undefined
}

export type ConfigSource = 'flag' | 'env' | 'file'

export interface LakefsConfig {
  /** the API base URL, always ending in /api/v1 (lakectl accepts it with or without) */
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
  /** where each value came from, for `status` and error messages */
  sources: { endpoint: ConfigSource, accessKeyId: ConfigSource, secretAccessKey: ConfigSource }
}

export const LAKECTL_ENV = {
  endpoint: 'LAKECTL_SERVER_ENDPOINT_URL',
  accessKeyId: 'LAKECTL_CREDENTIALS_ACCESS_KEY_ID',
  secretAccessKey: 'LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY',
} as const

/** Normalises an endpoint URL: http(s) only, no credentials inside it, path ending in /api/v1. */
export function normaliseEndpoint (raw: string): string {
  let url: URL
  try {
    url = new URL(raw.trim())
  } catch {
    throw new LkError('LK_USAGE', `the lakeFS endpoint ${JSON.stringify(raw)} is not a URL (e.g. http://127.0.0.1:8000)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new LkError('LK_USAGE', `the lakeFS endpoint must be an http:// or https:// URL, not ${url.protocol}`)
  }
  // Credentials belong in the credentials settings; a URL with userinfo would leak into logs.
  if (url.username !== '' || url.password !== '') {
    throw new LkError('LK_USAGE', 'the lakeFS endpoint URL must not contain credentials; give them as --access-key-id/--secret-access-key or LAKECTL_CREDENTIALS_* variables')
  }
  url.search = ''
  url.hash = ''
  let path = url.pathname.replace(/\/+$/, '')
  if (!path.endsWith('/api/v1')) path += '/api/v1'
  url.pathname = path
  return url.toString().replace(/\/+$/, '')
}

interface FileValues { endpoint?: string, accessKeyId?: string, secretAccessKey?: string }

/** Reads the three values from lakectl.yaml content; a malformed file is a usage error. */
export function parseLakectlYaml (content: string, fileName = '.lakectl.yaml'): FileValues {
  let doc: unknown
  try {
    doc = parseYaml(content)
  } catch (e) {
    // the parser's message may quote file content (the secret): keep only the position
    const where = (e as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line
    throw new LkError('LK_USAGE', `${fileName} is not valid YAML${where === undefined ? '' : ` (line ${where})`}`)
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new LkError('LK_USAGE', `${fileName} must be a YAML mapping`)
  const section = (name: string): Record<string, unknown> => {
    const v = (doc as Record<string, unknown>)[name]
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {}
  }
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '') ? v : undefined
  const out: FileValues = {}
  const endpoint = str(section('server').endpoint_url)
  const accessKeyId = str(section('credentials').access_key_id)
  const secretAccessKey = str(section('credentials').secret_access_key)
  if (endpoint !== undefined) out.endpoint = endpoint
  if (accessKeyId !== undefined) out.accessKeyId = accessKeyId
  if (secretAccessKey !== undefined) out.secretAccessKey = secretAccessKey
  return out
}

/**
 * Pure resolution: flags > env > file. Returns undefined when no endpoint is configured anywhere
 * (the caller then uses the embedded store); throws LK_CREDENTIALS when an endpoint is set but a
 * credential is missing.
 */
export function resolveLakefsConfig (input: {
  flags?: LakefsFlags
  env?: Record<string, string | undefined>
  fileContent?: string | undefined
  fileName?: string
}): LakefsConfig | undefined {
  const flags = input.flags ?? {}
  const env = input.env ?? {}
  const file = input.fileContent === undefined ? {} : parseLakectlYaml(input.fileContent, input.fileName)
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '') ? undefined : v
  const pick = (key: keyof FileValues): { value: string, source: ConfigSource } | undefined => {
    const f = nonEmpty(flags[key])
    if (f !== undefined) return { value: f, source: 'flag' }
    const e = nonEmpty(env[LAKECTL_ENV[key]])
    if (e !== undefined) return { value: e, source: 'env' }
    const y = nonEmpty(file[key])
    if (y !== undefined) return { value: y, source: 'file' }
    return undefined
  }
  const endpoint = pick('endpoint')
  if (endpoint === undefined) return undefined
  const accessKeyId = pick('accessKeyId')
  const secretAccessKey = pick('secretAccessKey')
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    const missing = [accessKeyId === undefined ? 'access key id' : '', secretAccessKey === undefined ? 'secret access key' : ''].filter(s => s !== '').join(' and ')
    throw new LkError('LK_CREDENTIALS', `a lakeFS endpoint is configured (${endpoint.source}) but the ${missing} is missing: give --access-key-id/--secret-access-key, ${LAKECTL_ENV.accessKeyId}/${LAKECTL_ENV.secretAccessKey}, or credentials in ${input.fileName ?? '~/.lakectl.yaml'}`)
  }
  return {
    endpoint: normaliseEndpoint(endpoint.value),
    accessKeyId: accessKeyId.value,
    secretAccessKey: secretAccessKey.value,
    sources: { endpoint: endpoint.source, accessKeyId: accessKeyId.source, secretAccessKey: secretAccessKey.source },
  }
}

/** Reads ~/.lakectl.yaml (or flags.configFile) and the environment, then resolves. */
export async function loadLakefsConfig (flags: LakefsFlags = {}, env: Record<string, string | undefined> = process.env): Promise<LakefsConfig | undefined> {
  const fileName = flags.configFile ?? join(env.HOME ?? homedir(), '.lakectl.yaml')
  let fileContent: string | undefined
  try {
    fileContent = await readFile(fileName, 'utf8')
  } catch (e) {
    const code = (e as { code?: unknown }).code
    // an explicitly named file must exist; the default one is optional
    if (code !== 'ENOENT' || flags.configFile !== undefined) throw new LkError('LK_USAGE', `cannot read the lakectl config file ${fileName}: ${String(code ?? e)}`)
  }
  return resolveLakefsConfig({ flags, env, fileContent, fileName })
}

/** A one-line description for logs and `status`: endpoint, key id and where they came from; never the secret. */
export function describeLakefsConfig (c: LakefsConfig): string {
  return `lakeFS ${c.endpoint} (access key ${c.accessKeyId} from ${c.sources.accessKeyId})`
}
