package io.cbtfs.syncer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/** Positional reads of an image that may shrink while it is read. */
public final class ImageReads {
  private ImageReads() {}

  /**
   * Fills {@code data[0, length)} from {@code offset} with positional reads; bytes past the end of
   * the file (it shrank, or the other side of a comparison is shorter) read as zero.
   */
  public static void readFully(FileChannel ch, long offset, byte[] data, int length)
      throws IOException {
    readFully(ch, offset, ByteBuffer.wrap(data, 0, length));
  }

  /**
   * Fills {@code into}, position to limit, with the bytes from {@code offset} on (zeros past the
   * end of the file). A direct buffer is filled by the kernel itself; a heap one through a copy.
   */
  public static void readFully(FileChannel ch, long offset, ByteBuffer into) throws IOException {
    ByteBuffer b = into.duplicate();
    int from = b.position();
    while (b.hasRemaining()) {
      if (ch.read(b, offset + b.position() - from) < 0) {
        while (b.hasRemaining()) {
          b.put((byte) 0);
        }
        return;
      }
    }
  }
}
