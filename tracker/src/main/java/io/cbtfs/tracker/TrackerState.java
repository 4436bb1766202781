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
 * @param issuedGeneration the highest generation a sync has taken, committed or not; never less
 *     than {@code committedGeneration} (format version 1 did not store it: there it reads as the
 *     committed one)
 * @param verifyNextSync the image changed outside the mount, or recovery found a damaged activity
 *     log: the next sync must compare every block with its target instead of trusting the dirty set
 * @param fingerprint the backing file as it was when the state was saved clean
 */
public record TrackerState(
    UUID lineage,
    BlockGeometry geometry,
    long imageSize,
    long committedGeneration,
    long issuedGeneration,
    boolean clean,
    boolean verifyNextSync,
    Fingerprint fingerprint,
    DirtySet dirty) {

  static final byte[] MAGIC = "CBTFSST1".getBytes(StandardCharsets.US_ASCII);
  static final int FORMAT_VERSION = 2;
  private static final int FLAG_CLEAN = 1;
  private static final int FLAG_VERIFY_NEXT_SYNC = 2;

  /** The image's name follows the bitmap: the state of a name too long to name its file. */
  private static final int FLAG_NAMED = 4;

  /**
   * Magic, version, flags, block size, reserved, image size, committed generation, issued
   * generation, uuid, fingerprint (size, mtime, ctime, inode), bitmap length.
   */
  static final int HEADER_BYTES = 8 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 16 + 32 + 4;

  /** Version 1's header: no issued generation (and never a name). */
  private static final int V1_HEADER_BYTES = HEADER_BYTES - 8;

  /** The whole file: header, RoaringBitmap portable bytes, CRC32C of all before it. */
  public byte[] encode() {
    return encode(null);
  }

  /**
   * The whole file, with {@code imageName} (UTF-8, after a two-byte length) between the bitmap and
   * the CRC32C when it is not null: the state file of a name too long for {@code NAME.cbt} is named
   * by a hash and keeps the name here.
   */
  public byte[] encode(String imageName) {
    byte[] name = imageName == null ? null : imageName.getBytes(StandardCharsets.UTF_8);
    RoaringBitmap bitmap = dirty.toBitmap();
    bitmap.runOptimize();
    try {
      ByteArrayOutputStream bytes =
          new ByteArrayOutputStream(HEADER_BYTES + bitmap.serializedSizeInBytes() + 4);
      DataOutputStream out = new DataOutputStream(bytes);
      out.write(MAGIC);
      out.writeInt(FORMAT_VERSION);
      out.writeInt(
          (clean ? FLAG_CLEAN : 0)
              | (verifyNextSync ? FLAG_VERIFY_NEXT_SYNC : 0)
              | (name != null ? FLAG_NAMED : 0));
      out.writeInt(geometry.blockSize());
      out.writeInt(0);
      out.writeLong(imageSize);
      out.writeLong(committedGeneration);
      out.writeLong(issuedGeneration);
      out.writeLong(lineage.getMostSignificantBits());
      out.writeLong(lineage.getLeastSignificantBits());
      out.writeLong(fingerprint.size());
      out.writeLong(fingerprint.mtimeNanos());
      out.writeLong(fingerprint.ctimeNanos());
      out.writeLong(fingerprint.inode());
      out.writeInt(bitmap.serializedSizeInBytes());
      bitmap.serialize(out);
      if (name != null) {
        out.writeShort(name.length);
        out.write(name);
      }
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
    return decode(file, source, null);
  }

  /**
   * The image name a state file holds; null if it holds none (its file name says it).
   *
   * @throws CorruptStateException as {@link #decode(byte[], String)}
   */
  static String storedName(byte[] file, String source) {
    return parse(file, source, null).name;
  }

  /**
   * Parses a state file and checks that it belongs to {@code imageName}: a file that holds a name
   * must hold that one (one that holds none is named by its file name).
   *
   * @throws CorruptStateException as {@link #decode(byte[], String)}, or for another image's name
   */
  public static TrackerState decode(byte[] file, String source, String imageName) {
    return parse(file, source, imageName).state;
  }

  private record Parsed(TrackerState state, String name) {}

  private static Parsed parse(byte[] file, String source, String imageName) {
    if (file.length < V1_HEADER_BYTES + 4) {
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
    if (version != 1 && version != FORMAT_VERSION) {
      throw new CorruptStateException(source, "unsupported format version " + version);
    }
    int headerBytes = version == 1 ? V1_HEADER_BYTES : HEADER_BYTES;
    if (file.length < headerBytes + 4) {
      throw new CorruptStateException(source, "truncated (" + file.length + " bytes)");
    }
    int flags = in.getInt();
    int blockSize = in.getInt();
    in.getInt();
    long imageSize = in.getLong();
    long generation = in.getLong();
    long issued = version == 1 ? generation : in.getLong();
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
    int rest = file.length - headerBytes - 4; // the bitmap, and the name if there is one
    if (imageSize < 0
        || generation < 0
        || issued < generation
        || bitmapBytes < 0
        || bitmapBytes > rest) {
      throw new CorruptStateException(source, "inconsistent header");
    }
    String name = null;
    if ((flags & FLAG_NAMED) != 0 && version != 1) {
      int nameAt = headerBytes + bitmapBytes;
      int nameBytes = rest - bitmapBytes - 2;
      if (nameBytes < 0 || nameBytes != (in.getShort(nameAt) & 0xffff)) {
        throw new CorruptStateException(source, "inconsistent header");
      }
      name = new String(file, nameAt + 2, nameBytes, StandardCharsets.UTF_8);
      if (imageName != null && !name.equals(imageName)) {
        throw new CorruptStateException(source, "it holds the state of another image name");
      }
    } else if (bitmapBytes != rest) {
      throw new CorruptStateException(source, "inconsistent header");
    }
    RoaringBitmap bitmap = new RoaringBitmap();
    try {
      bitmap.deserialize(ByteBuffer.wrap(file, headerBytes, bitmapBytes).slice());
    } catch (IOException | RuntimeException e) {
      throw new CorruptStateException(source, "unreadable dirty bitmap");
    }
    TrackerState state =
        new TrackerState(
            lineage,
            geometry,
            imageSize,
            generation,
            issued,
            (flags & FLAG_CLEAN) != 0,
            (flags & FLAG_VERIFY_NEXT_SYNC) != 0,
            fingerprint,
            new DirtySet(geometry, bitmap));
    return new Parsed(state, name);
  }
}
