package io.cbtfs.syncer;

import java.nio.file.Path;
import jnr.ffi.LibraryLoader;

/**
 * Finds holes of a sparse image with {@code lseek(SEEK_DATA)}, so a run that lies entirely in a
 * hole becomes a zero record without reading it (a thin 200 GB image is mostly holes). Where the
 * file system or the platform cannot say, every range counts as data. Thread-safe (lseek with an
 * explicit offset and whence does not depend on a shared position in a way that matters here: the
 * result is only an answer about the file's layout).
 */
final class HoleProbe implements AutoCloseable {
  /** The libc calls needed. */
  public interface Seek {
    int open(String path, int flags);

    long lseek(int fd, long offset, int whence);

    int close(int fd);
  }

  private static final int O_RDONLY = 0;
  private static final int O_CLOEXEC = 02000000;
  private static final int SEEK_DATA = 3;
  private static final Seek LIBC = load();

  private final int fd;

  private HoleProbe(int fd) {
    this.fd = fd;
  }

  private static Seek load() {
    try {
      return LibraryLoader.create(Seek.class).load("c");
    } catch (RuntimeException | LinkageError e) {
      return null;
    }
  }

  /** A probe of {@code file}; one that finds no holes if the file cannot be opened natively. */
  static HoleProbe open(Path file) {
    int fd = LIBC == null ? -1 : LIBC.open(file.toString(), O_RDONLY | O_CLOEXEC);
    return new HoleProbe(fd);
  }

  /** Whether {@code [offset, offset + length)} holds no data (reads as zeros). */
  boolean isHole(long offset, long length) {
    if (fd < 0) {
      return false;
    }
    long data = LIBC.lseek(fd, offset, SEEK_DATA);
    // -1 with ENXIO: no data at or after offset. Any other error: assume data.
    if (data < 0) {
      return jnr.ffi.Runtime.getRuntime(LIBC).getLastError() == 6; // ENXIO
    }
    return data >= offset + length;
  }

  @Override
  public void close() {
    if (fd >= 0) {
      LIBC.close(fd);
    }
  }
}
