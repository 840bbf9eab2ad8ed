// lib/fs: the FUSE-free filesystem core. `openMountSession` wires one mounted ref together: the
// pinned commit (lib/fs/base.ts), the shared content cache (lib/cache), the staging journal
// (lib/staging) and the commit protocol (lib/commit). It knows no FUSE, no socket and no SDK;
// the FUSE adapter (lib/fuse) and the conformance suite (test/conformance) drive it through the
// FsCore surface in ./types.ts. Semantics are documented in docs/SEMANTICS.md.

export { openMountSession, CONTROL_FILE, ROOT_XATTRS, type OpenMountOptions } from './session.js'
export type { Attr, FsCore, MountSession, MountIdentity, MountStats, MountCommitOptions, StatFs } from './types.js'
