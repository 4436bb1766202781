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
 * @param keyId null for records in clear; else the first 8 hex digits of the fingerprint of the key
 *     the records are sealed with (flag bit 1, the header's reserved field)
 */
public record DeltaHeader(
    UUID lineage,
    long imageSize,
    int blockSize,
    long baseGeneration,
    long generation,
    boolean full,
    String keyId) {

  static final byte[] MAGIC = "CBTFSDL1".getBytes(StandardCharsets.US_ASCII);
  static final int FORMAT_VERSION = 1;
  static final int FLAG_FULL = 1;
  static final int FLAG_SEALED = 2;

  /** Magic, version, flags, lineage, image size, block size, reserved, base, generation, CRC. */
  public static final int BYTES = 8 + 4 + 4 + 16 + 8 + 4 + 4 + 8 + 8 + 4;

  /** A header of a delta whose records travel in clear. */
  public DeltaHeader(
      UUID lineage,
      long imageSize,
      int blockSize,
      long baseGeneration,
      long generation,
      boolean full) {
    this(lineage, imageSize, blockSize, baseGeneration, generation, full, null);
  }

  /** This header for records sealed with the key of {@code fingerprint}. */
  public DeltaHeader sealedWith(String fingerprint) {
    return new DeltaHeader(
        lineage,
        imageSize,
        blockSize,
        baseGeneration,
        generation,
        full,
        fingerprint.substring(0, 8));
  }

  /** Whether the records are sealed (their bytes unreadable without the key). */
  public boolean sealed() {
    return keyId != null;
  }

  public DeltaHeader {
    if (keyId != null && !keyId.matches("[0-9a-f]{8}")) {
      throw new IllegalArgumentException("bad key id " + keyId);
    }
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
        .putInt((full ? FLAG_FULL : 0) | (keyId != null ? FLAG_SEALED : 0))
        .putLong(lineage.getMostSignificantBits())
        .putLong(lineage.getLeastSignificantBits())
        .putLong(imageSize)
        .putInt(blockSize)
        .putInt(keyId == null ? 0 : Integer.parseUnsignedInt(keyId, 16))
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
    int key = b.getInt();
    long base = b.getLong();
    long generation = b.getLong();
    try {
      io.cbtfs.tracker.BlockGeometry.of(blockSize);
      return new DeltaHeader(
          lineage,
          imageSize,
          blockSize,
          base,
          generation,
          (flags & FLAG_FULL) != 0,
          (flags & FLAG_SEALED) != 0 ? String.format("%08x", key) : null);
    } catch (IllegalArgumentException e) {
      throw new CorruptDeltaException(source, e.getMessage());
    }
  }

  /** "generation 3 (incremental from 2)" or "generation 1 (full)". */
  public String describe() {
    return "generation "
        + generation
        + (full ? " (full)" : " (incremental from " + baseGeneration + ")")
        + (keyId == null ? "" : ", encrypted with key " + keyId + "…");
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
