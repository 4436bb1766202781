package io.cbtfs.syncer;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The header of a delta stream (docs/FORMAT.md): which image (lineage), its size and block size,
 * and the generation step it carries. A full delta ({@link #full}) holds every block of the image
 * and may be applied to any target of the same lineage, or to an empty one.
 *
 * @param baseGeneration the generation a target must hold to apply an incremental delta
 * @param generation the generation the target holds after applying it
 */
public record DeltaHeader(
    UUID lineage,
    long imageSize,
    int blockSize,
    long baseGeneration,
    long generation,
    boolean full) {

  static final byte[] MAGIC = "CBTFSDL1".getBytes(StandardCharsets.US_ASCII);
  static final int FORMAT_VERSION = 1;
  static final int FLAG_FULL = 1;

  /** Magic, version, flags, lineage, image size, block size, reserved, base, generation, CRC. */
  public static final int BYTES = 8 + 4 + 4 + 16 + 8 + 4 + 4 + 8 + 8 + 4;

  public DeltaHeader {
    if (imageSize < 0 || baseGeneration < 0 || generation <= baseGeneration) {
      throw new IllegalArgumentException(
          "bad delta header: size "
              + imageSize
              + ", generations "
              + baseGeneration
              + " -> "
              + generation);
    }
  }

  /** The 76 header bytes, as they open a delta (and a remote BEGIN). */
  public byte[] encode() {
    ByteBuffer b = ByteBuffer.allocate(BYTES);
    b.put(MAGIC)
        .putInt(FORMAT_VERSION)
        .putInt(full ? FLAG_FULL : 0)
        .putLong(lineage.getMostSignificantBits())
        .putLong(lineage.getLeastSignificantBits())
        .putLong(imageSize)
        .putInt(blockSize)
        .putInt(0)
        .putLong(baseGeneration)
        .putLong(generation);
    CRC32C crc = new CRC32C();
    crc.update(b.array(), 0, b.position());
    b.putInt((int) crc.getValue());
    return b.array();
  }

  static DeltaHeader decode(byte[] bytes, String source) {
    if (bytes.length != BYTES) {
      throw new CorruptDeltaException(source, "truncated header");
    }
    ByteBuffer b = ByteBuffer.wrap(bytes);
    byte[] magic = new byte[MAGIC.length];
    b.get(magic);
    if (!Arrays.equals(magic, MAGIC)) {
      throw new CorruptDeltaException(source, "not a cbtfs delta (bad magic)");
    }
    CRC32C crc = new CRC32C();
    crc.update(bytes, 0, BYTES - 4);
    if (ByteBuffer.wrap(bytes, BYTES - 4, 4).getInt() != (int) crc.getValue()) {
      throw new CorruptDeltaException(source, "header checksum mismatch");
    }
    int version = b.getInt();
    if (version != FORMAT_VERSION) {
      throw new CorruptDeltaException(source, "unsupported format version " + version);
    }
    int flags = b.getInt();
    UUID lineage = new UUID(b.getLong(), b.getLong());
    long imageSize = b.getLong();
    int blockSize = b.getInt();
    b.getInt();
    long base = b.getLong();
    long generation = b.getLong();
    try {
      io.cbtfs.tracker.BlockGeometry.of(blockSize);
      return new DeltaHeader(
          lineage, imageSize, blockSize, base, generation, (flags & FLAG_FULL) != 0);
    } catch (IllegalArgumentException e) {
      throw new CorruptDeltaException(source, e.getMessage());
    }
  }

  /** "generation 3 (incremental from 2)" or "generation 1 (full)". */
  public String describe() {
    return "generation "
        + generation
        + (full ? " (full)" : " (incremental from " + baseGeneration + ")");
  }

  /**
   * This header, the one a verified delta held, if it is the one its sender announced.
   *
   * @throws CorruptDeltaException naming {@code source} if it is not
   */
  public DeltaHeader requireSame(DeltaHeader announced, String source) {
    if (!equals(announced)) {
      throw new CorruptDeltaException(source, "header differs from the one announced");
    }
    return this;
  }
}
