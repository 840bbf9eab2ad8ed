#!/usr/bin/env bash
# Prepares a checkout to run lk-mount (and, with --test, its test suite) on Debian 12 + Node 20.
#
# Idempotent and quiet when there is nothing to do, so CI and `scripts/test.sh` can call it on
# every run. It:
#   1. installs missing Debian packages (apt-get update only when something is missing):
#        always:      libfuse2 (fuse-native's addon loads libfuse.so.2), fuse3 (fusermount),
#                     attr (getfattr/setfattr for the xattr tests), python3
#        with --test: radosgw ceph-mon ceph-osd (a single-node Ceph RGW for the S3 tests),
#                     python3-pydantic python3-urllib3 python3-dateutil python3-typing-extensions
#                     (lakeFS's own Python clients, ../shared/vendor/lakefs-python, in test/lakefs/sdk.test.ts)
#        with --bench: those and rclone s3fs (the peers the benchmark suite compares with)
#      Never the Debian package `fuse`: it conflicts with fuse3.
#   2. runs `npm ci` when node_modules is missing or package-lock.json changed since the last
#      install (a stamp in node_modules records the lockfile's hash),
#   3. checks that fuse-native's native addon really loads (npm may skip install scripts and
#      still exit 0), and fails with a fix-it message when it does not,
#   4. runs `npm run build`.
#
# Options: --test (test packages too), --bench (test and benchmark packages), --no-build,
# --force-npm (npm ci even when up to date).

set -euo pipefail

want_test=0
want_bench=0
build=1
force_npm=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --bench) want_test=1; want_bench=1 ;;
    --no-build) build=0 ;;
    --force-npm) force_npm=1 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { echo "setup: $*"; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

# ---- 1. Debian packages -------------------------------------------------------------------------

packages=(libfuse2 fuse3 attr python3)
if [ "$want_test" = 1 ]; then packages+=(radosgw ceph-mon ceph-osd python3-pydantic python3-urllib3 python3-dateutil python3-typing-extensions); fi
if [ "$want_bench" = 1 ]; then packages+=(rclone s3fs); fi

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
else
  say "dpkg-query not found: not a Debian system, skipping package checks (need: ${packages[*]})"
fi

if [ "${#missing[@]}" -gt 0 ]; then
  # the old `fuse` package (FUSE 2 tools) conflicts with fuse3: apt would refuse or remove it
  if [[ " ${missing[*]} " == *" fuse3 "* ]] && installed fuse; then
    die "the Debian package 'fuse' is installed and conflicts with fuse3; remove it first: apt-get remove -y fuse (libfuse2 stays)"
  fi
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "missing Debian packages: ${missing[*]}; run this script as root or install them: apt-get install -y ${missing[*]}"
    sudo=(sudo)
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_log=$(mktemp)
  trap 'rm -f "$apt_log"' EXIT
  # apt's chatter goes to a log that is shown only when it fails
  # wait for a dpkg lock held by another apt run instead of failing at once
  apt=("${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 -qq)
  if ! { "${apt[@]}" update && "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    die "installing ${missing[*]} failed (apt's output above)"
  fi
fi

# ---- 2. npm ci ----------------------------------------------------------------------------------

command -v node >/dev/null 2>&1 || die "node not found: install Node.js 20 (>= 20.19)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node -v) is too old: lk-mount needs Node.js 20 (>= 20.19)"

stamp=node_modules/.lk-mount-setup.sha256
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -L node_modules ] && [ "$force_npm" = 0 ]; then
  # A linked, shared install (development worktrees): npm ci would wipe the shared copy.
  :
elif [ "$force_npm" = 1 ] || [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_hash" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed"
  echo "$lock_hash" > "$stamp"
fi

# ---- 3. fuse-native's native addon --------------------------------------------------------------

if ! err=$(node -e "require('fuse-native')" 2>&1); then
  cat >&2 <<EOF
setup: ERROR: fuse-native's native addon does not load:
$(echo "$err" | grep -E 'Error|loaded from|cannot open' | head -n 4 | sed 's/^ */    /')
  Fix:
    - libfuse.so.2 missing:  apt-get install -y libfuse2 fuse3   (not the 'fuse' package)
    - addon not built (npm skipped install scripts):
        npm rebuild fuse-native --foreground-scripts
    - then run scripts/setup.sh again.
EOF
  exit 1
fi

# the addon loads without /dev/fuse, but nothing can be mounted: say so once, do not fail (sync
# mode and the non-FUSE tests still work)
if [ ! -c /dev/fuse ]; then
  say "warning: /dev/fuse is missing: FUSE mounts (and their tests) cannot work here; lk-mount sync still does"
fi

# ---- 4. build -----------------------------------------------------------------------------------

if [ "$build" = 1 ]; then
  # tsc never deletes outputs: drop compiled files whose source is gone, so a removed test
  # cannot keep running from dist/
  if [ -d dist ]; then
    while IFS= read -r js; do
      src=${js#dist/}; src=${src%.js}.ts
      [ -e "$src" ] || rm -f "$js" "$js.map"
    done < <(find dist -name '*.js' -type f)
  fi
  npm run --silent build || die "npm run build failed (tsc errors above)"
fi
