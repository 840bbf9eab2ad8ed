// Names, paths and URIs are validated once at the edges (lib/core/ids.ts, lib/core/uri.ts):
// what they accept, what they refuse, and with which catalogue code.

import t from 'tap'
import { repoName, branchName, tagName, refExpr, commitId, isCommitId, objectPath, pathPrefix, objectKey, keyPrefix, isMappablePath } from '../../lib/core/ids.js'
import { parseUri, formatUri } from '../../lib/core/uri.js'

const HEX64 = 'a'.repeat(40) + '0123456789abcdef0123456789'.slice(0, 24)

t.test('repository names', async (t) => {
  for (const ok of ['abc', 'images', 'my-repo-2', '0ab', 'a'.repeat(63)]) t.equal(repoName(ok), ok, ok)
  for (const bad of ['', 'ab', 'a'.repeat(64), 'Images', 'my_repo', '-repo', 'repo/x', 'répo', 'a b', 'a.b']) {
    t.throws(() => repoName(bad), { code: 'LK_BAD_NAME', exitCode: 2 }, JSON.stringify(bad))
  }
})

t.test('branch and tag names follow lakeFS', async (t) => {
  // lakeFS's branch rule ^\w[-\w]*$ (ASCII \w, as in Go)
  for (const ok of ['main', 'exp-42', 'exp-lr-0_1', 'A', '_x', 'x-', HEX64]) {
    t.equal(branchName(ok), ok, ok)
    t.equal(tagName(ok), ok, `tag ${ok}`)
  }
  for (const bad of ['', '-main', '.hidden', 'exp-lr-0.1', 'feature/new-loader', 'v1.0', 'a b', 'a~1', 'é', 'a\0b']) {
    t.throws(() => branchName(bad), { code: 'LK_BAD_NAME', message: /letters, digits, "_" and "-"/ }, `branch ${JSON.stringify(bad)}`)
  }
  // lakeFS's tag rule (git's check-ref-format without '/'); '~' starts a ref expression here
  for (const ok of ['v1.0', 'release_2026.11', '-x', 'é', 'a@b']) t.equal(tagName(ok), ok, `tag ${ok}`)
  for (const bad of ['', '@', 'a..b', 'a/b', 'a.', 'x.lock', 'a b', 'a~1', 'a^', 'a:b', 'a?', 'a*', 'a[', 'a\\b', 'a@{1', 'a\0b', 'tab\t']) {
    t.throws(() => tagName(bad), { code: 'LK_BAD_NAME', message: /tag names/ }, `tag ${JSON.stringify(bad)}`)
  }
  // names lk-mount created before it followed lakeFS stay usable as refs (read, merge from, delete)
  for (const old of ['feature/x', 'exp-lr-0.1']) t.equal(refExpr(old), old, `legacy ${old}`)
})

t.test('ref expressions', async (t) => {
  for (const ok of ['main', 'main~2', 'main~', 'main^', 'main^^', 'v1.0~3^', 'feature/x~1', HEX64, `${HEX64}~1`]) t.equal(refExpr(ok), ok, ok)
  for (const bad of ['', '~2', '^', 'main~2x', 'ma~in', 'a..b', 'a b~1', 'main~-1']) {
    t.throws(() => refExpr(bad), { code: 'LK_BAD_NAME' }, JSON.stringify(bad))
  }
})

t.test('commit ids', async (t) => {
  t.equal(commitId(HEX64), HEX64)
  t.ok(isCommitId(HEX64))
  for (const bad of ['', HEX64.slice(1), HEX64 + '0', HEX64.toUpperCase(), 'g'.repeat(64), 'main']) {
    t.notOk(isCommitId(bad), JSON.stringify(bad))
    t.throws(() => commitId(bad), { code: 'LK_BAD_NAME' })
  }
})

t.test('object paths', async (t) => {
  for (const ok of ['a', 'train/cat/001.jpg', 'a b/c d', '.hidden', 'a/.b/c..d', '...', 'ü/日本', 'x'.repeat(1024)]) t.equal(objectPath(ok), ok, JSON.stringify(ok))
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['/a', /starts with "\/"/],
    ['/', /starts with "\/"/],
    ['a/../b', /"\.\." segment/],
    ['..', /"\.\." segment/],
    ['a/..', /"\.\." segment/],
    ['./a', /"\." segment/],
    ['a/./b', /"\." segment/],
    ['a//b', /empty segment/],
    ['a/', /empty segment/],
    ['a\0b', /NUL/],
    ['x'.repeat(1025), /1024 bytes/],
    ['é'.repeat(513), /1024 bytes/],
  ]
  for (const [p, why] of bad) t.throws(() => objectPath(p), { code: 'LK_BAD_PATH', errno: 'EINVAL', message: why }, JSON.stringify(p.slice(0, 20)))
  t.equal(objectPath('a/b/', { allowDirectory: true }), 'a/b/', 'directory form')
  t.throws(() => objectPath('a//', { allowDirectory: true }), { code: 'LK_BAD_PATH' })
  t.throws(() => objectPath('/', { allowDirectory: true }), { code: 'LK_BAD_PATH' })
  t.equal(objectPath('', { allowEmpty: true }), '')
})

t.test('listing prefixes', async (t) => {
  for (const ok of ['', 'a', 'a/', 'train/ca', 'a/b/']) t.equal(pathPrefix(ok), ok, JSON.stringify(ok))
  for (const bad of ['/a', '/', 'a/../b', '..', './', 'a\0', 'a//b', '//', 'x'.repeat(1025)]) {
    t.throws(() => pathPrefix(bad), { code: 'LK_BAD_PATH' }, JSON.stringify(bad.slice(0, 20)))
  }
})

t.test('lakefs:// URIs', async (t) => {
  t.same(parseUri('lakefs://repo', { ref: 'optional' }), { repo: 'repo', ref: undefined, path: '' })
  t.same(parseUri('lakefs://repo', { ref: 'forbidden' }), { repo: 'repo', ref: undefined, path: '' })
  t.same(parseUri('lakefs://repo/main'), { repo: 'repo', ref: 'main', path: '' })
  t.same(parseUri('lakefs://repo/main/'), { repo: 'repo', ref: 'main', path: '' })
  t.same(parseUri('lakefs://repo/main/a/b/'), { repo: 'repo', ref: 'main', path: 'a/b/' })
  t.same(parseUri('lakefs://repo/main/a/b.txt', { path: 'required' }), { repo: 'repo', ref: 'main', path: 'a/b.txt' })
  t.same(parseUri('lakefs://repo/main~2/x'), { repo: 'repo', ref: 'main~2', path: 'x' })
  t.same(parseUri(`lakefs://repo/${HEX64}/x`), { repo: 'repo', ref: HEX64, path: 'x' })
  // like lakectl, the ref is the first segment: a branch with '/' cannot be named in a URI
  t.same(parseUri('lakefs://repo/feature/x/y'), { repo: 'repo', ref: 'feature', path: 'x/y' })

  const bad: Array<[string, Parameters<typeof parseUri>[1], string]> = [
    ['s3://repo/main', {}, 'LK_BAD_URI'],
    ['lakefs:/repo/main', {}, 'LK_BAD_URI'],
    ['LAKEFS://repo/main', {}, 'LK_BAD_URI'],
    ['http://repo/main', {}, 'LK_BAD_URI'],
    ['repo/main', {}, 'LK_BAD_URI'],
    ['', {}, 'LK_BAD_URI'],
    ['lakefs://', { ref: 'optional' }, 'LK_BAD_URI'],
    ['lakefs:///main', {}, 'LK_BAD_URI'],
    ['lakefs://repo', {}, 'LK_BAD_URI'],
    ['lakefs://repo/', {}, 'LK_BAD_URI'],
    ['lakefs://repo/main', { ref: 'forbidden' }, 'LK_BAD_URI'],
    ['lakefs://repo/main/a', { path: 'forbidden' }, 'LK_BAD_URI'],
    ['lakefs://repo/main', { path: 'required' }, 'LK_BAD_URI'],
    ['lakefs://repo/main/a/', { path: 'required' }, 'LK_BAD_URI'],
    ['lakefs://repo//a', { ref: 'optional' }, 'LK_BAD_URI'],
    ['lakefs://repo//a', {}, 'LK_BAD_URI'],
    ['lakefs://Repo/main', {}, 'LK_BAD_NAME'],
    ['lakefs://re/main', {}, 'LK_BAD_NAME'],
    ['lakefs://repo/a b', {}, 'LK_BAD_NAME'],
    ['lakefs://repo/a..b', {}, 'LK_BAD_NAME'],
    ['lakefs://repo/main/../x', {}, 'LK_BAD_PATH'],
    ['lakefs://repo/main/a/../../x', {}, 'LK_BAD_PATH'],
    ['lakefs://repo/main//x', {}, 'LK_BAD_PATH'],
    ['lakefs://repo/main/a//x', {}, 'LK_BAD_PATH'],
    ['lakefs://repo/main/a\0b', {}, 'LK_BAD_PATH'],
    ['lakefs://repo/main/./x', {}, 'LK_BAD_PATH'],
  ]
  for (const [uri, want, code] of bad) t.throws(() => parseUri(uri, want), { code }, `${JSON.stringify(uri)} ${JSON.stringify(want)}`)
})

t.test('formatUri round-trips', async (t) => {
  t.equal(formatUri({ repo: 'repo' }), 'lakefs://repo')
  t.equal(formatUri({ repo: 'repo', ref: 'main' }), 'lakefs://repo/main')
  t.equal(formatUri({ repo: 'repo', ref: 'main', path: 'a/b/' }), 'lakefs://repo/main/a/b/')
  for (const uri of ['lakefs://repo/main', 'lakefs://repo/main~1/a/b.txt', 'lakefs://repo/v1.0/dir/']) {
    const u = parseUri(uri)
    t.equal(formatUri(u), uri, uri)
  }
})

t.test('object keys follow lakeFS: any non-empty key of at most 1024 bytes', async (t) => {
  for (const ok of ['dir/', 'a//b', '/abs', '../x', 'a/./b', 'x'.repeat(1024)]) {
    t.equal(objectKey(ok), ok, JSON.stringify(ok.slice(0, 20)))
    t.equal(keyPrefix(ok), ok)
  }
  for (const bad of ['', 'a\0b', 'x'.repeat(1025)]) t.throws(() => objectKey(bad), { code: 'LK_BAD_PATH' }, JSON.stringify(bad.slice(0, 20)))
  t.equal(keyPrefix(''), '')
  // what a mount or sync can map to a file under its root
  for (const p of ['a', 'train/x.jpg']) t.ok(isMappablePath(p), p)
  for (const p of ['dir/', 'a//b', '/abs', '../x', 'a/./b', '..']) t.notOk(isMappablePath(p), p)
})
