package io.cbtfs.syncer.target;

import io.cbtfs.syncer.RecordKind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Writes verified bytes into an image file: the one apply step of replicas and restores (the S3
 * restore too).
 */
public final class RecordWrites {
  private static final byte[] ZEROS = new byte[1 << 20];

  private RecordWrites() {}

  /**
   * Writes the record's bytes at its offset. A zero record past the file's current end writes
   * nothing: the final truncate to the image size makes that range read as zeros (sparse).
   */
  static void apply(FileChannel out, RecordKind kind, long offset, byte[] data, int length)
      throws IOException {
    if (kind == RecordKind.ZERO) {
      zero(out, offset, length);
    } else {
      writeFully(out, ByteBuffer.wrap(data, 0, length), offset);
    }
  }

  /** A zero record's write: zeros over {@code length} bytes, nothing past the file's end. */
  static void zero(FileChannel out, long offset, int length) throws IOException {
    if (offset >= out.size()) {
      return;
    }
    for (int done = 0; done < length; ) {
      int n = Math.min(ZEROS.length, length - done);
      writeFully(out, ByteBuffer.wrap(ZEROS, 0, n), offset + done);
      done += n;
    }
  }

  /** Sets the file to the image size: truncates, or extends sparsely. */
  public static void resize(FileChannel out, long imageSize) throws IOException {
    out.truncate(imageSize);
    if (out.size() < imageSize) {
      out.write(ByteBuffer.allocate(1), imageSize - 1);
    }
  }

  /** Writes the remaining bytes of {@code b}, its current position going to {@code offset}. */
  public static void writeFully(FileChannel out, ByteBuffer b, long offset) throws IOException {
    long start = offset - b.position();
    while (b.hasRemaining()) {
      out.write(b, start + b.position());
    }
  }
}
