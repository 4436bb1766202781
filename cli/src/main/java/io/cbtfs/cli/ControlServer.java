package io.cbtfs.cli;

import io.cbtfs.syncer.Printable;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.Threads;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the control socket of a running mount ({@link ControlProtocol}). The mount often runs as
 * root, so the socket is a way into root: it lives in the 0700 state directory, and each
 * connection's peer (SO_PEERCRED) must be root or the mount's own user.
 *
 * <p>No client can hold the server up: at most {@link Limits#connections} connections are served at
 * once and any further one is answered "busy" at once; a request must arrive within {@link
 * Limits#requestDeadline}; replies never wait on a client that stops reading (progress is skipped,
 * the final answer waits {@link Limits#replyDeadline} at most). A request runs on a worker thread
 * while the connection's thread watches the client: if the client ends the connection (Ctrl-C,
 * kill, a timeout), a running SYNC is cancelled at its next record and fails as any failed sync
 * does, leaving the target as it was and the blocks dirty.
 */
final class ControlServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ControlServer.class);

  /**
   * @param connections connections served at once (more are answered "busy")
   * @param requestDeadline how long a connection may take to send its request
   * @param aliveAfter the silence after which a running request tells the client it still runs
   * @param replyDeadline how long the final answer waits for a client that does not read it
   */
  record Limits(
      int connections, Duration requestDeadline, Duration aliveAfter, Duration replyDeadline) {
    /**
     * A client waits {@link ControlClient#READ_TIMEOUT} (60 s) for a frame; ALIVE after 5 s keeps a
     * long silent step (a verified sync comparing, a target's fsync) well inside it.
     */
    static final Limits DEFAULT =
        new Limits(8, Duration.ofSeconds(10), Duration.ofSeconds(5), Duration.ofSeconds(60));
  }

  /** How often a running request's connection looks at the client and sends progress. */
  private static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

  private final Path socketPath;
  private final ServerSocketChannel server;
  private final MountService mount;
  private final Predicate<String> allowedUser;
  private final String ownerName;
  private final Limits limits;
  private final Semaphore slots;
  private final ExecutorService connections =
      Executors.newCachedThreadPool(Threads.daemon("cbtfs-control"));
  private final ExecutorService workers =
      Executors.newCachedThreadPool(Threads.daemon("cbtfs-control-request"));
  private final Set<Running> running = ConcurrentHashMap.newKeySet();
  private final Thread acceptor;
  private volatile boolean closed;

  private ControlServer(
      Path socketPath,
      ServerSocketChannel server,
      MountService mount,
      String ownerName,
      Predicate<String> allowedUser,
      Limits limits) {
    this.socketPath = socketPath;
    this.server = server;
    this.mount = mount;
    this.ownerName = ownerName;
    this.allowedUser = allowedUser;
    this.limits = limits;
    this.slots = new Semaphore(limits.connections());
    this.acceptor = Threads.daemon("cbtfs-control-accept").newThread(this::acceptLoop);
  }

  /**
   * Binds the socket in the mount's state directory (which the mount holds locked) and serves
   * {@code mount} to root and to this process's user.
   */
  static ControlServer start(Path stateDir, MountService mount) throws IOException {
    String owner = System.getProperty("user.name");
    return start(
        ControlProtocol.socketPath(stateDir),
        mount,
        owner,
        user -> user.equals("root") || user.equals(owner),
        Limits.DEFAULT);
  }

  /**
   * Binds {@code socketPath} and serves {@code mount} to the users {@code allowedUser} accepts.
   *
   * @param ownerName named in the answer to a user who is refused
   */
  static ControlServer start(
      Path socketPath,
      MountService mount,
      String ownerName,
      Predicate<String> allowedUser,
      Limits limits)
      throws IOException {
    Files.deleteIfExists(socketPath); // stale from a crash: the state-dir lock says it is ours
    ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socketPath));
    ControlServer cs = new ControlServer(socketPath, server, mount, ownerName, allowedUser, limits);
    cs.acceptor.start();
    return cs;
  }

  private void acceptLoop() {
    while (!closed) {
      SocketChannel client;
      try {
        client = server.accept();
      } catch (IOException e) {
        if (!closed) {
          log.warn("control socket accept failed: {}", e.getMessage());
        }
        return;
      }
      if (!slots.tryAcquire()) {
        refuse(
            client,
            "busy: "
                + limits.connections()
                + " control requests are in progress on this mount; try again later");
        continue;
      }
      try {
        connections.execute(
            () -> {
              try {
                serve(client);
              } finally {
                slots.release();
              }
            });
      } catch (RejectedExecutionException e) { // closing
        slots.release();
        refuse(client, "the mount is shutting down");
      }
    }
  }

  /** Answers ERR without reading: a fresh socket's buffer takes the short frame at once. */
  private static void refuse(SocketChannel client, String message) {
    try (client) {
      client.configureBlocking(false);
      client.write(ByteBuffer.wrap(ControlProtocol.err(message)));
    } catch (IOException e) {
      log.debug("refusing a control connection: {}", e.getMessage());
    }
  }

  private void serve(SocketChannel accepted) {
    try (ControlChannel c = ControlChannel.of(accepted)) {
      long now = System.nanoTime();
      UnixDomainPrincipal peer = accepted.getOption(ExtendedSocketOptions.SO_PEERCRED);
      String user = peer.user().getName();
      if (!allowedUser.test(user)) {
        log.warn("refused control connection from user {}", user);
        reply(
            c,
            ControlProtocol.err(
                "permission denied: only root or " + ownerName + " may control this mount"));
        return;
      }
      ControlRequest<?> request;
      try {
        request =
            ControlProtocol.readRequest(c.inputUntil(now + limits.requestDeadline().toNanos()));
      } catch (ControlProtocol.ForeignClient e) {
        reply(c, e.lineReply());
        return;
      } catch (ControlProtocolException e) {
        log.debug("bad control request: {}", e.getMessage());
        reply(c, ControlProtocol.err(e.getMessage()));
        return;
      } catch (SocketTimeoutException e) {
        reply(c, ControlProtocol.err("no request within " + seconds(limits.requestDeadline())));
        return;
      }
      run(c, request);
    } catch (IOException e) {
      log.debug("control connection failed: {}", e.getMessage());
    }
  }

  private static String seconds(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }

  /** Sends a last frame to a client that may not read it: bounded by the reply deadline. */
  private void reply(ControlChannel c, byte[] frame) throws IOException {
    c.writeFully(ByteBuffer.wrap(frame), System.nanoTime() + limits.replyDeadline().toNanos());
  }

  /**
   * Runs {@code request} on a worker while this thread watches the client and forwards progress;
   * returns once the answer is sent, or the client is gone and the request has ended.
   */
  private void run(ControlChannel c, ControlRequest<?> request) throws IOException {
    Running r = new Running(request, c);
    running.add(r);
    try {
      if (closed) {
        r.cancel();
      }
      r.start(workers);
      converse(c, r);
    } finally {
      r.cancel(); // a no-op once answered; else the client went away mid-request
      r.result.exceptionally(e -> null).join(); // the slot stays taken while its request runs
      running.remove(r);
    }
  }

  private void converse(ControlChannel c, Running r) throws IOException {
    ByteBuffer out = null; // a progress or ALIVE frame the client has not taken in full
    long lastSent = System.nanoTime();
    long[] progressSent = null;
    boolean drainedSent = false;
    int memberSent = -1;
    while (!r.result.isDone()) {
      long now = System.nanoTime();
      if (out != null && c.writeSome(out)) {
        out = null;
        lastSent = now;
      }
      if (out == null && r.drained && !drainedSent) { // first: a frozen guest waits for it
        out = ByteBuffer.wrap(ControlProtocol.drained());
        drainedSent = true;
        continue;
      }
      // a group's next image, before its progress and after DRAINED (set before any member, so
      // read after it)
      if (out == null && r.member != memberSent && (drainedSent || !r.drained)) {
        memberSent = r.member;
        out = ByteBuffer.wrap(ControlProtocol.member(memberSent));
        continue;
      }
      if (out == null) {
        long[] p = r.progress.get();
        if (p != progressSent && p[4] != memberSent) {
          progressSent = p; // an earlier image's: its member frame has gone by
        } else if (p != progressSent) { // the latest only: a slow reader never stalls the sync
          out = ByteBuffer.wrap(ControlProtocol.progress(p[0], p[1], p[2], p[3]));
          progressSent = p;
          continue;
        }
        if (now - lastSent >= limits.aliveAfter().toNanos()) {
          out = ByteBuffer.wrap(ControlProtocol.alive());
          continue;
        }
      }
      c.await(TICK_NANOS, !r.cancelled, out != null);
      if (!r.cancelled && c.peerEnded()) {
        if (r.request instanceof ControlRequest.Sync sync) {
          log.info(
              "the client of the sync of '{}' went away: cancelling it",
              Printable.escaped(sync.imageName()));
        } else if (r.request instanceof ControlRequest.GroupSync) {
          log.info("the client of a group sync went away: cancelling it");
        }
        r.cancel();
      }
    }
    java.io.ByteArrayOutputStream last = new java.io.ByteArrayOutputStream();
    if (out != null) { // the rest of a frame begun: the answer follows it whole
      last.write(out.array(), out.position(), out.remaining());
    }
    last.writeBytes(answer(r));
    try {
      reply(c, last.toByteArray());
    } catch (SocketTimeoutException e) {
      log.warn("dropping a control client that does not read its answer");
    }
  }

  /** The reply's frames, or ERR with what failed (a field over 64 KiB too: said, not hung up). */
  private static byte[] answer(Running r) {
    try {
      return r.result.join();
    } catch (RuntimeException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      String why =
          cause instanceof IllegalArgumentException ? cause.getMessage() : Errors.describe(cause);
      if (r.request instanceof ControlRequest.Sync sync) { // the mount's log keeps the failures too
        log.warn(
            "sync of '{}' to {} failed: {}",
            Printable.escaped(sync.imageName()),
            sync.target(),
            why);
      }
      return ControlProtocol.err(why);
    }
  }

  /** Runs {@code request} on the mount and encodes its reply. */
  private static <R> byte[] serve(ControlRequest<R> request, MountService mount, SyncProgress p)
      throws IOException {
    return request.replyCodec().answer(request.runOn(mount, p));
  }

  /** A request on its worker: its latest progress, its result, and whether it is cancelled. */
  private final class Running {
    final ControlRequest<?> request;
    final ControlChannel channel;
    final AtomicReference<long[]> progress = new AtomicReference<>();
    final CompletableFuture<byte[]> result = new CompletableFuture<>();
    volatile boolean cancelled;
    volatile boolean drained;

    /** The image of a group whose records are shipping (-1: not a group). */
    volatile int member = -1;

    Running(ControlRequest<?> request, ControlChannel channel) {
      this.request = request;
      this.channel = channel;
    }

    void start(ExecutorService pool) {
      SyncProgress listener =
          new SyncProgress() {
            @Override
            public void update(long doneBytes, long totalBytes, long doneBlocks, long totalBlocks)
                throws IOException {
              if (cancelled) {
                throw new InterruptedIOException(
                    closed
                        ? "sync cancelled: the mount is shutting down"
                        : "sync cancelled: the cbtfs sync that asked for it went away");
              }
              progress.set(new long[] {doneBytes, totalBytes, doneBlocks, totalBlocks, member});
            }

            @Override
            public void drained() {
              drained = true;
              channel.wakeup(); // the DRAINED frame goes now, not at the next tick
            }

            @Override
            public void member(int index) {
              member = index;
            }
          };
      try {
        pool.execute(
            () -> {
              try {
                result.complete(serve(request, mount, listener));
              } catch (Throwable e) {
                result.completeExceptionally(e);
              } finally {
                channel.wakeup();
              }
            });
      } catch (RejectedExecutionException e) {
        result.completeExceptionally(new IOException("the mount is shutting down"));
      }
    }

    void cancel() {
      cancelled = true;
    }
  }

  /**
   * Stops accepting, cancels running syncs (each stops at its next record and fails cleanly) and
   * waits for the requests to end.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      server.close();
    } catch (IOException e) {
      log.debug("closing control socket: {}", e.getMessage());
    }
    running.forEach(Running::cancel);
    connections.shutdown();
    workers.shutdown();
    try {
      if (!connections.awaitTermination(60, TimeUnit.SECONDS)) {
        log.warn("control requests still running at shutdown");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try {
      Files.deleteIfExists(socketPath);
    } catch (IOException e) {
      log.debug("removing control socket: {}", e.getMessage());
    }
  }
}
