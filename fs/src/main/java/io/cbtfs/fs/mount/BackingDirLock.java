package io.cbtfs.fs.mount;

import io.cbtfs.fs.Posix;
import io.cbtfs.tracker.CbtfsException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An exclusive {@code flock} on the backing folder itself, held while it is served. The lock is on
 * the folder's inode, so a second mount finds it whatever path names the folder (a symbolic link, a
 * bind mount, another state directory): two mounts of one folder would each track only their own
 * writes, and a sync of one would miss the other's. Released when the process ends, however it
 * ends.
 */
final class BackingDirLock implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(BackingDirLock.class);

  private final Posix posix;
  private int fd;

  private BackingDirLock(Posix posix, int fd) {
    this.posix = posix;
    this.fd = fd;
  }

  /**
   * Locks {@code backingDir} (a real path).
   *
   * @throws CbtfsException if another mount holds it
   */
  static BackingDirLock acquire(Path backingDir) throws java.io.IOException {
    Posix posix = Posix.get();
    int fd = posix.open(backingDir.toString(), 0, 0); // O_RDONLY; O_CLOEXEC added by open
    if (posix.libc().flock(fd, Posix.LOCK_EX | Posix.LOCK_NB) != 0) {
      int errno = posix.runtime().getLastError();
      posix.libc().close(fd);
      if (errno == Posix.EAGAIN) {
        throw new CbtfsException(
            "backing directory " + backingDir + " is already served by another cbtfs mount");
      }
      // a file system without flock (some network ones): the state directory's lock remains
      log.warn(
          "cannot lock backing directory {}: {}; not guarded against a second mount",
          backingDir,
          posix.libc().strerror(errno));
      return new BackingDirLock(posix, -1);
    }
    return new BackingDirLock(posix, fd);
  }

  /** Whether another mount holds {@code backingDir} now (a check before a daemon starts). */
  static void check(Path backingDir) throws java.io.IOException {
    acquire(backingDir).close();
  }

  @Override
  public synchronized void close() {
    if (fd >= 0) {
      posix.libc().close(fd); // closing the only descriptor releases the flock
      fd = -1;
    }
  }
}
