package io.cbtfs.fs.overlay;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.FileChannel;

/**
 * Forces a file for many writers at once (a group commit): a writer whose bytes are written calls
 * {@link #force}, which returns once a force that began after its call has ended. While one force
 * runs, the writers that arrive wait for the next, which one of them starts for all: with many
 * first writes in flight the overlay forces its file once per group, not once per write.
 *
 * <p>A failed force fails every writer it covered and every later one: after a failed fsync Linux
 * may have dropped the dirty pages, so a later force that succeeds proves nothing (the overlay's
 * writes then fail until it is mounted again, which re-reads what the maps say it holds).
 *
 * <p>Thread-safe.
 */
final class GroupForce {
  /** What makes the file's written bytes durable: {@code FileChannel.force(false)}. */
  interface Forcer {
    void force() throws IOException;
  }

  private final Forcer file;
  private long issued; // tickets handed out, one a call
  private long forced; // every ticket up to this one is durable
  private boolean forcing;
  private IOException failure;

  GroupForce(FileChannel file) {
    this(() -> file.force(false));
  }

  GroupForce(Forcer file) {
    this.file = file;
  }

  /** Whether a force failed: the file may have lost bytes its writers were told are durable. */
  synchronized boolean failed() {
    return failure != null;
  }

  /** Returns once everything written to the file before this call is durable. */
  void force() throws IOException {
    long mine;
    synchronized (this) {
      mine = ++issued;
    }
    while (true) {
      long upTo;
      synchronized (this) {
        while (forcing && forced < mine && failure == null) {
          try {
            wait();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while the overlay file was forced");
          }
        }
        if (failure != null) {
          throw new IOException("cannot force the overlay file: " + failure.getMessage(), failure);
        }
        if (forced >= mine) {
          return;
        }
        forcing = true; // this writer forces for every ticket handed out so far
        upTo = issued;
      }
      IOException failed = null;
      try {
        file.force();
      } catch (IOException e) {
        failed = e;
      }
      synchronized (this) {
        forcing = false;
        if (failed == null) {
          forced = Math.max(forced, upTo);
        } else if (failure == null) {
          failure = failed;
        }
        notifyAll();
      }
    }
  }
}
