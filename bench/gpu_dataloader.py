#!/usr/bin/env python3
"""Times PyTorch DataLoader epochs over a directory tree of files (bench/gpu-node.sh runs it).

Every file is one sample: read whole (as raw bytes, no decoding, so storage is what is
measured), turned into a uint8 tensor, batched, and copied to the GPU when there is one. The
file list is made once (the dataset's index); only the epochs are timed. Prints one JSON line:
{"root", "files", "workers", "batch", "device", "epochs": [{"secs", "samples_per_s"}, ...]}.

  gpu_dataloader.py ROOT [--workers 8] [--batch 64] [--epochs 2]
"""
import argparse
import json
import os
import time

import torch
from torch.utils.data import DataLoader, Dataset


class FileDataset(Dataset):
    def __init__(self, root):
        self.paths = []
        for d, dirs, files in os.walk(root):
            dirs.sort()
            self.paths += [os.path.join(d, f) for f in sorted(files)]

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with open(self.paths[i], 'rb') as f:
            data = f.read()
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def collate(batch):
    # samples differ in size: pad to the longest, as an image pipeline's resize would even out
    n = max(t.numel() for t in batch)
    out = torch.zeros((len(batch), n), dtype=torch.uint8)
    for i, t in enumerate(batch):
        out[i, :t.numel()] = t
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('root')
    ap.add_argument('--workers', type=int, default=8)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--epochs', type=int, default=2)
    a = ap.parse_args()
    ds = FileDataset(a.root)
    if len(ds) == 0:
        raise SystemExit('no files under ' + a.root)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    loader = DataLoader(ds, batch_size=a.batch, num_workers=a.workers, collate_fn=collate,
                        pin_memory=device.type == 'cuda', persistent_workers=False)
    epochs = []
    for _ in range(a.epochs):
        t0 = time.perf_counter()
        n = 0
        for batch in loader:
            batch = batch.to(device, non_blocking=True)
            n += batch.shape[0]
        if device.type == 'cuda':
            torch.cuda.synchronize()
        secs = time.perf_counter() - t0
        if n != len(ds):
            raise SystemExit(f'epoch saw {n} samples of {len(ds)}')
        epochs.append({'secs': secs, 'samples_per_s': n / secs})
    print(json.dumps({'root': a.root, 'files': len(ds), 'workers': a.workers, 'batch': a.batch,
                      'device': str(device), 'epochs': epochs}))


if __name__ == '__main__':
    main()
