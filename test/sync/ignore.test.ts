// The .lkignore matcher (gitignore's common subset) and --include/--exclude.

import t from 'tap'
import { IgnoreRules, PathFilter } from '../../lib/sync/ignore.js'

t.test('gitignore subset', async t => {
  const r = new IgnoreRules([
    '# a comment',
    '',
    '*.log',
    '!important.log',
    'build/',
    '/root-only.txt',
    'docs/*.md',
    '**/tmp',
    'a/**/z',
    'cache/**',
    'file?.txt',
    'img[0-9].png',
    '\\#hash',
    'trailing.txt   ',
  ].join('\n'))
  const cases: Array<[string, boolean, boolean?]> = [
    ['x.log', true], ['deep/er/x.log', true], ['important.log', false], ['deep/important.log', false],
    ['build', true, true], ['build', false], ['build/out.o', true], ['src/build/out.o', true],
    ['root-only.txt', true], ['sub/root-only.txt', false],
    ['docs/a.md', true], ['docs/sub/a.md', false], ['other/docs/a.md', false],
    ['tmp', true], ['x/y/tmp', true], ['x/y/tmp/f', true],
    ['a/z', true], ['a/b/c/z', true], ['b/a/z', false],
    ['cache/x', true], ['cache/x/y', true], ['cache', false],
    ['file1.txt', true], ['file12.txt', false], ['file/.txt', false],
    ['img3.png', true], ['imgx.png', false],
    ['#hash', true],
    ['trailing.txt', true],
    ['keep.txt', false],
  ]
  for (const [p, want, dir] of cases) t.equal(r.ignores(p, dir === true), want, `${p}${dir === true ? '/' : ''} -> ${want ? 'ignored' : 'kept'}`)
})

t.test('a negation cannot re-include a file inside an ignored directory', async t => {
  const r = new IgnoreRules('out/\n!out/keep.txt\n')
  t.equal(r.ignores('out/keep.txt'), true)
  const r2 = new IgnoreRules('out/*\n!out/keep.txt\n')
  t.equal(r2.ignores('out/keep.txt'), false, 'but out/* with a negation does re-include')
  t.equal(r2.ignores('out/other.txt'), true)
})

t.test('include, exclude and partial downloads', async t => {
  const f = new PathFilter({ lkignore: '*.tmp\n', include: ['train/**', '*.json'], exclude: ['train/bad/'] })
  t.equal(f.ignored('train/a.jpg'), false)
  t.equal(f.ignored('meta.json'), false)
  t.equal(f.ignored('x/meta.json'), false)
  t.equal(f.ignored('val/a.jpg'), true, 'not included')
  t.equal(f.ignored('val', true), false, 'directories stay walkable (include may match inside)')
  t.equal(f.ignored('train/bad/a.jpg'), true, 'excluded')
  t.equal(f.ignored('train/x.tmp'), true, '.lkignore')
  t.equal(f.ignored('train/.a.jpg.lk-partial-1a2b3c4d'), true, 'partial downloads are never synced')
  t.equal(f.ignored('.lkignore'), false, 'the ignore file itself is synced')
})
