package io.cbtfs.syncer.target;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;

/**
 * Serialises the commit, settle and recovery of one replica, between threads (a semaphore per lock
 * file) and between processes (a POSIX record lock on the lock file, which the kernel releases if
 * the holder dies). Unlike a {@code ReentrantLock} it may be released by another thread than the
 * one that took it: a commit takes it and its background settle lets it go.
 */
final class ReplicaLock implements AutoCloseable {
  private static final ConcurrentHashMap<Path, Semaphore> IN_THIS_JVM = new ConcurrentHashMap<>();

  private final Semaphore local;
  private final FileChannel file;
  private boolean released;

  private ReplicaLock(Semaphore local, FileChannel file) {
    this.local = local;
    this.file = file;
  }

  /** Waits for the lock on {@code lockFile}, creating the file if needed (it is never deleted). */
  static ReplicaLock acquire(Path lockFile) throws IOException {
    Semaphore local =
        IN_THIS_JVM.computeIfAbsent(lockFile.toAbsolutePath().normalize(), k -> new Semaphore(1));
    try {
      local.acquire();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted waiting for " + lockFile);
    }
    FileChannel file = null;
    try {
      file =
          FileChannel.open(
              lockFile,
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE,
              LinkOption.NOFOLLOW_LINKS);
      file.lock();
      return new ReplicaLock(local, file);
    } catch (IOException | RuntimeException e) {
      if (file != null) {
        file.close();
      }
      local.release();
      throw e;
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
