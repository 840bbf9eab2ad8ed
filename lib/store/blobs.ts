// Where object content lives: content-addressed blobs keyed by hex sha256. The embedded store
// keeps its metadata (commits, ranges, refs, staging) in its directory and its blobs behind this
// interface: a local directory (default) or an S3 bucket (lib/store/blobs-s3.ts).
//
// Contract: `put` is idempotent and atomic (a reader never sees a partial blob); keys are never
// overwritten with different bytes (they are the content's hash).

export type BlobSource =
  | { kind: 'file', file: string, size: number }
  | { kind: 'buffer', data: Buffer }

export interface BlobStore {
  /** for logs: never contains secrets */
  readonly description: string
  has (key: string): Promise<boolean>
  put (key: string, source: BlobSource): Promise<void>
  /** bytes [start, end) ; fewer only at the end of the blob; LK_OBJECT_NOT_FOUND when missing */
  getRange (key: string, start: number, end: number): Promise<Buffer>
  /** where the blob is, for ObjectStat.physicalAddress (a path or s3://bucket/key) */
  address (key: string): string
  delete (key: string): Promise<void>
  close (): Promise<void>
}
