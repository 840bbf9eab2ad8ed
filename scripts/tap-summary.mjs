#!/usr/bin/env node
// Counts the results tap wrote under .tap/test-results/ and prints one plain line,
// `N passed, N failed, N skipped`, which CI parses. Counted like tap's own summary: leaf test
// points (assertions and skipped/todo subtests, a wholly skipped file as one), not the points
// that close a subtest. A test file that failed without any failing point (a crash, a bad
// plan, a timeout) counts as one failure, so a broken file can never read as green. Exit status: 1 when anything failed.
//
// Usage: node scripts/tap-summary.mjs [results-dir] [tap-exit-status]
//   results-dir defaults to .tap/test-results; a non-zero tap exit status with no failure found
//   in the results (tap itself broke) still counts as one failure.

import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { Parser } from 'tap-parser'

const dir = process.argv[2] ?? '.tap/test-results'

function walk (d) {
  let out = []
  for (const name of readdirSync(d)) {
    const p = join(d, name)
    if (statSync(p).isDirectory()) out = out.concat(walk(p))
    else if (name.endsWith('.tap')) out.push(p)
  }
  return out
}

let passed = 0
let failed = 0
let skipped = 0
const failures = []

function count (parser, file, fileState) {
  parser.on('assert', (res) => {
    if (res.closingTestPoint) return
    if (res.skip !== false || res.todo !== false) skipped++
    else if (res.ok) passed++
    else { failed++; fileState.fails++; failures.push(`${file}: ${res.fullname}`) }
  })
  parser.on('child', (child) => { count(child, file, fileState) })
}

const durations = []
let files = []
try { files = walk(dir).sort() } catch { /* no results at all: reported below */ }
for (const file of files) {
  const name = relative(dir, file).replace(/\.tap$/, '')
  const parser = new Parser()
  const fileState = { fails: 0 }
  count(parser, name, fileState)
  let complete
  parser.on('complete', (r) => { complete = r })
  const text = readFileSync(file, 'utf8')
  parser.end(text)
  // the file's own last `# time=` line: how long it ran (the suite has a ~15 min budget)
  const time = [...text.matchAll(/^# time=([\d.]+)ms$/gm)].pop()?.[1]
  if (time !== undefined) durations.push([name, Number(time)])
  // a whole file skipped (`1..0 # reason`) counts as one skip, as in tap's own summary
  if (complete?.ok === true && complete.count === 0 && complete.plan.skipAll) skipped++
  // the parser's own final result also covers bail-outs, bad plans and missing plans
  if (complete === undefined || (!complete.ok && fileState.fails === 0)) {
    failed++
    failures.push(`${name}: the file failed without a failing test point (crash, timeout or bad plan)`)
  }
}
const tapStatus = Number(process.argv[3] ?? '0')
if (tapStatus !== 0 && failed === 0) {
  failed++
  failures.push(`tap exited with status ${tapStatus} but no result file shows a failure`)
}
if (files.length === 0) {
  failed++
  failures.push(`no TAP results found under ${dir}`)
}

if (durations.length > 0) {
  const slowest = durations.sort((a, b) => b[1] - a[1]).slice(0, 5)
  console.log('\nSlowest test files:')
  for (const [name, ms] of slowest) console.log(`  ${(ms / 1000).toFixed(1).padStart(7)} s  ${name}`)
}
if (failures.length > 0) {
  console.log('\nFailures:')
  for (const f of failures.slice(0, 50)) console.log(`  - ${f}`)
  if (failures.length > 50) console.log(`  ... and ${failures.length - 50} more`)
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exitCode = failed > 0 ? 1 : 0
