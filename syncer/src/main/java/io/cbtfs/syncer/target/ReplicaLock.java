package io.cbtfs.syncer.target;

import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;

/**
 * Serialises the commit, settle and recovery of one replica (or, on a second file, its syncs),
 * between threads (a semaphore per lock file, taken before the file is opened) and between
 * processes (a POSIX record lock on the lock file, which the kernel releases if the holder dies).
 * Unlike a {@code ReentrantLock} it may be released by another thread than the one that took it: a
 * commit takes it and its background settle lets it go.
 */
final class ReplicaLock implements Closeable {
  private static final ConcurrentHashMap<Path, Semaphore> IN_THIS_JVM = new ConcurrentHashMap<>();

  private final Semaphore local;
  private final FileChannel file;
  private boolean released;

  private ReplicaLock(Semaphore local, FileChannel file) {
    this.local = local;
    this.file = file;
  }

  /**
   * Waits for the lock on {@code lockFile}, creating the file if needed (it is never deleted). The
   * caller names it through its folder's real path (as {@link ReplicaTarget} does), so that one
   * semaphore stands for it in this JVM.
   */
  static ReplicaLock acquire(Path lockFile) throws IOException {
    return take(lockFile, true);
  }

  /** The lock on {@code lockFile} if nobody holds it, else null. */
  static ReplicaLock tryAcquire(Path lockFile) throws IOException {
    return take(lockFile, false);
  }

  private static ReplicaLock take(Path lockFile, boolean wait) throws IOException {
    // The semaphore comes first and guards every open of the lock file in this JVM: closing any
    // descriptor of a file drops all of the process's POSIX locks on it, so only the holder may
    // have it open.
    Semaphore local =
        IN_THIS_JVM.computeIfAbsent(lockFile.toAbsolutePath().normalize(), k -> new Semaphore(1));
    if (wait) {
      try {
        local.acquire();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted waiting for " + lockFile);
      }
    } else if (!local.tryAcquire()) {
      return null;
    }
    FileChannel file = null;
    ReplicaLock held = null;
    try {
      file =
          FileChannel.open(
              lockFile,
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE,
              LinkOption.NOFOLLOW_LINKS);
      if (wait) {
        file.lock();
      } else if (file.tryLock() == null) { // another process holds it
        return null;
      }
      held = new ReplicaLock(local, file);
      return held;
    } finally {
      if (held == null) { // not taken, or failed: give back what was taken on the way
        try {
          if (file != null) {
            file.close();
          }
        } finally {
          local.release();
        }
      }
    }
  }

  @Override
  public synchronized void close() throws IOException {
    if (!released) {
      released = true;
      try {
        file.close(); // releases the record lock
      } finally {
        local.release();
      }
    }
  }
}
