#!/usr/bin/env bash
# The README's main job: set everything up on a fresh Debian 12 + Node 20 machine, create a demo
# repository in the embedded store with a small image-like dataset, branch it, and mount the
# branch (writable) at ./mnt/demo. Safe to run again: existing pieces are reused.
#
#   scripts/demo.sh [MOUNTPOINT]        (default: ./mnt/demo)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
lk() { ./bin/lk-mount "$@"; }

mnt=${1:-$PWD/mnt/demo}
repo=demo
if ! lk repo list --json | grep -q "\"$repo\""; then
  lk repo create "$repo" --default-branch main
  data=$(mktemp -d)
  trap 'rm -rf "$data"' EXIT
  # 3 classes x 40 "images" of random bytes, and a labels file: the shape of an ImageFolder dataset
  for cls in cat dog fox; do
    mkdir -p "$data/train/$cls"
    for i in $(seq -w 1 40); do head -c $((20000 + RANDOM)) /dev/urandom >"$data/train/$cls/img_$i.bin"; done
  done
  (cd "$data" && find train -type f | sort | awk -F/ '{print $0","$2}') >"$data/labels.csv"
  lk import "$data" "lakefs://$repo/main" -m "Import the demo dataset" --meta source=scripts/demo.sh
fi
lk branch list "lakefs://$repo" --json | grep -q '"exp-1"' || \
  lk branch create "lakefs://$repo/exp-1" --source "lakefs://$repo/main"

if grep -qs " $mnt fuse" /proc/mounts; then
  echo "already mounted at $mnt"
else
  mkdir -p "$mnt"
  lk mount "lakefs://$repo/exp-1" "$mnt" --write -m "Outputs of the demo" --meta job=demo
fi
lk status "$mnt"
echo
echo "The branch exp-1 of lakefs://$repo is mounted at $mnt:"
ls "$mnt" "$mnt/train"
cat <<EOT

Try:  ls $mnt/train/cat | head;  echo hello > $mnt/outputs.txt
      ./bin/lk-mount diff $mnt                  (staged changes)
      ./bin/lk-mount umount $mnt                (commits them as one commit)
      ./bin/lk-mount log lakefs://$repo/exp-1   (the commit, with its metadata)
EOT
