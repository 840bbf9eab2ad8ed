// lk-mount find lakefs://repo/<ref>[/<prefix>] --meta k=v [--meta k2=v2] [--json]
//
// Asks the daemon for one stretch of the listing at a time (`find` is paged, see
// lib/control/methods/find.ts) and prints matches as they arrive, so a search through millions of
// objects starts printing at once and never holds the whole listing in either process. Later
// pages name the commit the first page resolved, so the search reads one version throughout.

import type { CommandModule } from 'yargs'
import { LkError } from '../../lib/core/errors.js'
import { formatUri, parseUri } from '../../lib/core/uri.js'
import { METHODS } from '../../lib/control/methods/index.js'
import { connect, out, parseMeta, progressBar, targetOf, type GlobalArgs } from '../context.js'

export const findCommand: CommandModule<GlobalArgs, GlobalArgs & { uri: string, meta?: string[], 'page-size'?: number }> = {
  command: 'find <uri>',
  describe: METHODS.find.title,
  builder: (y) => y
    .positional('uri', { type: 'string', demandOption: true, describe: 'lakefs://<repo>/<ref>[/<prefix>]' })
    .option('meta', { type: 'string', array: true, describe: 'user metadata key=value the object must have (repeatable: all must match)' })
    .option('page-size', { type: 'number', describe: 'listing entries the daemon scans per request (default 10000)' })
    .example('$0 find lakefs://images/main/train --meta label=cat', 'objects under train/ whose metadata has label=cat')
    .example('$0 find lakefs://images/v3 --meta split=val --meta source=web --json', '')
    .epilog(METHODS.find.help + ' Output: one line per object, "<path>\\t<size>\\t<k=v,...>"; with --json a JSON array of object stats (written as it streams).'),
  handler: async (a) => {
    const meta = parseMeta(a.meta)
    if (meta === undefined) throw new LkError('LK_USAGE', 'find needs at least one --meta key=value')
    const pageSize = a['page-size']
    if (pageSize !== undefined && (!Number.isSafeInteger(pageSize) || pageSize < 1)) throw new LkError('LK_USAGE', '--page-size must be a positive integer')
    const uri = parseUri(a.uri)
    const bar = progressBar(!a.json)
    const c = await connect(a)
    let found = 0
    let scanned = 0
    try {
      let ref: string | undefined
      let after = ''
      for (;;) {
        const page = await c.request('find', {
          target: targetOf(a),
          uri: formatUri({ repo: uri.repo, ref: ref ?? uri.ref, path: uri.path }),
          meta,
          after,
          ...(pageSize === undefined ? {} : { scan: pageSize }),
        })
        // the array opens only once the first answer arrived: an error before it leaves stdout empty
        if (a.json && ref === undefined) process.stdout.write('[')
        ref = page.commit
        scanned += page.scanned
        for (const s of page.matches) {
          if (a.json) {
            process.stdout.write((found === 0 ? '\n' : ',\n') + JSON.stringify(s))
          } else {
            out(`${s.path}\t${s.size}\t${Object.entries(s.metadata).map(([k, v]) => `${k}=${v}`).join(',')}`)
          }
          found++
        }
        bar.onProgress({ phase: 'find', done: scanned, message: `${found} found` })
        if (!page.hasMore) break
        after = page.nextAfter
      }
      bar.done()
      if (a.json) process.stdout.write(found === 0 ? ']\n' : '\n]\n')
      else process.stderr.write(`${found} objects match (${scanned} scanned at commit ${ref.slice(0, 12)})\n`)
    } finally {
      bar.done()
      c.close()
    }
  },
}
