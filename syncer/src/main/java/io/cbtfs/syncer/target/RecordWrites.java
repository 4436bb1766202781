package io.cbtfs.syncer.target;

import io.cbtfs.syncer.RecordKind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/** Writes a verified record into an image file: the one apply step of replicas and restores. */
final class RecordWrites {
  private static final byte[] ZEROS = new byte[1 << 20];

  private RecordWrites() {}

  /**
   * Writes the record's bytes at its offset. A zero record past the file's current end writes
   * nothing: the final truncate to the image size makes that range read as zeros (sparse).
   */
  static void apply(FileChannel out, RecordKind kind, long offset, byte[] data, int length)
      throws IOException {
    if (kind == RecordKind.ZERO) {
      if (offset >= out.size()) {
        return;
      }
      for (int done = 0; done < length; ) {
        int n = Math.min(ZEROS.length, length - done);
        writeFully(out, ByteBuffer.wrap(ZEROS, 0, n), offset + done);
        done += n;
      }
      return;
    }
    writeFully(out, ByteBuffer.wrap(data, 0, length), offset);
  }

  /**
   * Copies {@code length} bytes of {@code from} at {@code at} to {@code out} at {@code offset}
   * through {@code buffer}, a direct buffer: two copies in the kernel and none on the heap. (The
   * kernel's own file-to-file copy, sendfile, measured slower for 64 KiB records.) Returns the
   * buffer, grown if it was too small.
   */
  static ByteBuffer copy(
      FileChannel from, long at, int length, FileChannel out, long offset, ByteBuffer buffer)
      throws IOException {
    ByteBuffer b =
        buffer != null && buffer.capacity() >= length ? buffer : ByteBuffer.allocateDirect(length);
    b.clear().limit(length);
    while (b.hasRemaining()) {
      if (from.read(b, at + b.position()) < 0) {
        throw new IOException("the journal ended early at " + (at + b.position()));
      }
    }
    b.flip();
    writeFully(out, b, offset);
    return b;
  }

  /** Sets the file to the image size: truncates, or extends sparsely. */
  static void resize(FileChannel out, long imageSize) throws IOException {
    out.truncate(imageSize);
    if (out.size() < imageSize) {
      out.write(ByteBuffer.allocate(1), imageSize - 1);
    }
  }

  private static void writeFully(FileChannel out, ByteBuffer b, long offset) throws IOException {
    long start = offset - b.position();
    while (b.hasRemaining()) {
      out.write(b, start + b.position());
    }
  }
}
