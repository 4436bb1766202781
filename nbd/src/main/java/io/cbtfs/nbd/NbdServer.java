package io.cbtfs.nbd;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import jdk.net.ExtendedSocketOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Listens on one or more addresses and serves every image of an {@link ExportCatalog} by its name,
 * a thread per connection. At most {@link #MAX_SESSIONS} connections are served at once (a further
 * one is closed at once); each must finish its handshake within {@link #HANDSHAKE_SECONDS} s. A
 * Unix socket is made 0600 and lets in root and this process's user only (SO_PEERCRED), as the
 * control socket does; a TCP port lets in whoever reaches it (loopback by default). {@link #close}
 * stops listening, ends every session and waits for their requests in flight: after it, no request
 * of this server touches an image. Idempotent.
 */
public final class NbdServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(NbdServer.class);
  static final int MAX_SESSIONS = 16;
  static final int HANDSHAKE_SECONDS = 30;
  private static final long CLOSE_WAIT_SECONDS = 10;

  private final boolean writable;
  private volatile ExportCatalog catalog; // set by serve
  private final String owner = System.getProperty("user.name");
  private final List<Listener> listeners = new ArrayList<>();
  private final Set<Thread> sessions = ConcurrentHashMap.newKeySet();
  private final Set<SocketChannel> connections = ConcurrentHashMap.newKeySet();
  private final ScheduledExecutorService deadlines =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "cbtfs-nbd-deadlines");
            t.setDaemon(true);
            return t;
          });
  private volatile boolean closed;

  private record Listener(NbdAddress address, ServerSocketChannel channel, Thread thread) {}

  private NbdServer(boolean writable) {
    this.writable = writable;
  }

  /** {@link #bind} and {@link #serve}. */
  public static NbdServer start(List<NbdAddress> addresses, ExportCatalog catalog, boolean writable)
      throws IOException {
    NbdServer server = bind(addresses, writable);
    server.serve(catalog);
    return server;
  }

  /**
   * Binds every address, accepting no connection yet: an address in use fails before the images
   * exist (the mount binds first, then mounts, then {@link #serve}s). A stale Unix socket (nothing
   * answers on it) is replaced; a path in use or that is not a socket is refused.
   *
   * @throws IOException naming the address that could not be bound (nothing is left listening)
   */
  public static NbdServer bind(List<NbdAddress> addresses, boolean writable) throws IOException {
    NbdServer server = new NbdServer(writable);
    try {
      for (NbdAddress address : addresses) {
        server.listen(address);
      }
    } catch (IOException | RuntimeException e) {
      server.close();
      throw e;
    }
    return server;
  }

  /** Starts accepting connections and serving {@code catalog}'s images. Once. */
  public synchronized void serve(ExportCatalog catalog) {
    if (this.catalog != null) {
      throw new IllegalStateException("already serving");
    }
    this.catalog = catalog;
    for (Listener l : listeners) {
      l.thread().start();
      log.info("NBD export on {} ({})", l.address(), writable ? "writable" : "read-only");
    }
  }

  private void listen(NbdAddress address) throws IOException {
    ServerSocketChannel channel;
    if (address.isUnix()) {
      removeStale(address.socketPath());
      channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
      try {
        channel.bind(address.socketAddress());
        Files.setPosixFilePermissions(
            address.socketPath(), PosixFilePermissions.fromString("rw-------"));
      } catch (IOException e) {
        channel.close();
        throw new IOException("cannot listen for NBD on " + address + ": " + e.getMessage(), e);
      }
    } else {
      if (((InetSocketAddress) address.socketAddress()).isUnresolved()) {
        // bind would throw UnresolvedAddressException, a RuntimeException the CLI cannot name
        throw new IOException("cannot listen for NBD on " + address + ": unknown host");
      }
      channel = ServerSocketChannel.open();
      try {
        channel.bind(address.socketAddress());
      } catch (IOException e) {
        channel.close();
        throw new IOException("cannot listen for NBD on " + address + ": " + e.getMessage(), e);
      }
    }
    Thread thread = new Thread(() -> accept(address, channel), "cbtfs-nbd-listen " + address);
    thread.setDaemon(true);
    listeners.add(new Listener(address, channel, thread));
    if (!address.isUnix() && !channel.socket().getInetAddress().isLoopbackAddress()) {
      log.warn("NBD on {} has no authentication: whoever reaches it reads every image", address);
    }
  }

  /** A socket file left by a process that died is replaced; one that answers is in use. */
  private static void removeStale(Path path) throws IOException {
    if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    var attributes =
        Files.readAttributes(
            path, java.nio.file.attribute.BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    if (!attributes.isOther()) {
      throw new IOException("cannot listen for NBD on unix:" + path + ": the file exists");
    }
    try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
      throw new IOException(
          "cannot listen for NBD on unix:" + path + ": another server listens there");
    } catch (java.net.ConnectException stale) {
      Files.deleteIfExists(path);
    }
  }

  /** The addresses bound (a port 0 asked for shows the port chosen). */
  public List<NbdAddress> addresses() throws IOException {
    List<NbdAddress> out = new ArrayList<>();
    for (Listener l : listeners) {
      if (l.address().isUnix()) {
        out.add(l.address());
      } else {
        var bound = (InetSocketAddress) l.channel().getLocalAddress();
        out.add(new NbdAddress(null, l.address().host(), bound.getPort()));
      }
    }
    return out;
  }

  private void accept(NbdAddress address, ServerSocketChannel server) {
    while (!closed) {
      SocketChannel client;
      try {
        client = server.accept();
      } catch (ClosedChannelException e) {
        return;
      } catch (IOException e) {
        log.warn("NBD listener on {} failed: {}", address, e.toString());
        return;
      }
      admit(address, client);
    }
  }

  private synchronized void admit(NbdAddress address, SocketChannel client) {
    try {
      if (closed || sessions.size() >= MAX_SESSIONS || !allowed(address, client)) {
        log.info("NBD connection on {} refused", address);
        client.close();
        return;
      }
    } catch (IOException | RuntimeException e) {
      closeQuietly(client);
      return;
    }
    connections.add(client);
    ScheduledFuture<?> deadline =
        deadlines.schedule(() -> closeQuietly(client), HANDSHAKE_SECONDS, TimeUnit.SECONDS);
    Thread thread =
        new Thread(
            () -> {
              try {
                new NbdSession(client, catalog, writable, () -> deadline.cancel(false)).run();
              } finally {
                deadline.cancel(false);
                connections.remove(client);
                sessions.remove(Thread.currentThread());
              }
            },
            "cbtfs-nbd-session");
    thread.setDaemon(true);
    sessions.add(thread);
    thread.start();
  }

  /** A Unix socket's peer must be root or this process's user. */
  private boolean allowed(NbdAddress address, SocketChannel client) throws IOException {
    if (!address.isUnix()) {
      return true;
    }
    String user = client.getOption(ExtendedSocketOptions.SO_PEERCRED).user().getName();
    if (user.equals("root") || user.equals(owner)) {
      return true;
    }
    log.warn("refused NBD connection on {} from user {}", address, user);
    return false;
  }

  private static void closeQuietly(SocketChannel channel) {
    try {
      channel.close();
    } catch (IOException e) {
      log.debug("closing an NBD connection: {}", e.toString());
    }
  }

  /** The sessions running now (for tests and logs). */
  public int sessionCount() {
    return sessions.size();
  }

  @Override
  public void close() {
    List<Thread> admitted;
    synchronized (this) {
      // Under admit's lock: a connection is either admitted before this (its channel is closed
      // and its session awaited below) or refused; none can start serving once this returns.
      if (closed) {
        return;
      }
      closed = true;
      for (SocketChannel c : connections) {
        closeQuietly(c); // a session blocked reading a request wakes and ends
      }
      admitted = List.copyOf(sessions);
    }
    for (Listener l : listeners) {
      try {
        l.channel().close();
      } catch (IOException e) {
        log.debug("closing an NBD listener: {}", e.toString());
      }
      if (l.address().isUnix()) {
        try {
          Files.deleteIfExists(l.address().socketPath());
        } catch (IOException e) {
          log.debug("removing {}: {}", l.address(), e.toString());
        }
      }
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(CLOSE_WAIT_SECONDS);
    for (Thread t : admitted) {
      try {
        t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      if (t.isAlive()) {
        log.warn("an NBD session did not end within {} s", CLOSE_WAIT_SECONDS);
      }
    }
    deadlines.shutdownNow();
  }
}
