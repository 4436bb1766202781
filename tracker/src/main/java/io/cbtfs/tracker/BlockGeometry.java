package io.cbtfs.tracker;

import java.util.Locale;

/**
 * The tracking granule: a power-of-two block size from 4 KiB to 4 MiB, and the arithmetic between
 * byte offsets and block indexes. Immutable.
 */
public final class BlockGeometry {
  public static final int MIN_BLOCK_SIZE = 4 << 10;
  public static final int MAX_BLOCK_SIZE = 4 << 20;

  /** QEMU's default dirty-bitmap granularity. */
  public static final int DEFAULT_BLOCK_SIZE = 64 << 10;

  /** Block indexes are kept in 32-bit sets; one below 2^31 keeps them positive ints. */
  public static final long MAX_BLOCK_COUNT = Integer.MAX_VALUE;

  private final int blockSize;
  private final int blockShift;

  private BlockGeometry(int blockSize) {
    this.blockSize = blockSize;
    this.blockShift = Integer.numberOfTrailingZeros(blockSize);
  }

  /**
   * @throws IllegalArgumentException if {@code blockSize} is not a power of two in [4 KiB, 4 MiB]
   */
  public static BlockGeometry of(int blockSize) {
    if (Integer.bitCount(blockSize) != 1
        || blockSize < MIN_BLOCK_SIZE
        || blockSize > MAX_BLOCK_SIZE) {
      throw new IllegalArgumentException(
          "block size must be a power of two from 4K to 4M, got " + blockSize);
    }
    return new BlockGeometry(blockSize);
  }

  public static BlockGeometry defaults() {
    return of(DEFAULT_BLOCK_SIZE);
  }

  /**
   * Parses a size such as {@code 65536}, {@code 64K}, {@code 64k}, {@code 1M} or {@code 1MiB}.
   *
   * @throws IllegalArgumentException on anything else or on overflow
   */
  public static long parseByteSize(String text) {
    String s = text.trim().toUpperCase(Locale.ROOT);
    if (s.endsWith("IB")) {
      s = s.substring(0, s.length() - 2);
    } else if (s.endsWith("B")) {
      s = s.substring(0, s.length() - 1);
    }
    int shift = 0;
    if (!s.isEmpty()) {
      switch (s.charAt(s.length() - 1)) {
        case 'K' -> shift = 10;
        case 'M' -> shift = 20;
        case 'G' -> shift = 30;
        case 'T' -> shift = 40;
        default -> shift = -1;
      }
      if (shift >= 0) {
        s = s.substring(0, s.length() - 1);
      } else {
        shift = 0;
      }
    }
    long value;
    try {
      value = Long.parseLong(s);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("not a size: '" + text + "' (use e.g. 64K, 1M)");
    }
    if (value < 0 || value > (Long.MAX_VALUE >> shift)) {
      throw new IllegalArgumentException("size out of range: '" + text + "'");
    }
    return value << shift;
  }

  public int blockSize() {
    return blockSize;
  }

  public int blockShift() {
    return blockShift;
  }

  /** The index of the block holding byte {@code byteOffset}. */
  public long blockIndex(long byteOffset) {
    return byteOffset >>> blockShift;
  }

  /**
   * The number of blocks that cover {@code byteLength} bytes from offset 0 (the last may be
   * partial).
   */
  public long blockCount(long byteLength) {
    return (byteLength + blockSize - 1) >>> blockShift;
  }

  public long byteOffset(long blockIndex) {
    return blockIndex << blockShift;
  }

  /** Bytes of block {@code blockIndex} that lie inside an image of {@code imageByteSize} bytes. */
  public int bytesInImage(long blockIndex, long imageByteSize) {
    long start = byteOffset(blockIndex);
    return (int) Math.max(0, Math.min(blockSize, imageByteSize - start));
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof BlockGeometry g && g.blockSize == blockSize;
  }

  @Override
  public int hashCode() {
    return blockSize;
  }

  @Override
  public String toString() {
    return formatBytes(blockSize);
  }

  /** {@code 65536} as {@code 64K}, exact powers only; other values in plain bytes. */
  public static String formatBytes(long bytes) {
    String[] units = {"", "K", "M", "G", "T"};
    int unit = 0;
    while (unit < units.length - 1 && bytes != 0 && (bytes & 1023) == 0) {
      bytes >>= 10;
      unit++;
    }
    return bytes + units[unit];
  }
}
