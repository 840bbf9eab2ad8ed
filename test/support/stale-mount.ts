// Leaves a *stale* FUSE mount behind on purpose: it mounts without fusermount's auto_unmount
// helper, so when a test kills it with SIGKILL the mount point stays in the mount table and
// answers ENOTCONN — what a daemon that crashed under an older setup (or whose helper was
// killed with it) leaves. Usage: node stale-mount.js <mountpoint> [subtype]; prints "mounted <pid>".

import Fuse from 'fuse-native'

const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: stale-mount.js <mountpoint>')
const fuse = new Fuse(dir, {
  getattr: (path, cb) => {
    if (path === '/') { cb(0, { mode: 0o40755, size: 0, uid: 0, gid: 0, nlink: 2, mtime: Date.now(), atime: Date.now(), ctime: Date.now() }); return }
    cb(-2)
  },
  readdir: (_path, cb) => { cb(0, []) },
}, { autoUnmount: false, force: false, mkdir: false, fsname: 'lk-stale-test', subtype: process.argv[3] ?? 'lk-stale' })
fuse.mount((err) => {
  if (err !== null && err !== undefined) { process.stderr.write(String(err) + '\n'); process.exit(1) }
  process.stdout.write(`mounted ${process.pid}\n`)
})
setInterval(() => {}, 1 << 30)
