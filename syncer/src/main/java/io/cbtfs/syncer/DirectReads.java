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
 * <p>Reads go straight into the caller's buffer, one it took from {@link #newBuffer}: aligned,
 * direct, no copy. What a direct read cannot serve goes through the page cache: a run not aligned
 * to the block, the part of a run past a short read (the tail of an image of odd size), and every
 * run after a direct read failed (a device that wants larger alignment than its file system
 * reports).
 */
final class DirectReads implements AutoCloseable {
  private final FileChannel channel;
  private final FileChannel buffered;
  private final int align;
  private volatile boolean failed;

  /** Direct I/O wants the device's logical block; 4 KiB satisfies 512-byte and 4Kn devices. */
  private static final int MIN_ALIGN = 4096;

  private DirectReads(FileChannel channel, FileChannel buffered, int align) {
    this.channel = channel;
    this.buffered = buffered;
    this.align = align;
  }

  /**
   * A buffer a direct read of up to {@code bytes} bytes can fill in place: direct, its size and its
   * address multiples of the alignment.
   */
  ByteBuffer newBuffer(int bytes) {
    int size = roundUp(bytes, align);
    return ByteBuffer.allocateDirect(size + align).alignedSlice(align).limit(size).slice();
  }

  /**
   * {@code file} opened for direct reads, with {@code buffered} (the caller's, left open) for what
   * cannot be read directly; null where its file system refuses O_DIRECT (tmpfs before Linux 6.6,
   * some FUSE file systems): then the caller reads through the page cache.
   */
  static DirectReads open(Path file, FileChannel buffered) {
    try {
      int align = Math.max(MIN_ALIGN, Math.toIntExact(Files.getFileStore(file).getBlockSize()));
      if (Integer.bitCount(align) != 1 || align > 1 << 16) {
        return null;
      }
      FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, ExtendedOpenOption.DIRECT);
      return new DirectReads(ch, buffered, align);
    } catch (IOException | UnsupportedOperationException | ArithmeticException e) {
      return null;
    }
  }

  /**
   * Fills {@code into} from {@code offset}, position to limit, as {@link ImageReads#readFully}:
   * bytes past the end of the file read as zero. Direct when {@code into} came from {@link
   * #newBuffer} (or is as aligned) and starts at its position 0.
   */
  void readFully(long offset, ByteBuffer into) throws IOException {
    int length = into.remaining();
    if (failed || (offset & (align - 1)) != 0 || !fitsDirect(into)) {
      ImageReads.readFully(buffered, offset, into);
      return;
    }
    ByteBuffer b = into.duplicate().limit(roundUp(length, align));
    try {
      while (b.position() < length) {
        int n = channel.read(b, offset + b.position());
        if (n <= 0 || (b.position() & (align - 1)) != 0) {
          break; // the end of the file, or a short read: the rest comes through the page cache
        }
      }
    } catch (IOException e) {
      failed = true; // a true read error shows again through the page cache, and is thrown there
      ImageReads.readFully(buffered, offset, into);
      return;
    }
    int got = Math.min(b.position(), length);
    if (got < length) {
      ImageReads.readFully(buffered, offset + got, into.duplicate().position(got));
    }
  }

  /** Whether a direct read can fill {@code b} in place: direct, aligned, room for whole sectors. */
  private boolean fitsDirect(ByteBuffer b) {
    return b.isDirect()
        && b.position() == 0
        && b.alignmentOffset(0, align) == 0
        && roundUp(b.limit(), align) <= b.capacity();
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
