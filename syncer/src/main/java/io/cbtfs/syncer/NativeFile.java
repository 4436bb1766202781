package io.cbtfs.syncer;

import java.nio.file.Path;
import jnr.ffi.LibraryLoader;

/**
 * A libc descriptor of a file, for the calls the JDK does not offer: where its holes are ({@code
 * lseek(SEEK_DATA)}), reading ahead ({@code posix_fadvise(WILLNEED)}), starting writeback ({@code
 * sync_file_range}) and punching holes ({@code fallocate(PUNCH_HOLE)}). Each is a question, a hint
 * or an offer whose failure only costs time or space: where libc or the file cannot be opened
 * natively, every range counts as data, the hints do nothing and no hole is punched (the caller
 * writes zeros). The page cache is the inode's, so a descriptor of its own serves as well as the
 * JDK's. Thread-safe: every call names its range (lseek with SEEK_DATA only asks, whatever the
 * shared offset).
 */
public final class NativeFile implements AutoCloseable {
  /** The libc calls needed. */
  public interface Libc {
    int open(String path, int flags);

    long lseek(int fd, long offset, int whence);

    int posix_fadvise(int fd, long offset, long len, int advice);

    int sync_file_range(int fd, long offset, long nbytes, int flags);

    int fallocate(int fd, int mode, long offset, long len);

    int close(int fd);
  }

  private static final int O_RDONLY = 0;
  private static final int O_WRONLY = 1;
  private static final int O_NOFOLLOW = 0400000;
  private static final int O_CLOEXEC = 02000000;
  private static final int FALLOC_FL_KEEP_SIZE = 1;
  private static final int FALLOC_FL_PUNCH_HOLE = 2;
  private static final int SEEK_DATA = 3;
  private static final int ENXIO = 6;
  private static final int ENOSYS = 38;
  private static final int EOPNOTSUPP = 95;
  private static final int POSIX_FADV_WILLNEED = 3;
  private static final int SYNC_FILE_RANGE_WRITE = 2;
  private static final Libc LIBC = load();

  private int fd;
  private volatile boolean cannotPunch;

  private NativeFile(int fd) {
    this.fd = fd;
  }

  private static Libc load() {
    try {
      return LibraryLoader.create(Libc.class).load("c");
    } catch (RuntimeException | LinkageError e) {
      return null;
    }
  }

  /** {@code file} opened read-only; one that knows and does nothing if that fails. */
  public static NativeFile open(Path file) {
    int fd = LIBC == null ? -1 : LIBC.open(file.toString(), O_RDONLY | O_CLOEXEC);
    return new NativeFile(fd);
  }

  /**
   * {@code file} opened for writing (never through a symbolic link), to punch holes in; one that
   * punches none if that fails.
   */
  public static NativeFile openForWriting(Path file) {
    int fd = LIBC == null ? -1 : LIBC.open(file.toString(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    return new NativeFile(fd);
  }

  /**
   * Makes {@code [offset, offset + length)} a hole, the file's size unchanged: it reads as zeros
   * and takes no space (partial blocks at its edges are zeroed in place).
   *
   * @return false if no hole was punched (the file system cannot, or the file is not open for
   *     writing natively): the range is as it was, and the caller writes zeros instead
   */
  public boolean punchHole(long offset, long length) {
    if (fd < 0 || cannotPunch) {
      return false;
    }
    if (length <= 0) {
      return true;
    }
    if (LIBC.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) == 0) {
      return true;
    }
    // EOPNOTSUPP, ENOSYS: never here, so ask no more; anything else: this range gets zeros
    int errno = jnr.ffi.Runtime.getRuntime(LIBC).getLastError();
    if (errno == EOPNOTSUPP || errno == ENOSYS) {
      cannotPunch = true;
    }
    return false;
  }

  /**
   * Whether {@code [offset, offset + length)} holds no data (reads as zeros): a sparse image's
   * holes become zero records without being read.
   */
  boolean isHole(long offset, long length) {
    if (fd < 0) {
      return false;
    }
    long data = LIBC.lseek(fd, offset, SEEK_DATA);
    // -1 with ENXIO: no data at or after offset. Any other error: assume data.
    if (data < 0) {
      return jnr.ffi.Runtime.getRuntime(LIBC).getLastError() == ENXIO;
    }
    return data >= offset + length;
  }

  /** Starts reading {@code [offset, offset + length)} into the page cache; returns at once. */
  void willNeed(long offset, long length) {
    if (fd >= 0) {
      LIBC.posix_fadvise(fd, offset, length, POSIX_FADV_WILLNEED);
    }
  }

  /**
   * Queues the writeback of the dirty pages of {@code [offset, offset + length)} and returns, so a
   * later fdatasync waits for less. Promises nothing about durability: that stays fdatasync's job.
   */
  public void startWriteback(long offset, long length) {
    if (fd >= 0) {
      LIBC.sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
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
