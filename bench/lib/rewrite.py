#!/usr/bin/env python3
"""Rewrites a seeded random set of blocks of an image with random bytes (os.pwrite, then fsync).

usage: rewrite.py IMAGE BLOCK_SIZE PERCENT SEED [LIST]
The same seed picks the same blocks and bytes, so several images (the cbtfs mount, the
qemu-storage-daemon export) get exactly the same change. LIST, if given, is a file that gets the
block numbers written, one a line (what a benchmark counts a sync against).
"""
import os
import random
import sys

image, block, percent, seed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
listing = sys.argv[5] if len(sys.argv) > 5 else None
size = os.path.getsize(image)
blocks = size // block
rnd = random.Random(seed)
chosen = sorted(rnd.sample(range(blocks), max(1, int(blocks * percent / 100))))
fd = os.open(image, os.O_WRONLY)
try:
    for b in chosen:
        os.pwrite(fd, rnd.randbytes(block), b * block)
    os.fsync(fd)
finally:
    os.close(fd)
if listing:
    with open(listing, "w") as f:
        f.writelines(f"{b}\n" for b in chosen)
print(len(chosen))
