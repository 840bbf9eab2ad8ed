// An S3Client configured the way every test talks to the test bed's S3 servers (see
// /work/shared/TESTBED.md): path-style addressing, us-east-1, and checksums only when the
// operation requires them — with the SDK defaults a stream body is sent aws-chunked with a
// trailer, which RGW answers with 411.

import { S3Client } from '@aws-sdk/client-s3'

// The SDK warns once per process that its 2027 releases need Node 22; in test output that is noise.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true'

export interface S3Endpoint {
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
  region?: string
}

export function makeS3Client (e: S3Endpoint, opts: { maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    endpoint: e.endpoint,
    region: e.region ?? 'us-east-1',
    credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: opts.maxAttempts ?? 3,
  })
}
