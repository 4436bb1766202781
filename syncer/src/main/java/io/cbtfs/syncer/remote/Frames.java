package io.cbtfs.syncer.remote;

import io.cbtfs.syncer.Printable;
import io.cbtfs.tracker.CbtfsException;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The framing of the replication protocol: {@code type (1 byte) | length (4, big-endian) |
 * payload}. A reader refuses a frame longer than {@link #MAX_PAYLOAD} before allocating it.
 */
final class Frames {
  static final byte[] MAGIC = "CBTFSRP1".getBytes(StandardCharsets.US_ASCII);
  static final int MAX_PAYLOAD = (1 << 20) + 1024;
  static final int NONCE_BYTES = 32;

  static final int CHALLENGE = 1;
  static final int HELLO = 2;
  static final int OK = 3;
  static final int ERR = 4;
  static final int BEGIN = 5;
  static final int DATA = 6;
  static final int END = 7;
  static final int ACK = 8;
  static final int HASHES = 9;

  /** Inside a resumed delta: copy kept record number (4 bytes) here instead of its bytes. */
  static final int REUSE = 10;

  /** A read session's request: the archive's files (answered by DATA frames of entries, END). */
  static final int LIST = 11;

  /** A read session's request: bytes of one file of the archive (answered by one DATA frame). */
  static final int READ = 12;

  private Frames() {}

  /** A peer's text as one short printable line: it may end up in a log or a terminal. */
  static String printable(String text) {
    return Printable.line(text, 300);
  }

  record Frame(int type, byte[] payload) {
    String text() {
      return new String(payload, StandardCharsets.UTF_8);
    }
  }

  static void write(DataOutputStream out, int type, byte[] payload, int off, int len)
      throws IOException {
    out.writeByte(type);
    out.writeInt(len);
    out.write(payload, off, len);
  }

  static void write(DataOutputStream out, int type, byte[] payload) throws IOException {
    write(out, type, payload, 0, payload.length);
    out.flush();
  }

  static void writeText(DataOutputStream out, int type, String text) throws IOException {
    write(out, type, text.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * Reads one frame.
   *
   * @throws CbtfsException for a frame that breaks the protocol (too long, unknown type)
   * @throws EOFException when the peer closed the connection
   */
  static Frame read(DataInputStream in) throws IOException {
    return read(in, MAX_PAYLOAD);
  }

  /** {@link #read(DataInputStream)} with a smaller bound (a HELLO before authentication). */
  static Frame read(DataInputStream in, int maxPayload) throws IOException {
    int type = in.read();
    if (type < 0) {
      throw new EOFException("connection closed");
    }
    if (type < CHALLENGE || type > READ) {
      throw new CbtfsException("protocol error: unknown frame type " + type);
    }
    int len = in.readInt();
    if (len < 0 || len > maxPayload) {
      throw new CbtfsException(
          "protocol error: frame of " + len + " bytes (limit " + maxPayload + ")");
    }
    byte[] payload = new byte[len];
    in.readFully(payload);
    return new Frame(type, payload);
  }

  /** Reads a frame of {@code expected} type; an ERR frame from the peer becomes its message. */
  static Frame expect(DataInputStream in, int expected, String peer) throws IOException {
    Frame f = read(in);
    if (f.type() == ERR) {
      throw new CbtfsException(peer + ": " + printable(f.text()));
    }
    if (f.type() != expected) {
      throw new CbtfsException(
          "protocol error: "
              + peer
              + " sent frame "
              + f.type()
              + " where "
              + expected
              + " was expected");
    }
    return f;
  }
}
