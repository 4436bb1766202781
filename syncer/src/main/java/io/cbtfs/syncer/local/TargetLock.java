package io.cbtfs.syncer.local;

import io.cbtfs.tracker.CbtfsException;
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
 * The lock of local targets, between threads (a semaphore per lock file, taken before the file is
 * opened) and between processes (a POSIX record lock on the lock file, which the kernel releases if
 * the holder dies). Unlike a {@code ReentrantLock} it may be released by another thread than the
 * one that took it: a commit takes it and its background settle lets it go.
 *
 * <p>A target has a sync lock ({@link #forSync}: a replica's {@code .NAME.cbtfs-sync}, an archive's
 * {@code .cbtfs-sync}), held by the one sync that stages a delta into it, from its start to its
 * commit; a second sync is refused at once. A replica has a second one, {@code .NAME.cbtfs-lock},
 * for its commit, its settle and the recovery of a journal, which are waited for: the settle
 * outlives the sync (it runs in the background), and a reader of the replica's state must wait for
 * a commit but not for another sync's whole staging. One file for both would refuse the next sync
 * while the last one settles, or make every reader wait out a staging.
 */
final class TargetLock implements Closeable {
  private static final ConcurrentHashMap<Path, Semaphore> IN_THIS_JVM = new ConcurrentHashMap<>();

  private final Semaphore local;
  private final FileChannel file;
  private boolean released;

  private TargetLock(Semaphore local, FileChannel file) {
    this.local = local;
    this.file = file;
  }

  /**
   * Waits for the lock on {@code lockFile}, creating the file if needed (it is never deleted). The
   * caller names it through its folder's real path (as {@link ReplicaTarget} does), so that one
   * semaphore stands for it in this JVM.
   */
  static TargetLock acquire(Path lockFile) throws IOException {
    return take(lockFile, true);
  }

  /**
   * The lock of the one sync that stages a delta into {@code target}, on {@code lockFile}.
   *
   * @param unit what the target is, for the refusal ("replica", "archive")
   * @throws CbtfsException if another sync holds it: one sync per target at a time
   */
  static TargetLock forSync(Path lockFile, String target, String unit) throws IOException {
    TargetLock held = tryAcquire(lockFile);
    if (held == null) {
      throw new CbtfsException(
          "another sync to " + target + " is running; one sync per " + unit + " at a time");
    }
    return held;
  }

  /** The lock on {@code lockFile} if nobody holds it, else null. */
  static TargetLock tryAcquire(Path lockFile) throws IOException {
    return take(lockFile, false);
  }

  private static TargetLock take(Path lockFile, boolean wait) throws IOException {
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
    TargetLock held = null;
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
      held = new TargetLock(local, file);
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
