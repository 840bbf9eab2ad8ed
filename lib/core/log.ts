// A small structured logger: JSON lines when stdout is not a terminal (journald, files), one
// human line otherwise. Child loggers carry fields ({mount, repo, ref}). Secrets are redacted by
// key name before anything is written.

export type Level = 'debug' | 'info' | 'warn' | 'error'
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface Logger {
  debug (msg: string, fields?: Record<string, unknown>): void
  info (msg: string, fields?: Record<string, unknown>): void
  warn (msg: string, fields?: Record<string, unknown>): void
  error (msg: string, fields?: Record<string, unknown>): void
  child (fields: Record<string, unknown>): Logger
}

const SECRET_KEY = /secret|password|token|authorization|credential/i

export function redact (value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code }
  if (Array.isArray(value)) return value.map(v => redact(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(v, depth + 1)
  return out
}

export interface LoggerOptions {
  level?: Level
  json?: boolean
  write?: (line: string) => void
  fields?: Record<string, unknown>
}

export function createLogger (opts: LoggerOptions = {}): Logger {
  const min = LEVELS[opts.level ?? (process.env.LK_MOUNT_LOG_LEVEL as Level | undefined) ?? 'info'] ?? LEVELS.info
  const json = opts.json ?? !process.stderr.isTTY
  const write = opts.write ?? ((line: string) => { process.stderr.write(line + '\n') })
  const base = opts.fields ?? {}
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[level] < min) return
    const all = redact({ ...base, ...fields }) as Record<string, unknown>
    if (json) {
      write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...all }))
    } else {
      const extra = Object.entries(all).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')
      write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}${extra === '' ? '' : ' ' + extra}`)
    }
  }
  return {
    debug: (m, f) => { emit('debug', m, f) },
    info: (m, f) => { emit('info', m, f) },
    warn: (m, f) => { emit('warn', m, f) },
    error: (m, f) => { emit('error', m, f) },
    child: (fields) => createLogger({ ...opts, fields: { ...base, ...fields } }),
  }
}

export const silentLogger: Logger = {
  debug () {}, info () {}, warn () {}, error () {}, child () { return silentLogger },
}
