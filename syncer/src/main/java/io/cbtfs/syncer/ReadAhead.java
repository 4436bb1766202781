package io.cbtfs.syncer;

import java.nio.file.Path;
import jnr.ffi.LibraryLoader;

/**
 * Asks the kernel to start reading ranges the sync will read soon ({@code
 * posix_fadvise(POSIX_FADV_WILLNEED)}), so the disk works on them while earlier runs are encoded.
 * The sync's own reads come from several threads at once, which the kernel's readahead does not
 * recognise as one sequential stream. Where the call is missing it does nothing.
 */
final class ReadAhead implements AutoCloseable {
  /** The libc calls needed. */
  public interface Libc {
    int open(String path, int flags);

    int posix_fadvise(int fd, long offset, long len, int advice);

    int close(int fd);
  }

  private static final int O_RDONLY = 0;
  private static final int O_CLOEXEC = 02000000;
  private static final int POSIX_FADV_WILLNEED = 3;
  private static final Libc LIBC = load();

  private int fd;

  private ReadAhead(int fd) {
    this.fd = fd;
  }

  private static Libc load() {
    try {
      return LibraryLoader.create(Libc.class).load("c");
    } catch (RuntimeException | LinkageError e) {
      return null;
    }
  }

  /** Read-ahead for {@code file} (a descriptor of its own: the page cache is the inode's). */
  static ReadAhead of(Path file) {
    int fd = LIBC == null ? -1 : LIBC.open(file.toString(), O_RDONLY | O_CLOEXEC);
    return new ReadAhead(fd);
  }

  /** Starts reading {@code [offset, offset + length)} into the page cache; returns at once. */
  void willNeed(long offset, long length) {
    if (fd >= 0) {
      LIBC.posix_fadvise(fd, offset, length, POSIX_FADV_WILLNEED); // a failure costs only time
    }
  }

  @Override
  public void close() {
    if (fd >= 0) {
      LIBC.close(fd);
      fd = -1;
    }
  }
}
