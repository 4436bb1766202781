package io.cbtfs.syncer;

import java.nio.file.Path;
import jnr.ffi.LibraryLoader;

/**
 * Starts the kernel's writeback of a file's dirty pages early with {@code
 * sync_file_range(SYNC_FILE_RANGE_WRITE)}, which queues the writes and returns: the fdatasync that
 * later makes the file durable then waits for less. It promises nothing about durability (it does
 * not flush metadata or the disk cache); that stays the fdatasync's job. Where the call is missing
 * it does nothing.
 */
public final class Writeback implements AutoCloseable {
  /** The libc calls needed. */
  public interface Libc {
    int open(String path, int flags);

    int sync_file_range(int fd, long offset, long nbytes, int flags);

    int close(int fd);
  }

  private static final int O_RDONLY = 0;
  private static final int O_CLOEXEC = 02000000;
  private static final int SYNC_FILE_RANGE_WRITE = 2;
  private static final Libc LIBC = load();

  private int fd;

  private Writeback(int fd) {
    this.fd = fd;
  }

  private static Libc load() {
    try {
      return LibraryLoader.create(Libc.class).load("c");
    } catch (RuntimeException | LinkageError e) {
      return null;
    }
  }

  /** Writeback for {@code file} (a descriptor of its own: the page cache is the inode's). */
  public static Writeback of(Path file) {
    int fd = LIBC == null ? -1 : LIBC.open(file.toString(), O_RDONLY | O_CLOEXEC);
    return new Writeback(fd);
  }

  /** Queues the writeback of {@code [offset, offset + length)}; length 0 means to the end. */
  public void start(long offset, long length) {
    if (fd >= 0) {
      LIBC.sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE); // a failure costs only time
    }
  }

  /** Closes the descriptor; a second call does nothing. */
  @Override
  public void close() {
    if (fd >= 0) {
      LIBC.close(fd);
      fd = -1;
    }
  }
}
