package io.cbtfs.syncer;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;

/**
 * A stream that can take bytes without copying them: it keeps the buffer until it has used it, then
 * gives it back. {@link DeltaWriter} lends record payloads this way to a stream that offers it, so
 * a payload read from the image goes to the staging file without passing through the heap. Bytes
 * written as arrays are copied ({@link #copy}).
 */
public abstract class BorrowingStream extends OutputStream {
  /**
   * Appends {@code bytes} (position to limit) after everything written so far. {@code giveBack}
   * runs exactly once, on any thread, once the stream no longer needs them (also when it fails);
   * until then the caller leaves them alone.
   */
  public abstract void borrow(ByteBuffer bytes, Runnable giveBack) throws IOException;

  /** Appends a copy of {@code bytes} (position to limit), made before this returns. */
  public abstract void copy(ByteBuffer bytes) throws IOException;

  @Override
  public final void write(int b) throws IOException {
    copy(ByteBuffer.wrap(new byte[] {(byte) b}));
  }

  @Override
  public final void write(byte[] b, int off, int len) throws IOException {
    copy(ByteBuffer.wrap(b, off, len));
  }
}
