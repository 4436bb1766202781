package io.cbtfs.fs.overlay;

import io.cbtfs.fs.ServedFile;
import java.io.IOException;

/** A generation held in an array, its zero blocks of 4 KiB holes; counts its reads. */
final class ArrayGeneration implements ServedFile {
  final byte[] bytes;
  int reads;
  boolean damaged;

  ArrayGeneration(byte[] bytes) {
    this.bytes = bytes;
  }

  @Override
  public long byteSize() {
    return bytes.length;
  }

  @Override
  public long modifiedSeconds() {
    return 1_700_000_000L;
  }

  @Override
  public synchronized void read(long byteOffset, byte[] into, int byteLength) throws IOException {
    if (damaged) {
      throw new IOException("generation damaged");
    }
    reads++;
    System.arraycopy(bytes, (int) byteOffset, into, 0, byteLength);
  }

  private boolean zeroPage(long page) {
    for (long i = page * 4096; i < Math.min(bytes.length, (page + 1) * 4096); i++) {
      if (bytes[(int) i] != 0) {
        return false;
      }
    }
    return true;
  }

  @Override
  public long next(long byteOffset, boolean hole) {
    for (long page = byteOffset / 4096; page * 4096 < bytes.length; page++) {
      if (zeroPage(page) == hole) {
        return Math.max(byteOffset, page * 4096);
      }
    }
    return bytes.length;
  }
}
