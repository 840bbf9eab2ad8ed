// Versions that the handshake compares. PROTOCOL_VERSION changes whenever a message or a method's
// params/result change incompatibly; the package version is informational (shown by `status`).

import { readFileSync } from 'node:fs'

export const PROTOCOL_VERSION = 1

function readPackageVersion (): string {
  // dist/lib/control/version.js -> package.json three levels up; the source tree has the same
  // depth relative to the repository root, so both layouts resolve it.
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown, version?: unknown }
      if (pkg.name === 'lk-mount' && typeof pkg.version === 'string') return pkg.version
    } catch { /* try the next layout */ }
  }
  return '0.0.0-unknown'
}

export const PACKAGE_VERSION = readPackageVersion()
