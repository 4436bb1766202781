package io.cbtfs.syncer.remote;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * Forwards connections to a receiver, counting upstream bytes over all of them (a sync opens one
 * for the state, one for the delta), and cuts the connection that carries the upstream byte {@link
 * #cutAfter} names. Forwards everything until told.
 */
final class CuttingProxy implements AutoCloseable {
  private final ServerSocket server = new ServerSocket(0, 4, InetAddress.getLoopbackAddress());
  private final AtomicLong upstream = new AtomicLong();
  private volatile long limit = Long.MAX_VALUE;
  private volatile int target;

  CuttingProxy(int target) throws IOException {
    this.target = target;
    Thread acceptor =
        new Thread(
            () -> {
              while (!server.isClosed()) {
                try {
                  Socket client = server.accept();
                  Socket up = new Socket(InetAddress.getLoopbackAddress(), this.target);
                  start(() -> pump(up, client, new AtomicLong(), () -> Long.MAX_VALUE));
                  start(() -> pump(client, up, upstream, () -> limit));
                } catch (IOException e) {
                  return;
                }
              }
            });
    acceptor.setDaemon(true);
    acceptor.start();
  }

  /** Cuts after {@code bytes} more upstream; returns the count so far. */
  long cutAfter(long bytes) {
    long now = upstream.get();
    limit = now + bytes;
    return now;
  }

  /** The upstream bytes of every connection so far. */
  long upstream() {
    return upstream.get();
  }

  /** Forwards the connections to come to {@code port}: a receiver started again. */
  void retarget(int port) {
    target = port;
  }

  int port() {
    return server.getLocalPort();
  }

  /** Runs {@code r} on a daemon thread (a proxy's pump). */
  static void start(Runnable r) {
    Thread t = new Thread(r);
    t.setDaemon(true);
    t.start();
  }

  private static void pump(Socket from, Socket to, AtomicLong counter, LongSupplier limit) {
    byte[] buf = new byte[8192];
    try (InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream()) {
      int r;
      while ((r = in.read(buf)) > 0) {
        int take = (int) Math.max(0, Math.min(r, limit.getAsLong() - counter.get()));
        out.write(buf, 0, take);
        if (counter.addAndGet(take) >= limit.getAsLong()) {
          from.close();
          to.close();
          return;
        }
      }
    } catch (IOException e) {
      // closed
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
  }
}
