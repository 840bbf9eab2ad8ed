// An injectable clock: TTLs, timeouts and commit dates read time through it so tests can drive it.

export interface Clock {
  /** milliseconds since the epoch */
  now (): number
}

export const systemClock: Clock = { now: () => Date.now() }
