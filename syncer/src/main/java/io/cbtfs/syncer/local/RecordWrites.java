package io.cbtfs.syncer.local;

import io.cbtfs.syncer.RecordKind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Writes verified bytes into an image file: the one apply step of replicas and restores (the S3
 * restore too). A zero record leaves a hole, so a sparse image stays sparse in its copies: past the
 * file's end it writes nothing (the final {@link #resize} extends the file sparsely), inside the
 * file it punches a hole, and only where the file system cannot punch does it write zeros.
 */
public final class RecordWrites {
  private static final byte[] ZEROS = new byte[1 << 20];

  /** Makes a range of the file read as zeros without writing them; false if it cannot. */
  @FunctionalInterface
  public interface Holes {
    /**
     * @return false if the range is as it was: the caller must write zeros
     */
    boolean punch(long byteOffset, long byteLength) throws IOException;
  }

  /** Punches no hole: zero records inside the file write zeros. */
  public static final Holes NO_HOLES = (byteOffset, byteLength) -> false;

  private RecordWrites() {}

  /** Writes the record's bytes at its offset; a zero record leaves a hole ({@link #zero}). */
  static void apply(
      FileChannel out, Holes holes, RecordKind kind, long offset, byte[] data, int length)
      throws IOException {
    if (kind == RecordKind.ZERO) {
      zero(out, holes, offset, length);
    } else {
      writeFully(out, ByteBuffer.wrap(data, 0, length), offset);
    }
  }

  /**
   * A zero record's write: {@code [offset, offset + length)} reads as zeros once the file is set to
   * its image size. The part inside the file becomes a hole ({@code holes}), or zeros where no hole
   * can be punched; the part past the file's end is left alone.
   */
  public static void zero(FileChannel out, Holes holes, long offset, long length)
      throws IOException {
    long end = Math.min(offset + length, out.size());
    if (offset >= end || holes.punch(offset, end - offset)) {
      return;
    }
    for (long at = offset; at < end; ) {
      int n = (int) Math.min(ZEROS.length, end - at);
      writeFully(out, ByteBuffer.wrap(ZEROS, 0, n), at);
      at += n;
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
