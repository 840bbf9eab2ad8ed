#!/usr/bin/env bash
# lk-mount on a GPU node that has PyTorch but no Node.js and no libfuse: PyTorch DataLoader
# epochs (8 workers) from an lk-mount mount vs the same files on local disk.
#
#   bench/gpu-node.sh pack [BUNDLE.tar.gz]   on a build machine (Node 20, built project): makes a
#                                            bundle with the node binary, dist/, the production
#                                            node_modules and these scripts
#   bench/gpu-node.sh run [options]          on the GPU node, inside the unpacked bundle, as root
#       --files N      samples in the demo dataset (default 20000)
#       --size BYTES   bytes per sample (default 102400)
#       --classes N    class directories (default 10)
#       --workers N    DataLoader workers (default 8)
#       --uri URI      mount this lakefs:// URI instead of importing a demo dataset (with a lakeFS
#                      endpoint in LAKECTL_* variables the daemon uses that server); local disk
#                      is then skipped unless --local DIR names a copy of the same files
#       --out FILE     results JSON (default ./gpu-node-results.json)
#
# How it runs without installing anything (see /work/shared/DESIGN.md, "Measured on a GPU node"):
# fuse-native loads libfuse.so.2, which the node lacks; the npm package fuse-shared-library-linux
# ships a libfuse.so built from libfuse 2, so a symlink libfuse.so.2 -> that file in a directory
# on LD_LIBRARY_PATH satisfies the loader, and the package's bundled fusermount goes on PATH for
# unmounting. The daemon runs with a private LK_MOUNT_HOME and is stopped with SIGTERM (a
# background process of a non-interactive shell ignores SIGINT). Everything started is stopped
# and every mount detached on exit, also on failure.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

pack() {
  local out=${1:-$PWD/lk-mount-gpu-bundle.tar.gz}
  command -v node >/dev/null || { echo "pack needs node on PATH" >&2; exit 1; }
  cd "$here"
  [ -f dist/daemon/main.js ] || npx tsc -p .
  local stage
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' RETURN
  mkdir -p "$stage/lk-mount/bin" "$stage/lk-mount/bench"
  cp "$(command -v node)" "$stage/lk-mount/bin/node"
  cp -r dist package.json "$stage/lk-mount/"
  cp bench/gpu-node.sh bench/gpu_dataloader.py "$stage/lk-mount/bench/"
  # production dependencies only (tap and typescript stay behind): the closure of package.json's
  # "dependencies" over the flat node_modules (a package's own nested node_modules go with it)
  local dep
  node -e '
    const fs = require("fs"), path = require("path")
    const root = process.argv[1], seen = new Set()
    const visit = (name, from) => {
      for (let d = from; ; d = path.dirname(d)) {
        const dir = path.join(d, "node_modules", name)
        if (fs.existsSync(path.join(dir, "package.json"))) {
          const rel = path.relative(root, dir)
          if (seen.has(rel)) return
          seen.add(rel)
          const pj = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"))
          for (const n of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) visit(n, dir)
          return
        }
        if (d === root || d === path.dirname(d)) return
      }
    }
    const pj = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
    for (const n of Object.keys(pj.dependencies ?? {})) visit(n, root)
    console.log([...seen].filter(r => !r.startsWith("..")).join("\n"))
  ' "$here" | while read -r dep; do
    mkdir -p "$stage/lk-mount/$(dirname "$dep")"
    cp -rL "$here/$dep" "$stage/lk-mount/$dep"
  done
  tar -C "$stage" -czf "$out" lk-mount
  echo "bundle: $out ($(du -h "$out" | cut -f1)); on the GPU node: tar xzf $(basename "$out") && cd lk-mount && bench/gpu-node.sh run"
}

run_bench() {
  local files=20000 size=102400 classes=10 workers=8 uri='' localdir='' out=$PWD/gpu-node-results.json
  while [ $# -gt 0 ]; do
    case "$1" in
      --files) files=$2; shift 2 ;;
      --size) size=$2; shift 2 ;;
      --classes) classes=$2; shift 2 ;;
      --workers) workers=$2; shift 2 ;;
      --uri) uri=$2; shift 2 ;;
      --local) localdir=$2; shift 2 ;;
      --out) out=$2; shift 2 ;;
      *) echo "unknown option $1" >&2; exit 2 ;;
    esac
  done
  [ "$(id -u)" = 0 ] || { echo "run as root (mounting with the bundled fusermount needs it)" >&2; exit 1; }
  [ -e /dev/fuse ] || { echo "/dev/fuse is missing: FUSE mounts cannot work here" >&2; exit 1; }
  python3 -c 'import torch' 2>/dev/null || { echo "python3 with torch is needed" >&2; exit 1; }

  local node=$here/bin/node
  [ -x "$node" ] || node=$(command -v node || true)
  [ -n "$node" ] || { echo "no node binary: run from an unpacked bundle (bench/gpu-node.sh pack)" >&2; exit 1; }
  local fuselib=$here/node_modules/fuse-shared-library-linux/libfuse
  [ -f "$fuselib/lib/libfuse.so" ] || { echo "missing $fuselib/lib/libfuse.so (is fuse-shared-library-linux in the bundle?)" >&2; exit 1; }

  local work
  work=$(mktemp -d /tmp/lk-gpu-bench.XXXXXX)
  mkdir -p "$work/lib" "$work/home" "$work/mnt"
  ln -s "$fuselib/lib/libfuse.so" "$work/lib/libfuse.so.2"
  export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PATH="$fuselib/bin:$PATH"
  export LK_MOUNT_HOME=$work/home
  local lk=("$node" "$here/dist/cli/main.js")
  local daemon_pid='' mounted=''

  cleanup() {
    set +e
    if [ -n "$mounted" ] && grep -qs " $mounted fuse" /proc/mounts; then
      "${lk[@]}" umount "$mounted" --discard >/dev/null 2>&1 || fusermount -u "$mounted" 2>/dev/null || fusermount -uz "$mounted"
    fi
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
      kill -TERM "$daemon_pid"
      for _ in $(seq 1 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$daemon_pid" 2>/dev/null && kill -KILL "$daemon_pid"
    fi
    rm -rf "$work"
  }
  trap cleanup EXIT

  "$node" "$here/dist/daemon/main.js" --foreground >"$work/daemon.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 1 100); do
    "${lk[@]}" status --json >/dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || { echo "the daemon died:" >&2; cat "$work/daemon.log" >&2; exit 1; }
    sleep 0.1
  done

  if [ -z "$uri" ]; then
    # the demo dataset: random samples in class directories (the shape of an ImageFolder)
    localdir=$work/local
    python3 - "$localdir" "$files" "$size" "$classes" <<'PY'
import os, sys
root, n, size, classes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    d = os.path.join(root, 'train', f'class{i % classes:03d}')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f'sample{i:07d}.bin'), 'wb') as f:
        f.write(os.urandom(size))
PY
    "${lk[@]}" repo create gpubench --default-branch main >/dev/null
    "${lk[@]}" import "$localdir" lakefs://gpubench/main -m "GPU node benchmark dataset" >/dev/null
    uri=lakefs://gpubench/main
  fi

  evict() { # drop a tree's files from the page cache, so local epoch 1 is cold
    python3 - "$1" <<'PY'
import os, sys
for d, _, fs in os.walk(sys.argv[1]):
    for f in fs:
        fd = os.open(os.path.join(d, f), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
  }

  local results=()
  if [ -n "$localdir" ]; then
    evict "$localdir"
    results+=("local $(python3 "$here/bench/gpu_dataloader.py" "$localdir/train" --workers "$workers" --epochs 2)")
  fi
  # a fresh mount with a fresh cache: epoch 1 is cold, epoch 2 warm
  "${lk[@]}" mount "$uri" "$work/mnt" --cache-dir "$work/cache" >/dev/null
  mounted=$work/mnt
  local root=$work/mnt
  [ -d "$root/train" ] && root=$root/train
  results+=("lk-mount $(python3 "$here/bench/gpu_dataloader.py" "$root" --workers "$workers" --epochs 2)")
  "${lk[@]}" umount "$work/mnt" >/dev/null
  mounted=''

  python3 - "$out" "$uri" "${results[@]}" <<'PY'
import json, sys
out, uri = sys.argv[1], sys.argv[2]
rows = []
for arg in sys.argv[3:]:
    kind, text = arg.split(' ', 1)
    r = json.loads(text)
    rows.append({'system': kind, 'uri': uri if kind == 'lk-mount' else None, **r})
json.dump({'runs': rows}, open(out, 'w'), indent=2)
print('| system | files | workers | device | epoch 1 samples/s | epoch 2 samples/s |')
print('|---|---|---|---|---|---|')
for r in rows:
    e = r['epochs']
    print(f"| {r['system']} | {r['files']} | {r['workers']} | {r['device']} | {e[0]['samples_per_s']:.0f} | {e[1]['samples_per_s']:.0f} |")
loc = next((r for r in rows if r['system'] == 'local'), None)
lk = next((r for r in rows if r['system'] == 'lk-mount'), None)
if loc and lk:
    for i in range(2):
        print(f"epoch {i + 1}: lk-mount / local = {lk['epochs'][i]['samples_per_s'] / loc['epochs'][i]['samples_per_s']:.2f}")
print('results:', out)
PY
}

case "${1:-}" in
  pack) shift; pack "$@" ;;
  run) shift; run_bench "$@" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
