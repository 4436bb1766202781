package io.cbtfs.syncer.remote;

import io.cbtfs.syncer.Threads;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The sending side of a connection, with a deadline on every write: a peer that stops taking data
 * (a stopped process, a suspended host, a path that drops everything) would otherwise block a write
 * forever once the socket buffers are full, since a read timeout never applies to a write. A write
 * not done within the timeout closes the plain socket under the TLS one (closing the TLS socket
 * itself waits for the very lock the blocked write holds), so the write fails at once, with a
 * message that says so ({@link StalledWriteException}).
 *
 * <p>Writes go down in pieces of at most {@link #PIECE_BYTES}, each with its own deadline: a slow
 * link fails only if it moves less than a piece per timeout. Thread-safe as the stream it wraps.
 */
final class WriteDeadline extends OutputStream {
  static final int PIECE_BYTES = 64 << 10;

  private static final ScheduledThreadPoolExecutor DEADLINES = deadlines();

  private final OutputStream out;
  private final Socket plain;
  private final long timeoutMillis;
  private final String stalledMessage;
  private volatile boolean expired;

  /**
   * @param out the stream to write to (a TLS socket's, or {@code plain}'s own)
   * @param plain the socket to close when a write misses its deadline
   * @param stalledMessage the message of the write's exception then
   */
  WriteDeadline(OutputStream out, Socket plain, long timeoutMillis, String stalledMessage) {
    this.out = out;
    this.plain = plain;
    this.timeoutMillis = timeoutMillis;
    this.stalledMessage = stalledMessage;
  }

  private static ScheduledThreadPoolExecutor deadlines() {
    ScheduledThreadPoolExecutor e =
        new ScheduledThreadPoolExecutor(1, Threads.daemon("cbtfs-write-deadline"));
    e.setRemoveOnCancelPolicy(true); // one task per piece: cancelled ones must not pile up
    return e;
  }

  @Override
  public void write(int b) throws IOException {
    write(new byte[] {(byte) b}, 0, 1);
  }

  @Override
  public void write(byte[] b, int off, int len) throws IOException {
    for (int done = 0; done < len; ) {
      int n = Math.min(PIECE_BYTES, len - done);
      int at = off + done;
      within(() -> out.write(b, at, n));
      done += n;
    }
  }

  @Override
  public void flush() throws IOException {
    within(out::flush);
  }

  @Override
  public void close() throws IOException {
    out.close();
  }

  /**
   * Closes {@code plain} after {@code timeoutMillis} unless the returned future is cancelled first.
   * Every task of the one deadline thread is such a close, which never blocks (closing a TLS socket
   * could: it waits for a blocked write): one stuck connection delays no other's deadline.
   */
  static ScheduledFuture<?> closeAfter(Socket plain, long timeoutMillis) {
    return DEADLINES.schedule(() -> closeQuietly(plain), timeoutMillis, TimeUnit.MILLISECONDS);
  }

  /**
   * Closes {@code socket} gracefully (a TLS socket sends its close_notify), but closes {@code
   * plain}, the socket under it, if that takes longer than {@code timeoutMillis}: a peer that
   * stopped reading must not hold the close forever once the send buffer is full.
   */
  static void closeWithin(Socket socket, Socket plain, long timeoutMillis) throws IOException {
    ScheduledFuture<?> deadline = closeAfter(plain, timeoutMillis);
    try {
      socket.close();
    } finally {
      deadline.cancel(false);
      plain.close(); // a layered TLS socket that failed early may not close what it wraps
    }
  }

  /** Closes {@code plain} at once, without a TLS goodbye: for a connection given up on. */
  static void abort(Socket socket, Socket plain) {
    closeQuietly(plain); // first: the TLS close below then has nothing to wait for
    closeQuietly(socket);
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // closed already
    }
  }

  private interface Io {
    void run() throws IOException;
  }

  private void within(Io io) throws IOException {
    if (expired) {
      throw new StalledWriteException(stalledMessage, null);
    }
    ScheduledFuture<?> deadline =
        DEADLINES.schedule(this::expire, timeoutMillis, TimeUnit.MILLISECONDS);
    try {
      io.run();
    } catch (IOException e) {
      if (expired) {
        throw new StalledWriteException(stalledMessage, e);
      }
      throw e;
    } finally {
      deadline.cancel(false);
    }
  }

  private void expire() {
    expired = true;
    closeQuietly(plain); // the write fails either way
  }
}
