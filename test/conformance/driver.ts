// The conformance suite's view of a filesystem. Two runners implement it: one calls the
// FsCore directly (test/conformance/core-driver.ts), one uses node:fs and real tools on a real
// FUSE mount (test/conformance/fuse-driver.ts). The suite (test/conformance/suite.ts) only uses
// this interface, so both runners exercise the same bodies. Paths are relative to the mount root.
// Failures reject with an Error whose `code` is the errno name (ENOENT, EROFS, ...).

export interface DriverStat {
  isFile: boolean
  isDirectory: boolean
  size: number
  mtimeMs: number
  mode: number
}

export interface DriverHandle {
  read (len: number, pos: number): Promise<Buffer>
  write (data: Buffer, pos: number): Promise<number>
  truncate (size: number): Promise<void>
  sync (): Promise<void>
  close (): Promise<void>
}

export interface FsDriver {
  readonly name: 'core' | 'fuse'
  readFile (path: string): Promise<Buffer>
  writeFile (path: string, data: Buffer): Promise<void>
  appendFile (path: string, data: Buffer): Promise<void>
  /** flags as for fs.open: 'r', 'r+', 'w', 'wx', 'a' */
  open (path: string, flags: string): Promise<DriverHandle>
  stat (path: string): Promise<DriverStat>
  readdir (path: string): Promise<string[]>
  mkdir (path: string): Promise<void>
  rmdir (path: string): Promise<void>
  unlink (path: string): Promise<void>
  rename (from: string, to: string): Promise<void>
  truncate (path: string, size: number): Promise<void>
  getxattr (path: string, name: string): Promise<Buffer>
  setxattr (path: string, name: string, value: Buffer): Promise<void>
  listxattr (path: string): Promise<string[]>
  symlink (target: string, path: string): Promise<void>
  chmod (path: string, mode: number): Promise<void>
}
