package io.cbtfs.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;

/**
 * Big-endian reads from a client's channel through a small buffer; a payload is read straight into
 * the caller's (direct) buffer. The end of the stream part way through anything is an {@link
 * NbdProtocolException}: a client that hangs up mid-request ends only its own session.
 *
 * <p>Not thread-safe: one session reads.
 */
final class WireInput {
  private final ReadableByteChannel channel;
  private final ByteBuffer buffer = ByteBuffer.allocate(16 << 10).flip();

  WireInput(ReadableByteChannel channel) {
    this.channel = channel;
  }

  /** Whether the client closed the connection cleanly before the next message. */
  boolean atEnd() throws IOException {
    return !buffer.hasRemaining() && !fill(1, false);
  }

  int readInt() throws IOException {
    need(4);
    return buffer.getInt();
  }

  long readLong() throws IOException {
    need(8);
    return buffer.getLong();
  }

  int readUnsignedShort() throws IOException {
    need(2);
    return Short.toUnsignedInt(buffer.getShort());
  }

  /** Fills {@code dst} entirely. */
  void readFully(byte[] dst) throws IOException {
    readFully(ByteBuffer.wrap(dst));
  }

  /** Fills {@code dst}'s remaining bytes entirely. */
  void readFully(ByteBuffer dst) throws IOException {
    if (buffer.hasRemaining()) {
      int n = Math.min(buffer.remaining(), dst.remaining());
      ByteBuffer part = buffer.slice().limit(n);
      dst.put(part);
      buffer.position(buffer.position() + n);
    }
    while (dst.hasRemaining()) {
      if (channel.read(dst) < 0) {
        throw new NbdProtocolException("the client hung up part way through a message");
      }
    }
  }

  /** Reads and drops {@code byteCount} bytes (a payload refused after its header was read). */
  void skip(long byteCount) throws IOException {
    ByteBuffer scratch = ByteBuffer.allocate((int) Math.min(byteCount, 64 << 10));
    long left = byteCount;
    while (left > 0) {
      scratch.clear().limit((int) Math.min(left, scratch.capacity()));
      readFully(scratch);
      left -= scratch.limit();
    }
  }

  private void need(int byteCount) throws IOException {
    if (buffer.remaining() < byteCount) {
      fill(byteCount, true);
    }
  }

  /** Reads until {@code byteCount} bytes are buffered; false at a clean end when not required. */
  private boolean fill(int byteCount, boolean required) throws IOException {
    buffer.compact();
    try {
      while (buffer.position() < byteCount) {
        if (channel.read(buffer) < 0) {
          if (!required && buffer.position() == 0) {
            return false;
          }
          throw new NbdProtocolException("the client hung up part way through a message");
        }
      }
      return true;
    } finally {
      buffer.flip();
    }
  }
}
