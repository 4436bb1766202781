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
}
