#!/usr/bin/env python3
"""Readers for the lk-mount benchmark suite (bench/suite.ts runs them as child processes).

Each subcommand prints one JSON line. The epoch reader behaves like a DataLoader worker pool:
the file list is made once (the dataset's index), then every file is opened, read whole and
closed, split over N worker processes; only the reads are timed.

  reader.py seq FILE                     sequential read in 1 MiB chunks
  reader.py epochs ROOT WORKERS EPOCHS   read every file under ROOT, EPOCHS times
  reader.py evict ROOT                   drop ROOT's files from the page cache (fadvise)
  reader.py write SRC DST                copy every file of SRC into DST (a write workload)
"""
import json
import multiprocessing as mp
import os
import sys
import time

CHUNK = 1 << 20


def list_files(root):
    paths = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        paths += [os.path.join(d, f) for f in sorted(files)]
    return paths


def seq(path):
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    n = 0
    t0 = time.perf_counter()
    with open(path, 'rb', buffering=0) as f:
        while True:
            k = f.readinto(view)
            if not k:
                break
            n += k
    return {'bytes': n, 'secs': time.perf_counter() - t0}


def read_share(paths, out):
    n = 0
    for p in paths:
        # a plain buffered open, as a dataset's __getitem__ would do it
        with open(p, 'rb') as f:
            n += len(f.read())
    out.put(n)


def epochs(root, workers, count):
    paths = list_files(root)
    result = {'files': len(paths), 'epochs': []}
    for _ in range(count):
        t0 = time.perf_counter()
        if workers == 1:
            q = mp.SimpleQueue()
            read_share(paths, q)
            total = q.get()
        else:
            q = mp.SimpleQueue()
            procs = [mp.Process(target=read_share, args=(paths[i::workers], q)) for i in range(workers)]
            for p in procs:
                p.start()
            total = sum(q.get() for _ in procs)
            for p in procs:
                p.join()
        secs = time.perf_counter() - t0
        result['epochs'].append({'secs': secs, 'bytes': total, 'files_per_s': len(paths) / secs})
    return result


def evict(root):
    n = 0
    for p in list_files(root):
        fd = os.open(p, os.O_RDONLY)
        try:
            # dirty pages are not dropped: write them back first (the dataset was just made)
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        n += 1
    return {'evicted': n}


def write(src, dst):
    paths = list_files(src)
    n = 0
    t0 = time.perf_counter()
    for p in paths:
        rel = os.path.relpath(p, src)
        target = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(p, 'rb') as f:
            data = f.read()
        with open(target, 'wb') as f:
            f.write(data)
        n += len(data)
    return {'files': len(paths), 'bytes': n, 'secs': time.perf_counter() - t0}


def main():
    cmd = sys.argv[1]
    if cmd == 'seq':
        out = seq(sys.argv[2])
    elif cmd == 'epochs':
        out = epochs(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == 'evict':
        out = evict(sys.argv[2])
    elif cmd == 'write':
        out = write(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit('unknown subcommand ' + cmd)
    print(json.dumps(out))


if __name__ == '__main__':
    mp.set_start_method('fork')
    main()
