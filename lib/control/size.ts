// Sizes as people write them on command lines: `50G`, `100M`, `1.5T`, `512k`, `4096`. Units are
// binary (K = 1024), as du and df print them; an optional `i` and `B` are accepted (`50GiB`).

import { LkError } from '../core/errors.js'

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4, P: 1024 ** 5 }

export function parseSize (s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)(?:i?[bB])?\s*$/.exec(s)
  if (m === null) throw new LkError('LK_USAGE', `invalid size ${JSON.stringify(s)}: write a number with an optional unit, e.g. 50G, 100M, 4096`)
  const n = Number(m[1]) * (UNITS[(m[2] ?? '').toUpperCase()] ?? 1)
  if (!Number.isFinite(n) || n < 1) throw new LkError('LK_USAGE', `invalid size ${JSON.stringify(s)}: must be at least one byte`)
  return Math.floor(n)
}

export function formatSize (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return i === 0 ? `${n} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`
}
