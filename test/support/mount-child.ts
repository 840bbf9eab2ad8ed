// A process that serves one MemFs mount and nothing else: tests kill it (kill -9) to check what a
// crashed daemon leaves behind. Usage: node mount-child.js <mountpoint>; prints "mounted <pid>".

import { mountFuse } from '../../lib/fuse/index.js'
import { MemFs } from './mem-fs.js'

const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: mount-child.js <mountpoint>')
const core = new MemFs({ files: { '/alive': 'yes' } })
await mountFuse(core, dir, { readOnly: false, immutable: false, fsName: 'lk-crash-test' })
process.stdout.write(`mounted ${process.pid}\n`)
// stay up until killed
setInterval(() => {}, 1 << 30)
