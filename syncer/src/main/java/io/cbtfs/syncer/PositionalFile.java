package io.cbtfs.syncer;

import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * A stored file read by position: a local file, or one a receiver serves over the network. What
 * reads a delta in place ({@link DeltaIndex}) reads through this, so that a local archive and a
 * remote one share one code path. Implementations are thread-safe.
 */
public interface PositionalFile extends Closeable {
  /** The file's length in bytes. */
  long byteSize() throws IOException;

  /**
   * Reads up to {@code into.remaining()} bytes at {@code byteOffset}, as {@link
   * FileChannel#read(ByteBuffer, long)} does.
   *
   * @return the bytes read, at least one unless {@code into} is full; -1 at or past the end
   */
  int read(ByteBuffer into, long byteOffset) throws IOException;

  /** The file from {@code byteOffset} on, as a stream buffered by {@code bufferBytes}. */
  default InputStream stream(long byteOffset, int bufferBytes) {
    PositionalFile file = this;
    return new BufferedInputStream(
        new InputStream() {
          private long at = byteOffset;

          @Override
          public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
          }

          @Override
          public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
              return 0;
            }
            int n = file.read(ByteBuffer.wrap(b, off, len), at);
            if (n > 0) {
              at += n;
            }
            return n;
          }
        },
        bufferBytes);
  }

  /** {@code channel} read by position; closing it closes the channel. */
  static PositionalFile of(FileChannel channel) {
    return new PositionalFile() {
      @Override
      public long byteSize() throws IOException {
        return channel.size();
      }

      @Override
      public int read(ByteBuffer into, long byteOffset) throws IOException {
        return channel.read(into, byteOffset);
      }

      @Override
      public void close() throws IOException {
        channel.close();
      }
    };
  }
}
