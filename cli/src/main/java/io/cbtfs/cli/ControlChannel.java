package io.cbtfs.cli;

import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * One control connection in non-blocking mode, so that every wait has a deadline: a peer that sends
 * nothing, or stops reading, costs bounded time, never a thread forever (unlike a blocking channel,
 * a Unix socket channel has no read timeout). Used by one thread at a time; {@link #wakeup} from
 * any.
 */
final class ControlChannel implements AutoCloseable {
  private final SocketChannel channel;
  private final Selector selector;
  private final SelectionKey key;
  private final ByteBuffer probe = ByteBuffer.allocate(64);

  private ControlChannel(SocketChannel channel) throws IOException {
    this.channel = channel;
    channel.configureBlocking(false);
    this.selector = Selector.open();
    this.key = channel.register(selector, 0);
  }

  /** Takes over an accepted connection. */
  static ControlChannel of(SocketChannel accepted) throws IOException {
    try {
      return new ControlChannel(accepted);
    } catch (IOException | RuntimeException e) {
      accepted.close();
      throw e;
    }
  }

  /**
   * Connects to {@code socket}, waiting at most {@code timeoutNanos}.
   *
   * @throws java.net.ConnectException if nothing listens there (a stale socket)
   */
  static ControlChannel connect(Path socket, long timeoutNanos) throws IOException {
    ControlChannel c = of(SocketChannel.open(StandardProtocolFamily.UNIX));
    try {
      if (!c.channel.connect(UnixDomainSocketAddress.of(socket))) {
        long deadline = System.nanoTime() + timeoutNanos;
        while (!c.channel.finishConnect()) {
          c.select(SelectionKey.OP_CONNECT, deadline, "connecting to " + socket);
        }
      }
      return c;
    } catch (IOException | RuntimeException e) {
      c.close();
      throw e;
    }
  }

  /**
   * A stream over what the peer sends; each read waits until {@code deadlineNanos} (of {@link
   * System#nanoTime}) at most, then throws {@link SocketTimeoutException}.
   */
  InputStream inputUntil(long deadlineNanos) {
    return new InputStream() {
      @Override
      public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
      }

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
          return 0;
        }
        ByteBuffer into = ByteBuffer.wrap(b, off, len);
        while (true) {
          int n = channel.read(into);
          if (n != 0) {
            return n;
          }
          select(SelectionKey.OP_READ, deadlineNanos, "waiting for the peer");
        }
      }
    };
  }

  /** Writes all of {@code frame}, waiting until {@code deadlineNanos} at most for room. */
  void writeFully(ByteBuffer frame, long deadlineNanos) throws IOException {
    while (!writeSome(frame)) {
      select(SelectionKey.OP_WRITE, deadlineNanos, "waiting for the peer to read");
    }
  }

  /** Writes what the socket takes now; returns whether all of {@code frame} is written. */
  boolean writeSome(ByteBuffer frame) throws IOException {
    channel.write(frame);
    return !frame.hasRemaining();
  }

  /**
   * Waits up to {@code nanos} for the peer to send or hang up ({@code read}), for room to write
   * ({@code write}), or for {@link #wakeup}.
   */
  void await(long nanos, boolean read, boolean write) throws IOException {
    key.interestOps((read ? SelectionKey.OP_READ : 0) | (write ? SelectionKey.OP_WRITE : 0));
    selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(nanos)));
    selector.selectedKeys().clear();
  }

  /**
   * Whether the peer ended its side of the connection or sent more after its request (which the
   * protocol has no place for: both end the request's run). Does not wait.
   */
  boolean peerEnded() throws IOException {
    probe.clear();
    return channel.read(probe) != 0;
  }

  /** Ends this side: the peer reads the end of the stream, and can still answer. */
  void shutdownOutput() throws IOException {
    channel.shutdownOutput();
  }

  void wakeup() {
    selector.wakeup();
  }

  private void select(int ops, long deadlineNanos, String what) throws IOException {
    long left = deadlineNanos - System.nanoTime();
    if (left <= 0) {
      throw new SocketTimeoutException("timed out " + what);
    }
    key.interestOps(ops);
    selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
    selector.selectedKeys().clear();
  }

  @Override
  public void close() throws IOException {
    try {
      selector.close();
    } finally {
      channel.close();
    }
  }
}
