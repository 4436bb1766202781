package io.cbtfs.fs.mount;

import io.cbtfs.fs.Posix;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which file system a mount is: the device number (st_dev) of its mount point, taken right after
 * mounting. After a lazy detach ({@code umount -l}, or a busy stop's own) another file system can
 * be mounted on the same path, and the mount may still serve writers that kept their descriptors;
 * whatever a mount does through its path (flush the kernel's cache, unmount) checks first that the
 * path still shows this mount, and refuses otherwise, instead of acting on the other one.
 *
 * <p>It holds no descriptor of the mount: one would keep it busy (a plain umount fails) and keep a
 * lazily detached mount alive after its last writer, so the daemon would never see it go.
 * Thread-safe (immutable).
 */
final class MountIdentity {
  private static final Logger log = LoggerFactory.getLogger(MountIdentity.class);

  /** The system calls it makes; tests fake them. */
  interface Calls {
    /** st_dev of what {@code path} names (lstat). */
    long deviceAt(Path path) throws IOException;

    /** Opens {@code path} read-only; returns the descriptor. */
    int openReadOnly(Path path) throws IOException;

    /** st_dev of the file open on {@code fd} (fstat). */
    long deviceOf(int fd) throws IOException;

    void fdatasync(int fd, Path path) throws IOException;

    void close(int fd);
  }

  /** An unmount by path, run only while the path shows this mount. */
  interface Unmount {
    void run() throws IOException;
  }

  private final Path mountPoint;
  private final long device;
  private final Calls calls;

  private MountIdentity(Path mountPoint, long device, Calls calls) {
    this.mountPoint = mountPoint;
    this.device = device;
    this.calls = calls;
  }

  /** Records the mount now on {@code mountPoint}: call right after it serves. */
  static MountIdentity record(Path mountPoint, Calls calls) throws IOException {
    return new MountIdentity(mountPoint, calls.deviceAt(mountPoint), calls);
  }

  /** {@link #record} through the real system calls. */
  static MountIdentity record(Path mountPoint) throws IOException {
    return record(mountPoint, new PosixCalls(Posix.get()));
  }

  /** Whether {@link #mountPoint} still shows this mount (false if it cannot be looked at). */
  boolean isAtPath() {
    try {
      return calls.deviceAt(mountPoint) == device;
    } catch (IOException e) {
      return false;
    }
  }

  /** The one-line reason an action through the path is refused. */
  String notThisMount() {
    return mountPoint + " is no longer this mount (detached lazily?)";
  }

  /**
   * Writes back the kernel's dirty pages of {@code imageName} through this mount: fdatasync of the
   * image opened through the mount point, after checking that what was opened is on this mount.
   *
   * @throws CbtfsException when the mount point shows another file system (or none)
   */
  void flush(String imageName) throws IOException {
    Path image = mountPoint.resolve(imageName);
    int fd;
    try {
      fd = calls.openReadOnly(image);
    } catch (IOException e) {
      if (!isAtPath()) {
        throw new CbtfsException(notThisMount() + ": cannot flush " + imageName + ": " + e, e);
      }
      throw e;
    }
    try {
      if (calls.deviceOf(fd) != device) {
        throw new CbtfsException(
            notThisMount() + ": " + image + " is on another file system; not flushing it");
      }
      calls.fdatasync(fd, image);
    } finally {
      calls.close(fd);
    }
  }

  /**
   * Runs {@code unmount} if the mount point still shows this mount; otherwise leaves the path alone
   * (this mount was detached already; what is there now is another's) and says so.
   *
   * @return whether it ran
   */
  boolean unmountIfAtPath(Unmount unmount) throws IOException {
    if (!isAtPath()) {
      log.warn("{}: not unmounting what is mounted there now", notThisMount());
      return false;
    }
    unmount.run();
    return true;
  }

  /** {@link Calls} through {@link Posix}. */
  private static final class PosixCalls implements Calls {
    private final Posix posix;

    PosixCalls(Posix posix) {
      this.posix = posix;
    }

    @Override
    public long deviceAt(Path path) throws IOException {
      jnr.ffi.Pointer stat = posix.allocateStat();
      posix.lstat(path.toString(), stat);
      return posix.device(stat);
    }

    @Override
    public int openReadOnly(Path path) throws IOException {
      return posix.open(path.toString(), Posix.O_RDONLY, 0);
    }

    @Override
    public long deviceOf(int fd) throws IOException {
      jnr.ffi.Pointer stat = posix.allocateStat();
      posix.fstat(fd, stat);
      return posix.device(stat);
    }

    @Override
    public void fdatasync(int fd, Path path) throws IOException {
      posix.check(posix.libc().fdatasync(fd), "fdatasync", path);
    }

    @Override
    public void close(int fd) {
      posix.libc().close(fd);
    }
  }
}
