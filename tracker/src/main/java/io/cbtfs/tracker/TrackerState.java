package io.cbtfs.tracker;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.UUID;
import java.util.zip.CRC32C;
import org.roaringbitmap.RoaringBitmap;

/**
 * The persisted state of one image's tracking, as stored in {@code STATE_DIR/NAME.cbt}. See
 * docs/STATE.md for the byte layout. Immutable.
 *
 * @param lineage identifies the image's tracking history; a target fed from another lineage is
 *     refused, and a reset of tracking starts a new one
 * @param clean whether the mount stopped cleanly; an unclean state does not say which blocks
 *     changed after it was written (the activity log does)
 * @param verifyNextSync the image changed outside the mount, or recovery found a damaged activity
 *     log: the next sync must compare every block with its target instead of trusting the dirty set
 * @param fingerprint the backing file as it was when the state was saved clean
 */
public record TrackerState(
    UUID lineage,
    BlockGeometry geometry,
    long imageSize,
    long committedGeneration,
    boolean clean,
    boolean verifyNextSync,
    Fingerprint fingerprint,
    DirtySet dirty) {

  static final byte[] MAGIC = "CBTFSST1".getBytes(StandardCharsets.US_ASCII);
  static final int FORMAT_VERSION = 1;
  private static final int FLAG_CLEAN = 1;
  private static final int FLAG_VERIFY_NEXT_SYNC = 2;

  /**
   * Magic, version, flags, block size, reserved, image size, generation, uuid, fingerprint (size,
   * mtime, ctime, inode), bitmap length.
   */
  static final int HEADER_BYTES = 8 + 4 + 4 + 4 + 4 + 8 + 8 + 16 + 32 + 4;

  /** The whole file: header, RoaringBitmap portable bytes, CRC32C of all before it. */
  public byte[] encode() {
    RoaringBitmap bitmap = dirty.toBitmap();
    bitmap.runOptimize();
    try {
      ByteArrayOutputStream bytes =
          new ByteArrayOutputStream(HEADER_BYTES + bitmap.serializedSizeInBytes() + 4);
      DataOutputStream out = new DataOutputStream(bytes);
      out.write(MAGIC);
      out.writeInt(FORMAT_VERSION);
      out.writeInt((clean ? FLAG_CLEAN : 0) | (verifyNextSync ? FLAG_VERIFY_NEXT_SYNC : 0));
      out.writeInt(geometry.blockSize());
      out.writeInt(0);
      out.writeLong(imageSize);
      out.writeLong(committedGeneration);
      out.writeLong(lineage.getMostSignificantBits());
      out.writeLong(lineage.getLeastSignificantBits());
      out.writeLong(fingerprint.size());
      out.writeLong(fingerprint.mtimeNanos());
      out.writeLong(fingerprint.ctimeNanos());
      out.writeLong(fingerprint.inode());
      out.writeInt(bitmap.serializedSizeInBytes());
      bitmap.serialize(out);
      CRC32C crc = new CRC32C();
      crc.update(bytes.toByteArray());
      out.writeInt((int) crc.getValue());
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new IllegalStateException("in-memory stream failed", e);
    }
  }

  /**
   * Parses a state file.
   *
   * @throws CorruptStateException naming what is wrong: a short file, a bad magic, version, block
   *     size or checksum
   */
  public static TrackerState decode(byte[] file, String source) {
    if (file.length < HEADER_BYTES + 4) {
      throw new CorruptStateException(source, "truncated (" + file.length + " bytes)");
    }
    CRC32C crc = new CRC32C();
    crc.update(file, 0, file.length - 4);
    ByteBuffer in = ByteBuffer.wrap(file);
    if (in.getInt(file.length - 4) != (int) crc.getValue()) {
      throw new CorruptStateException(source, "checksum mismatch");
    }
    byte[] magic = new byte[MAGIC.length];
    in.get(magic);
    if (!Arrays.equals(magic, MAGIC)) {
      throw new CorruptStateException(source, "not a cbtfs state file");
    }
    int version = in.getInt();
    if (version != FORMAT_VERSION) {
      throw new CorruptStateException(source, "unsupported format version " + version);
    }
    int flags = in.getInt();
    int blockSize = in.getInt();
    in.getInt();
    long imageSize = in.getLong();
    long generation = in.getLong();
    UUID lineage = new UUID(in.getLong(), in.getLong());
    Fingerprint fingerprint =
        new Fingerprint(in.getLong(), in.getLong(), in.getLong(), in.getLong());
    int bitmapBytes = in.getInt();
    BlockGeometry geometry;
    try {
      geometry = BlockGeometry.of(blockSize);
    } catch (IllegalArgumentException e) {
      throw new CorruptStateException(source, e.getMessage());
    }
    if (imageSize < 0 || generation < 0 || bitmapBytes != file.length - HEADER_BYTES - 4) {
      throw new CorruptStateException(source, "inconsistent header");
    }
    RoaringBitmap bitmap = new RoaringBitmap();
    try {
      bitmap.deserialize(ByteBuffer.wrap(file, HEADER_BYTES, bitmapBytes).slice());
    } catch (IOException | RuntimeException e) {
      throw new CorruptStateException(source, "unreadable dirty bitmap");
    }
    return new TrackerState(
        lineage,
        geometry,
        imageSize,
        generation,
        (flags & FLAG_CLEAN) != 0,
        (flags & FLAG_VERIFY_NEXT_SYNC) != 0,
        fingerprint,
        new DirtySet(geometry, bitmap));
  }
}
