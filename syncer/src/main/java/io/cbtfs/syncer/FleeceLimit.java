package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;

/**
 * How many bytes of old blocks a point-in-time sync's fleece may hold: a size, or a percentage of
 * the bytes the sync protects.
 *
 * @param byteCount the size; -1 when it is a percentage
 * @param percent the percentage of the protected bytes; -1 when it is a size
 */
public record FleeceLimit(long byteCount, int percent) {
  /** A quarter of what the sync protects. */
  public static final FleeceLimit DEFAULT = new FleeceLimit(-1, 25);

  public FleeceLimit {
    if ((byteCount < 0) == (percent < 0) || percent > 100) {
      throw new IllegalArgumentException("fleece limit " + byteCount + " bytes, " + percent + "%");
    }
  }

  /** {@code 25%}, {@code 512M}, {@code 1G}, {@code 4096}. */
  public static FleeceLimit parse(String text) {
    String t = text.strip();
    if (t.endsWith("%")) {
      try {
        int p = Integer.parseInt(t.substring(0, t.length() - 1));
        if (p >= 0 && p <= 100) {
          return new FleeceLimit(-1, p);
        }
      } catch (NumberFormatException e) {
        // the message below
      }
      throw new CbtfsException("bad fleece limit '" + text + "': a percentage is 0% to 100%");
    }
    try {
      return new FleeceLimit(BlockGeometry.parseByteSize(t), -1);
    } catch (RuntimeException e) {
      throw new CbtfsException(
          "bad fleece limit '" + text + "': a size such as 512M or 2G, or a percentage", e);
    }
  }

  /** The least a percentage allows: a small sync is not broken by a few writes. */
  public static final long MIN_PERCENT_BYTES = 64L << 20;

  /**
   * The limit in bytes for a sync that protects {@code protectedBytes}: a percentage of them, at
   * least {@value #MIN_PERCENT_BYTES} bytes (or all of them, if fewer: no block is copied twice).
   */
  public long bytesFor(long protectedBytes) {
    if (percent < 0) {
      return byteCount;
    }
    long share = protectedBytes / 100 * percent + protectedBytes % 100 * percent / 100;
    return Math.max(share, Math.min(protectedBytes, MIN_PERCENT_BYTES));
  }

  @Override
  public String toString() {
    return percent < 0 ? BlockGeometry.formatBytes(byteCount) : percent + "%";
  }
}
