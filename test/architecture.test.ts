// The layer arrows of docs/design/architecture.md, enforced: every import in lib/, daemon/ and
// cli/ (the TypeScript sources) must follow an arrow of the table below. A failure names the file,
// the import and the rule; when a new folder or arrow is truly needed, draw it in
// docs/design/architecture.md first and then add it here.
//
// Units: `cli`, `daemon`, each `lib/<folder>`, each remote (`lib/remote/<name>`), and the
// contract files `lib/{remote,fs,fuse,manager}/types.ts` as their own units, so a layer can see a
// contract's types without seeing its implementation. A unit that may import `lib/X` may also
// import `lib/X/types`. Node builtins are allowed everywhere except where listed as forbidden.

import t from 'tap'
import ts from 'typescript'
import { builtinModules } from 'node:module'
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { dirname, join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

interface Rule {
  units: readonly string[]
  packages: readonly string[]
  forbiddenBuiltins?: readonly string[]
}

const CORE = 'lib/core'
const RT = 'lib/remote/types'

// The allowed arrows. Anything not listed is forbidden.
const LAYERS: Record<string, Rule> = {
  // the CLI knows only the control protocol
  'cli': { units: ['lib/control', 'lib/config', CORE], packages: ['yargs'] },
  // the composition root
  'daemon': {
    units: ['lib/manager', 'lib/control', 'lib/config', CORE, RT, 'lib/remote', 'lib/remote/local', 'lib/remote/lakefs', 'lib/remote/lakefs-config', 'lib/remote/faulty', 'lib/store', 'lib/server', 'lib/cache', 'lib/fs/types'],
    packages: ['yargs', 'yaml'],
  },
  'lib/control': { units: [CORE, RT, 'lib/manager/types', 'lib/fs/types'], packages: [] },
  // config.yaml and the credentials file, read by the daemon and by the CLI (doctor, fstab helper)
  'lib/config': { units: [CORE, 'lib/control'], packages: ['yaml'] },
  'lib/manager': {
    units: [CORE, 'lib/fuse', 'lib/fs', 'lib/sync', 'lib/commit', 'lib/cache', 'lib/staging', RT, 'lib/remote', 'lib/remote/local', 'lib/remote/lakefs', 'lib/remote/faulty'],
    packages: ['lru-cache', 'yaml'],
  },
  // the one fuse-native importer
  'lib/fuse': { units: [CORE, 'lib/fs'], packages: ['fuse-native'] },
  // the filesystem core: no FUSE, no sockets, no SDK
  'lib/fs': {
    units: [CORE, RT, 'lib/staging', 'lib/cache', 'lib/commit'],
    packages: ['lru-cache'],
    forbiddenBuiltins: ['net', 'http', 'https', 'http2', 'dgram', 'tls'],
  },
  // the one chokidar importer
  'lib/sync': { units: [CORE, RT, 'lib/staging', 'lib/commit', 'lib/cache'], packages: ['chokidar'] },
  'lib/commit': { units: [CORE, RT, 'lib/staging'], packages: [] },
  'lib/cache': { units: [CORE, RT], packages: ['lru-cache'] },
  'lib/staging': { units: [CORE, RT], packages: [] },
  [RT]: { units: [CORE], packages: [] },
  'lib/remote/local': { units: [CORE, RT, 'lib/store'], packages: [] },
  'lib/remote/lakefs': { units: [CORE, RT, 'lib/store', 'lib/lakefs-api', 'lib/remote/lakefs-config', 'lib/remote/http-get'], packages: ['@aws-sdk/client-s3', 'yaml', 'lru-cache'] },
  'lib/remote/http-get': { units: [], packages: [] },
  // where the lakeFS endpoint and credentials come from (flags, LAKECTL_* env, ~/.lakectl.yaml)
  'lib/remote/lakefs-config': { units: [CORE], packages: ['yaml'] },
  'lib/remote/faulty': { units: [CORE, RT], packages: [] },
  // any other file under lib/remote (an index choosing a remote)
  'lib/remote': { units: [CORE, RT, 'lib/remote/local', 'lib/remote/lakefs', 'lib/remote/lakefs-config', 'lib/remote/faulty'], packages: [] },
  // the embedded engine: shapes from the Remote contract, nothing above it
  'lib/store': { units: [CORE, RT], packages: ['@aws-sdk/client-s3', 'lru-cache'] },
  // serves the embedded store through its Remote face (LocalRemote), shaped by the generated API types
  'lib/server': { units: [CORE, RT, 'lib/store', 'lib/remote/local', 'lib/lakefs-api'], packages: [] },
  // types generated from the lakeFS OpenAPI spec (scripts/gen-lakefs-types.sh): imports nothing
  'lib/lakefs-api': { units: [], packages: [] },
  'lib/fs/types': { units: [CORE, RT], packages: [] },
  'lib/fuse/types': { units: [CORE, 'lib/fs/types'], packages: [] },
  'lib/manager/types': { units: [CORE, RT, 'lib/fs/types'], packages: [] },
  // the bottom: imports no lib/ folder and no package
  [CORE]: { units: [], packages: [] },
}

const TYPES_UNITS = new Set(Object.keys(LAYERS).filter(u => u.endsWith('/types')))
const BUILTINS = new Set(builtinModules.filter(m => !m.startsWith('_')))

/** the unit a repository-relative path (with '/' separators) belongs to */
export function unitOf (path: string): string {
  const parts = path.split('/')
  const top = parts[0] ?? ''
  if (top !== 'lib') return top
  const folder = parts[1] ?? ''
  if (parts.length === 2) return 'lib' // a file directly in lib/: not a layer
  const name = (parts[2] ?? '').replace(/\.(ts|js)$/, '')
  if (folder === 'remote') {
    const u = `lib/remote/${name}`
    return u in LAYERS ? u : 'lib/remote'
  }
  if (parts.length === 3 && name === 'types' && TYPES_UNITS.has(`lib/${folder}/types`)) return `lib/${folder}/types`
  return `lib/${folder}`
}

function packageOf (spec: string): string {
  const parts = spec.split('/')
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec)
}

function mayImport (from: string, to: string): boolean {
  if (from === to) return true
  const units = LAYERS[from]?.units ?? []
  if (units.includes(to)) return true
  // seeing a layer includes seeing its contract file
  if (TYPES_UNITS.has(to) && units.includes(to.slice(0, -'/types'.length))) return true
  // a folder's own contract file is part of it
  return TYPES_UNITS.has(to) && to === `${from}/types`
}

/** the violations of one import; `file` and the result are repository-relative */
export function checkImport (file: string, spec: string): string | undefined {
  const from = unitOf(file)
  const rule = LAYERS[from]
  if (rule === undefined) return `${file}: unit ${from} is not in the layer table (draw it in docs/design/architecture.md and test/architecture.test.ts)`
  if (spec.startsWith('.')) {
    const target = join(dirname(file), spec).split(sep).join('/')
    if (target.startsWith('..')) return `${file}: import ${spec} leaves the repository`
    const to = unitOf(target)
    if (!mayImport(from, to)) return `${file}: ${from} may not import ${to} (import '${spec}')`
    return undefined
  }
  const bare = spec.startsWith('node:') ? spec.slice(5) : spec
  const builtin = spec.startsWith('node:') || BUILTINS.has(bare.split('/')[0] ?? bare)
  if (builtin) {
    const mod = bare.split('/')[0] ?? bare
    if (rule.forbiddenBuiltins?.includes(mod) === true) return `${file}: ${from} may not use node:${mod} (import '${spec}')`
    return undefined
  }
  const pkg = packageOf(spec)
  if (!rule.packages.includes(pkg)) return `${file}: ${from} may not import the package ${pkg} (import '${spec}')`
  return undefined
}

/** every module specifier of a TypeScript source: static and dynamic imports, re-exports, require() */
export function importsOf (source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map(f => f.fileName)
}

export function checkSource (file: string, source: string): string[] {
  return importsOf(source).map(spec => checkImport(file, spec)).filter((v): v is string => v !== undefined)
}

function tsFiles (root: string, dir: string): string[] {
  const abs = join(root, dir)
  if (!existsSync(abs)) return []
  const out: string[] = []
  for (const e of readdirSync(abs, { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`
    if (e.isDirectory()) out.push(...tsFiles(root, rel))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel)
  }
  return out
}

// dist/test/architecture.test.js -> the repository root
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

t.test('the checker flags imports that break the arrows', async (t) => {
  const bad: Array<[string, string]> = [
    ['lib/fs/core.ts', 'fuse-native'],
    ['lib/fs/core.ts', '../fuse/index.js'],
    ['lib/fs/core.ts', 'node:net'],
    ['lib/fs/core.ts', '@aws-sdk/client-s3'],
    ['lib/manager/index.ts', 'fuse-native'],
    ['lib/manager/index.ts', 'chokidar'],
    ['daemon/main.ts', 'fuse-native'],
    ['lib/fuse/index.ts', 'chokidar'],
    ['cli/main.ts', '../lib/manager/index.js'],
    ['cli/commands/mount.ts', '../../lib/store/store.js'],
    ['cli/main.ts', 'fuse-native'],
    ['cli/main.ts', 'yaml'],
    ['lib/store/store.ts', '../remote/local.js'],
    ['lib/store/store.ts', '../manager/index.js'],
    ['lib/store/store.ts', '../cache/index.js'],
    ['lib/core/ids.ts', '../store/blobs.js'],
    ['lib/core/ids.ts', '../remote/types.js'],
    ['lib/core/log.ts', 'yaml'],
    ['lib/remote/types.ts', '../store/store.js'],
    ['lib/control/client.ts', '../manager/index.js'],
    ['lib/newlayer/x.ts', '../core/errors.js'],
    ['lib/commit/index.ts', '../../test/support/rgw.js'],
  ]
  for (const [file, spec] of bad) t.type(checkImport(file, spec), 'string', `${file} -> ${spec} is flagged`)
  const good: Array<[string, string]> = [
    ['lib/fuse/index.ts', 'fuse-native'],
    ['lib/fuse/index.ts', '../fs/types.js'],
    ['lib/sync/watch.ts', 'chokidar'],
    ['cli/main.ts', 'yargs/helpers'],
    ['cli/main.ts', '../lib/control/client.js'],
    ['cli/commands/mount.ts', '../../lib/core/uri.js'],
    ['cli/commands/mount.ts', '../main.js'],
    ['cli/main.ts', 'node:fs/promises'],
    ['lib/store/store.ts', '../remote/types.js'],
    ['lib/store/blobs-s3.ts', '@aws-sdk/client-s3'],
    ['lib/remote/local.ts', '../store/store.js'],
    ['lib/manager/index.ts', '../fuse/types.js'],
    ['lib/core/uri.ts', './ids.js'],
    ['lib/fs/types.ts', '../remote/types.js'],
  ]
  for (const [file, spec] of good) t.equal(checkImport(file, spec), undefined, `${file} -> ${spec} is allowed`)
  // the parser sees every form of import
  t.same(importsOf(`import a from 'fuse-native'\nimport type { B } from '../x.js'\nexport * from './y.js'\nconst c = await import('chokidar')\nconst d = require('yaml')\n`),
    ['fuse-native', '../x.js', './y.js', 'chokidar', 'yaml'])
  t.same(checkSource('lib/fs/core.ts', "import type { X } from '../fuse/types.js'\n").length, 1, 'a type-only import counts too')
})

t.test('every import in lib/, daemon/ and cli/ follows the arrows', async (t) => {
  const files = ['lib', 'daemon', 'cli'].flatMap(d => tsFiles(root, d))
  t.ok(files.includes('lib/core/errors.ts'), `found the sources under ${root}`)
  let imports = 0
  const violations: string[] = []
  for (const file of files) {
    const source = readFileSync(join(root, file), 'utf8')
    imports += importsOf(source).length
    violations.push(...checkSource(file, source))
  }
  t.comment(`${files.length} files, ${imports} imports checked`)
  t.same(violations, [], 'no import breaks docs/design/architecture.md')
})

