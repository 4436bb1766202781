package io.cbtfs.syncer.remote;

import io.cbtfs.syncer.TargetState;
import io.cbtfs.tracker.CbtfsException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * The payloads that {@link RemoteTarget} (the sender) and {@link Receiver} (the server) both speak:
 * the HELLO, its flags and name rule, and the target state answer. Kept apart so that the client
 * does not depend on the server class.
 */
final class RemoteMessages {
  private RemoteMessages() {}

  /** One path component, no dot first: no "..", no hidden files, no separators. */
  static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

  static final int FLAG_ARCHIVE = 1;

  /**
   * A read-only session of an archive (with {@link #FLAG_ARCHIVE}): LIST and READ requests, never a
   * delta. The receiver answers the HELLO with OK of {@link #READ_SESSION_VERSION} (4 bytes); an
   * older one answers with a target state (33 bytes), which the reader refuses clearly.
   */
  static final int FLAG_READ = 2;

  static final int READ_SESSION_VERSION = 2;

  /** The most bytes one READ asks for (and one DATA frame answers with). */
  static final int MAX_READ_BYTES = 1 << 20;

  /**
   * The most files a LIST answer may name: hourly generations for seven years (an archive keeps
   * fewer with {@code cbtfs gc}); the reader holds them all, within a mount's 64 MiB heap (2^20 ran
   * a mount out of memory; hostile pass).
   */
  static final int MAX_LISTED = 1 << 16;

  /** BEGIN's last byte: a full delta from another image may overwrite the target. */
  static final int BEGIN_ALLOW_NEW_LINEAGE = 1;

  /**
   * BEGIN's last byte: the sender can resume. The receiver answers with what it kept of an earlier
   * attempt of the same lineage and base, and keeps what it verifies of this one if it fails. A
   * receiver without resume reads the byte as "no new lineage" and answers an empty OK.
   */
  static final int BEGIN_RESUMABLE = 2;

  /** Largest HELLO: flags, length, a 64-character name in UTF-8 (4 bytes a char), proof. */
  static final int MAX_HELLO = 1 + 2 + 64 * 4 + 32;

  static byte[] encode(TargetState s) {
    ByteBuffer b = ByteBuffer.allocate(1 + 16 + 8 + 8);
    b.put((byte) (s.exists() ? 1 : 0));
    b.putLong(s.exists() ? s.lineage().getMostSignificantBits() : 0);
    b.putLong(s.exists() ? s.lineage().getLeastSignificantBits() : 0);
    b.putLong(s.generation()).putLong(s.imageSize());
    return b.array();
  }

  static TargetState decode(byte[] bytes) {
    if (bytes.length != 33) {
      throw new CbtfsException("protocol error: target state of " + bytes.length + " bytes");
    }
    ByteBuffer b = ByteBuffer.wrap(bytes);
    boolean exists = b.get() == 1;
    java.util.UUID lineage = new java.util.UUID(b.getLong(), b.getLong());
    long generation = b.getLong();
    long size = b.getLong();
    return exists ? new TargetState(true, lineage, generation, size) : TargetState.EMPTY;
  }

  /** A sender's HELLO: flags, target name, proof of the token. */
  record Hello(int flags, String name, byte[] proof) {
    static Hello parse(byte[] p) {
      if (p.length < 1 + 2 + 32 || p.length > MAX_HELLO) {
        throw new CbtfsException("protocol error: HELLO of " + p.length + " bytes");
      }
      ByteBuffer b = ByteBuffer.wrap(p);
      int flags = b.get() & 0xff;
      int len = b.getShort() & 0xffff;
      if (len != p.length - 3 - 32) {
        throw new CbtfsException("protocol error: bad HELLO");
      }
      byte[] nameBytes = new byte[len];
      b.get(nameBytes);
      byte[] proof = new byte[32];
      b.get(proof);
      String name = new String(nameBytes, StandardCharsets.UTF_8);
      if (!NAME.matcher(name).matches()) {
        throw new CbtfsException(
            "refused target name '"
                + Frames.printable(name)
                + "': use letters, digits, '.', '_' and '-', not starting with '.'");
      }
      return new Hello(flags, name, proof);
    }

    byte[] encode() {
      byte[] n = name.getBytes(StandardCharsets.UTF_8);
      return ByteBuffer.allocate(3 + n.length + 32)
          .put((byte) flags)
          .putShort((short) n.length)
          .put(n)
          .put(proof)
          .array();
    }
  }

  /**
   * A file of an archive as a LIST answer names it: its name, length, modification time and
   * identity ({@link io.cbtfs.syncer.local.ArchiveFiles.Listed#fileId}).
   */
  record Listed(String name, long byteSize, long modifiedMillis, long fileId) {
    /** name length (1) + name (ASCII) + length (8) + modified, ms since the epoch (8) + id (8). */
    void encode(ByteBuffer b) {
      byte[] n = name.getBytes(StandardCharsets.US_ASCII);
      b.put((byte) n.length).put(n).putLong(byteSize).putLong(modifiedMillis).putLong(fileId);
    }

    int bytes() {
      return 1 + name.length() + 24;
    }

    /**
     * Reads the entries of one DATA frame of a LIST answer.
     *
     * @throws CbtfsException for a frame that does not hold whole entries, or a name that is no
     *     file of an archive ({@code served})
     */
    static java.util.List<Listed> decodeAll(byte[] p, java.util.function.Predicate<String> served) {
      java.util.List<Listed> out = new java.util.ArrayList<>();
      ByteBuffer b = ByteBuffer.wrap(p);
      while (b.hasRemaining()) {
        int len = b.get() & 0xff;
        if (b.remaining() < len + 24) {
          throw new CbtfsException("protocol error: a LIST entry cut short");
        }
        byte[] n = new byte[len];
        b.get(n);
        String name = new String(n, StandardCharsets.US_ASCII);
        long size = b.getLong();
        long modified = b.getLong();
        long id = b.getLong();
        if (!served.test(name) || size < 0) {
          throw new CbtfsException(
              "protocol error: LIST names '" + Frames.printable(name) + "' of " + size + " bytes");
        }
        out.add(new Listed(name, size, modified, id));
      }
      return out;
    }
  }

  /**
   * A READ request: {@code byteLength} bytes of file {@code name} from {@code byteOffset}, of the
   * file as it was listed ({@code listedSize}, {@code fileId}): the receiver refuses a file
   * replaced since (a gc's fold renames a new file over a generation) rather than serve bytes at
   * offsets that mean something else in it.
   */
  record Read(String name, long byteOffset, int byteLength, long listedSize, long fileId) {
    /** Bytes after the name: offset (8) + length (4) + listed size (8) + id (8). */
    static final int FIXED_BYTES = 28;

    /** name length (1) + name (ASCII) + the fixed fields. */
    byte[] encode() {
      byte[] n = name.getBytes(StandardCharsets.US_ASCII);
      return ByteBuffer.allocate(1 + n.length + FIXED_BYTES)
          .put((byte) n.length)
          .put(n)
          .putLong(byteOffset)
          .putInt(byteLength)
          .putLong(listedSize)
          .putLong(fileId)
          .array();
    }

    /**
     * @throws CbtfsException for a malformed request, a name that is no file of an archive ({@code
     *     served}: no separator, no "..") or a range out of bounds
     */
    static Read parse(byte[] p, java.util.function.Predicate<String> served) {
      if (p.length < 1 + FIXED_BYTES || p.length != 1 + (p[0] & 0xff) + FIXED_BYTES) {
        throw new CbtfsException("protocol error: READ of " + p.length + " bytes");
      }
      ByteBuffer b = ByteBuffer.wrap(p);
      byte[] n = new byte[b.get() & 0xff];
      b.get(n);
      String name = new String(n, StandardCharsets.US_ASCII);
      long offset = b.getLong();
      int length = b.getInt();
      long listedSize = b.getLong();
      long fileId = b.getLong();
      if (!served.test(name)) {
        throw new CbtfsException(
            "refused READ of '" + Frames.printable(name) + "': not a file of an archive");
      }
      if (offset < 0 || length <= 0 || length > MAX_READ_BYTES) {
        throw new CbtfsException(
            "protocol error: READ of "
                + length
                + " bytes at "
                + offset
                + " (at most "
                + MAX_READ_BYTES
                + ")");
      }
      return new Read(name, offset, length, listedSize, fileId);
    }
  }
}
