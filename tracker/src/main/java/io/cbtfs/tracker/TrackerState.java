package io.cbtfs.tracker;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
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
 * @param fingerprint the backing file as it was when the state was saved clean
 * @param dirty the live dirty set: blocks written since the last drain (every target lacks them)
 * @param history every target's generation and the blocks each sealed generation last changed
 *     (format versions 1 and 2 held one committed and one issued generation: read as a history
 *     whose horizon is the committed one, with no sets and no cursors)
 */
public record TrackerState(
    UUID lineage,
    BlockGeometry geometry,
    long imageSize,
    boolean clean,
    Fingerprint fingerprint,
    DirtySet dirty,
    ChangeHistory.Saved history) {

  static final byte[] MAGIC = "CBTFSST1".getBytes(StandardCharsets.US_ASCII);
  static final int FORMAT_VERSION = 3;
  private static final int FLAG_CLEAN = 1;

  /** Versions 1 and 2: the next sync compares (version 3 keeps a generation instead). */
  private static final int FLAG_VERIFY_NEXT_SYNC = 2;

  /** The image's name follows everything else: the state of a name too long to name its file. */
  private static final int FLAG_NAMED = 4;

  /**
   * Version 2's header: magic, version, flags, block size, reserved, image size, committed
   * generation, issued generation, uuid, fingerprint (size, mtime, ctime, inode), bitmap length.
   */
  static final int V2_HEADER_BYTES = 8 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 16 + 32 + 4;

  /** Version 3's: the same with the horizon for the committed generation, and verify-below. */
  static final int HEADER_BYTES = V2_HEADER_BYTES + 8;

  /** Version 1's header: no issued generation (and never a name). */
  private static final int V1_HEADER_BYTES = V2_HEADER_BYTES - 8;

  /** The longest target name a cursor may have, in UTF-8 bytes. */
  public static final int MAX_TARGET_BYTES = 65535;

  /** The highest generation a sync has taken, committed or not. */
  public long issuedGeneration() {
    return history.issued();
  }

  /** The newest generation a target acknowledged, or the horizon when none is recorded. */
  public long committedGeneration() {
    return history.targetCursors().stream()
        .mapToLong(Cursor::generation)
        .max()
        .orElse(history.horizon());
  }

  /** Whether some target's next sync must compare every block. */
  public boolean verifyNextSync() {
    long below = history.verifyBelow();
    return below > history.horizon()
        && (history.targetCursors().isEmpty()
            || history.targetCursors().stream().anyMatch(c -> c.generation() < below));
  }

  /** The whole file, in the current format. */
  public byte[] encode() {
    return encode(null);
  }

  /**
   * The whole file, with {@code imageName} (UTF-8, after a two-byte length) just before the CRC32C
   * when it is not null: the state file of a name too long for {@code NAME.cbt} is named by a hash
   * and keeps the name here.
   */
  public byte[] encode(String imageName) {
    byte[] name = imageName == null ? null : imageName.getBytes(StandardCharsets.UTF_8);
    RoaringBitmap bitmap = dirty.toBitmap();
    bitmap.runOptimize();
    try {
      ByteArrayOutputStream bytes =
          new ByteArrayOutputStream(HEADER_BYTES + bitmap.serializedSizeInBytes() + 64);
      DataOutputStream out = new DataOutputStream(bytes);
      out.write(MAGIC);
      out.writeInt(FORMAT_VERSION);
      out.writeInt((clean ? FLAG_CLEAN : 0) | (name != null ? FLAG_NAMED : 0));
      out.writeInt(geometry.blockSize());
      out.writeInt(0);
      out.writeLong(imageSize);
      out.writeLong(history.horizon());
      out.writeLong(history.issued());
      out.writeLong(lineage.getMostSignificantBits());
      out.writeLong(lineage.getLeastSignificantBits());
      out.writeLong(fingerprint.size());
      out.writeLong(fingerprint.mtimeNanos());
      out.writeLong(fingerprint.ctimeNanos());
      out.writeLong(fingerprint.inode());
      out.writeLong(history.verifyBelow());
      writeBitmap(out, bitmap);
      out.writeInt(history.changedIn().size());
      for (var e : history.changedIn().entrySet()) {
        out.writeLong(e.getKey());
        RoaringBitmap set = e.getValue().toBitmap();
        set.runOptimize();
        writeBitmap(out, set);
      }
      out.writeInt(history.issuedRanges().size());
      for (var r : history.issuedRanges().entrySet()) {
        out.writeLong(r.getKey());
        out.writeLong(r.getValue());
      }
      out.writeInt(history.cursors().size());
      for (Cursor c : history.cursors()) {
        byte[] target = c.target().getBytes(StandardCharsets.UTF_8);
        out.writeInt(target.length);
        out.write(target);
        out.writeLong(c.generation());
        out.writeLong(c.syncedAt().toEpochMilli());
      }
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

  private static void writeBitmap(DataOutputStream out, RoaringBitmap bitmap) throws IOException {
    out.writeInt(bitmap.serializedSizeInBytes());
    bitmap.serialize(out);
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
    ByteBuffer in = ByteBuffer.wrap(file, 0, file.length - 4);
    if (ByteBuffer.wrap(file).getInt(file.length - 4) != (int) crc.getValue()) {
      throw new CorruptStateException(source, "checksum mismatch");
    }
    byte[] magic = new byte[MAGIC.length];
    in.get(magic);
    if (!Arrays.equals(magic, MAGIC)) {
      throw new CorruptStateException(source, "not a cbtfs state file");
    }
    int version = in.getInt();
    if (version < 1 || version > FORMAT_VERSION) {
      throw new CorruptStateException(source, "unsupported format version " + version);
    }
    try {
      return parse(in, version, source, imageName);
    } catch (BufferUnderflowException | IllegalArgumentException e) {
      throw new CorruptStateException(source, "inconsistent header");
    }
  }

  private static Parsed parse(ByteBuffer in, int version, String source, String imageName) {
    int flags = in.getInt();
    int blockSize = in.getInt();
    in.getInt();
    long imageSize = in.getLong();
    long committed = in.getLong();
    long issued = version == 1 ? committed : in.getLong();
    UUID lineage = new UUID(in.getLong(), in.getLong());
    Fingerprint fingerprint =
        new Fingerprint(in.getLong(), in.getLong(), in.getLong(), in.getLong());
    long verifyBelow = version >= 3 ? in.getLong() : 0;
    BlockGeometry geometry;
    try {
      geometry = BlockGeometry.of(blockSize);
    } catch (IllegalArgumentException e) {
      throw new CorruptStateException(source, e.getMessage());
    }
    if (imageSize < 0 || committed < 0 || issued < committed || verifyBelow < 0) {
      throw new CorruptStateException(source, "inconsistent header");
    }
    RoaringBitmap live = readBitmap(in, source, "dirty bitmap");
    ChangeHistory.Saved history;
    if (version >= 3) {
      TreeMap<Long, DirtySet> sets = new TreeMap<>();
      int count = in.getInt();
      if (count < 0 || count > in.remaining() / 12) { // a generation and a length at least
        throw new CorruptStateException(source, "inconsistent generations");
      }
      long previous = committed;
      for (int i = 0; i < count; i++) {
        long generation = in.getLong();
        if (generation <= previous || generation > issued) {
          throw new CorruptStateException(source, "inconsistent generations");
        }
        sets.put(generation, new DirtySet(geometry, readBitmap(in, source, "generation bitmap")));
        previous = generation;
      }
      TreeMap<Long, Long> ranges = new TreeMap<>();
      int rangeCount = in.getInt();
      if (rangeCount < 0 || rangeCount > in.remaining() / 16) {
        throw new CorruptStateException(source, "inconsistent generations");
      }
      for (int i = 0; i < rangeCount; i++) {
        long first = in.getLong();
        if (ranges.put(first, in.getLong()) != null) {
          throw new CorruptStateException(source, "inconsistent generations");
        }
      }
      List<Cursor> cursors = new ArrayList<>();
      Set<String> seen = new HashSet<>();
      int cursorCount = in.getInt();
      if (cursorCount < 0 || cursorCount > in.remaining() / 21) { // length, a byte, two longs
        throw new CorruptStateException(source, "inconsistent cursors");
      }
      for (int i = 0; i < cursorCount; i++) {
        int length = in.getInt();
        if (length <= 0 || length > MAX_TARGET_BYTES || length > in.remaining()) {
          throw new CorruptStateException(source, "inconsistent cursors");
        }
        byte[] target = new byte[length];
        in.get(target);
        long generation = in.getLong();
        long at = in.getLong();
        String name = new String(target, StandardCharsets.UTF_8);
        if (generation < 0 || generation > issued || !seen.add(name)) {
          throw new CorruptStateException(source, "inconsistent cursors");
        }
        cursors.add(new Cursor(name, generation, Instant.ofEpochMilli(at)));
      }
      history = new ChangeHistory.Saved(issued, committed, verifyBelow, sets, cursors, ranges);
    } else {
      history = ChangeHistory.Saved.of(committed, issued, (flags & FLAG_VERIFY_NEXT_SYNC) != 0);
    }
    String name = null;
    if ((flags & FLAG_NAMED) != 0 && version != 1) {
      int nameBytes = in.getShort() & 0xffff;
      if (nameBytes != in.remaining()) {
        throw new CorruptStateException(source, "inconsistent header");
      }
      byte[] bytes = new byte[nameBytes];
      in.get(bytes);
      name = new String(bytes, StandardCharsets.UTF_8);
      if (imageName != null && !name.equals(imageName)) {
        throw new CorruptStateException(source, "it holds the state of another image name");
      }
    }
    if (in.hasRemaining()) {
      throw new CorruptStateException(source, "inconsistent header");
    }
    TrackerState state =
        new TrackerState(
            lineage,
            geometry,
            imageSize,
            (flags & FLAG_CLEAN) != 0,
            fingerprint,
            new DirtySet(geometry, live),
            history);
    return new Parsed(state, name);
  }

  private static RoaringBitmap readBitmap(ByteBuffer in, String source, String what) {
    int length = in.getInt();
    if (length < 0 || length > in.remaining()) {
      throw new CorruptStateException(source, "inconsistent header");
    }
    RoaringBitmap bitmap = new RoaringBitmap();
    try {
      bitmap.deserialize(in.slice(in.position(), length));
    } catch (IOException | RuntimeException e) {
      throw new CorruptStateException(source, "unreadable " + what);
    }
    in.position(in.position() + length);
    return bitmap;
  }
}
