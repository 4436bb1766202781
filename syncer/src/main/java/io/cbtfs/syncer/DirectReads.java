package io.cbtfs.syncer;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Reads of an image that bypass the page cache (O_DIRECT), for a sync that reads the whole image
 * once. Through the page cache the kernel spends most of a core per GiB/s on it (fio, this machine:
 * 80% of a core buffered against 10% direct at 1.1 GiB/s), which two cores cannot spare at the
 * disk's rate, and it would push everything else out of the cache. The kernel writes a range's
 * dirty pages back before it reads it directly, so a direct read sees the latest writes.
 *
 * <p>Each thread reads through its own aligned buffer and copies into the caller's array. What a
 * direct read cannot serve goes through the page cache: a run not aligned to the block, the part of
 * a run past a short read (the tail of an image of odd size), and every run after a direct read
 * failed (a device that wants larger alignment than its file system reports).
 */
final class DirectReads implements AutoCloseable {
  private final FileChannel channel;
  private final FileChannel buffered;
  private final int align;
  private final int bufferBytes;
  private final ThreadLocal<ByteBuffer> buffers;
  private volatile boolean failed;

  /** Direct I/O wants the device's logical block; 4 KiB satisfies 512-byte and 4Kn devices. */
  private static final int MIN_ALIGN = 4096;

  private DirectReads(FileChannel channel, FileChannel buffered, int align, int maxLength) {
    this.channel = channel;
    this.buffered = buffered;
    this.align = align;
    this.bufferBytes = roundUp(maxLength, align);
    this.buffers =
        ThreadLocal.withInitial(
            () -> ByteBuffer.allocateDirect(bufferBytes + align).alignedSlice(align));
  }

  /**
   * {@code file} opened for direct reads of up to {@code maxLength} bytes at a time, with {@code
   * buffered} (the caller's, left open) for what cannot be read directly; null where its file
   * system refuses O_DIRECT (tmpfs before Linux 6.6, some FUSE file systems): then the caller reads
   * through the page cache.
   */
  static DirectReads open(Path file, FileChannel buffered, int maxLength) {
    try {
      int align = Math.max(MIN_ALIGN, Math.toIntExact(Files.getFileStore(file).getBlockSize()));
      if (Integer.bitCount(align) != 1 || align > 1 << 16) {
        return null;
      }
      FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, ExtendedOpenOption.DIRECT);
      return new DirectReads(ch, buffered, align, maxLength);
    } catch (IOException | UnsupportedOperationException | ArithmeticException e) {
      return null;
    }
  }

  /**
   * Fills {@code data[0, length)} from {@code offset}, as {@link ImageReads#readFully}: bytes past
   * the end of the file read as zero.
   */
  void readFully(long offset, byte[] data, int length) throws IOException {
    if (failed || (offset & (align - 1)) != 0 || length > bufferBytes) {
      ImageReads.readFully(buffered, offset, data, length);
      return;
    }
    ByteBuffer b = buffers.get().clear().limit(roundUp(length, align));
    try {
      while (b.position() < length) {
        int n = channel.read(b, offset + b.position());
        if (n <= 0 || (b.position() & (align - 1)) != 0) {
          break; // the end of the file, or a short read: the rest comes through the page cache
        }
      }
    } catch (IOException e) {
      failed = true; // a true read error shows again through the page cache, and is thrown there
      ImageReads.readFully(buffered, offset, data, length);
      return;
    }
    int got = Math.min(b.position(), length);
    b.flip().get(data, 0, got);
    if (got < length) {
      ImageReads.readFully(buffered, offset + got, data, got, length - got);
    }
  }

  private static int roundUp(int n, int align) {
    return (n + align - 1) & -align;
  }

  /** Closes the direct descriptor (not the caller's). */
  @Override
  public void close() throws IOException {
    channel.close();
  }
}
