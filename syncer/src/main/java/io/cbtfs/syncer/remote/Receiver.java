package io.cbtfs.syncer.remote;

import io.cbtfs.syncer.BlockHashes;
import io.cbtfs.syncer.Delivery;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.DeltaReader;
import io.cbtfs.syncer.KeptAttempt;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.Threads;
import io.cbtfs.syncer.local.ArchiveFiles;
import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.tracker.CbtfsException;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.LockSupport;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code cbtfs receive}: keeps replicas ({@code ROOT/NAME.img}) and archives ({@code
 * ROOT/NAME.archive}) for authenticated senders. Per connection: a fresh nonce, the sender's HMAC
 * proof of the token, then a state query, one delta, or a read session of an archive ({@link
 * ArchiveReadSession}: byte ranges of its files, for a reader that checks them). A delta lands in
 * the local target as a local sync's does (its {@code begin}: staged and verified as it streams);
 * only a delta that verified completely is applied and acknowledged. Anything else ends the
 * connection with an ERR frame and changes nothing. What the receiver verified of a resumable delta
 * whose sender went away is kept for the next one to reuse ({@link KeptTransfer}).
 */
public final class Receiver implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Receiver.class);

  /** A sender must have proven its token within this time, or the connection is closed. */
  static final long LOGIN_DEADLINE_MILLIS = 10_000;

  /**
   * @param tls the server's TLS context; null only for explicitly insecure plain TCP
   * @param idleTimeoutMillis the longest a read may wait for the peer, and a write for the peer to
   *     take data
   */
  public record Options(
      InetSocketAddress listen,
      Path root,
      byte[] token,
      SSLContext tls,
      int maxConnections,
      int idleTimeoutMillis) {}

  private final Options options;
  private final ServerSocket server;
  private final ExecutorService connections =
      Executors.newCachedThreadPool(Threads.daemon("cbtfs-receive"));
  private final Semaphore slots;
  private final Set<String> busy = new java.util.HashSet<>(); // guarded by itself

  /**
   * A sender of a name another connection still holds waits this long for it: the connection that
   * just acknowledged a sync lets go of the name a moment after its sender moved on.
   */
  static final long NAME_WAIT_MILLIS = 10_000;

  /** The plain sockets of the connections being served: closing one never blocks. */
  private final Set<Socket> live = ConcurrentHashMap.newKeySet();

  /** Connections accepted so far (a sync should cost one). */
  final java.util.concurrent.atomic.AtomicLong accepted =
      new java.util.concurrent.atomic.AtomicLong();

  private final SecureRandom random = new SecureRandom();
  private final Thread acceptor;
  private volatile boolean closed;

  private Receiver(Options options, ServerSocket server) {
    this.options = options;
    this.server = server;
    this.slots = new Semaphore(options.maxConnections());
    this.acceptor = Threads.daemon("cbtfs-receive-accept").newThread(this::acceptLoop);
  }

  public static Receiver start(Options options) throws IOException {
    if (!Files.isDirectory(options.root())) {
      throw new CbtfsException("receiver root " + options.root() + " is not a directory");
    }
    // plain TCP, with TLS layered per connection: a deadline can then close the plain socket
    // under a TLS one whose write is stuck (closing the TLS socket would wait for that write)
    ServerSocket server = new ServerSocket();
    server.bind(options.listen());
    Receiver r = new Receiver(options, server);
    r.acceptor.start();
    log.info(
        "receiving on {} into {} ({})",
        r.address(),
        options.root(),
        options.tls() != null ? "TLS 1.3" : "INSECURE plain TCP");
    return r;
  }

  /**
   * Waits until no connection is being served (each has finished with its target: a failed
   * transfer's kept attempt is in place).
   */
  void awaitIdle() throws InterruptedException {
    int all = options.maxConnections();
    slots.acquire(all);
    slots.release(all);
  }

  public InetSocketAddress address() {
    return (InetSocketAddress) server.getLocalSocketAddress();
  }

  private void acceptLoop() {
    while (!closed) {
      Socket s;
      try {
        s = server.accept();
      } catch (IOException e) {
        if (closed) {
          return;
        }
        log.warn("accept failed: {}; retrying", e.getMessage()); // e.g. out of descriptors
        LockSupport.parkNanos(100_000_000L);
        continue;
      }
      accepted.incrementAndGet();
      if (!slots.tryAcquire()) {
        log.warn("refused {}: too many connections", s.getRemoteSocketAddress());
        closeQuietly(s); // no handshake here: a slow peer must not stall the accept loop
        continue;
      }
      connections.execute(
          () -> {
            try {
              serve(s);
            } finally {
              slots.release();
            }
          });
    }
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // nothing to do
    }
  }

  /** TLS over an accepted plain socket, as the server; null without TLS. */
  private SSLSocket tls(Socket plain) throws IOException {
    if (options.tls() == null) {
      return null;
    }
    SSLSocket s = (SSLSocket) options.tls().getSocketFactory().createSocket(plain, null, true);
    s.setEnabledProtocols(new String[] {Tls.PROTOCOL});
    s.setEnabledCipherSuites(Tls.CIPHER_SUITES);
    return s;
  }

  private void serve(Socket plain) {
    String peer = String.valueOf(plain.getRemoteSocketAddress());
    // the whole login (TLS handshake, challenge, HELLO) has a deadline, not only each read
    ScheduledFuture<?> login = WriteDeadline.closeAfter(plain, LOGIN_DEADLINE_MILLIS);
    live.add(plain);
    Socket socket = plain;
    try {
      plain.setSoTimeout(options.idleTimeoutMillis());
      SSLSocket tls = tls(plain);
      socket = tls == null ? plain : tls;
      DataInputStream in =
          new DataInputStream(new BufferedInputStream(socket.getInputStream(), 1 << 16));
      // every write has the idle timeout as its deadline: a sender that stops reading (a stopped
      // process, a suspended host) gets its connection closed instead of holding a thread, a
      // slot and its name
      DataOutputStream out =
          new DataOutputStream(
              new BufferedOutputStream(
                  new WriteDeadline(
                      socket.getOutputStream(),
                      plain,
                      options.idleTimeoutMillis(),
                      "the sender took no data for " + options.idleTimeoutMillis() + " ms"),
                  1 << 16));
      try {
        byte[] nonce = new byte[Frames.NONCE_BYTES];
        random.nextBytes(nonce);
        Frames.write(
            out,
            Frames.CHALLENGE,
            ByteBuffer.allocate(Frames.MAGIC.length + nonce.length)
                .put(Frames.MAGIC)
                .put(nonce)
                .array());
        Frames.Frame first = Frames.read(in, RemoteMessages.MAX_HELLO);
        if (first.type() != Frames.HELLO) {
          throw new CbtfsException("protocol error: expected HELLO");
        }
        RemoteMessages.Hello hello = RemoteMessages.Hello.parse(first.payload());
        if (!Tokens.matches(
            Tokens.proof(options.token(), nonce, hello.name(), hello.flags()), hello.proof())) {
          log.warn("authentication failed from {}", peer);
          throw new CbtfsException("authentication failed");
        }
        login.cancel(false); // authenticated: from here the per-read timeout applies
        if ((hello.flags() & RemoteMessages.FLAG_READ) != 0) {
          serveReads(hello, in, out, peer); // no claim: reads go on beside a sync of the name
          return;
        }
        claim(hello.name());
        try (Target target = target(hello)) {
          Frames.write(out, Frames.OK, RemoteMessages.encode(target.state()));
          serveRequest(in, out, target, peer);
        } finally {
          // once its target is closed, before an error goes out and the drain below: a sender's
          // next connection (a retry) finds the name free
          release(hello.name());
        }
      } catch (CbtfsException | IOException e) {
        if (!(e instanceof EOFException)) {
          sendError(out, e);
          log.info("{}: {}", peer, Frames.printable(String.valueOf(e.getMessage())));
          drain(socket, in);
        }
      }
    } catch (IOException e) {
      log.debug("{}: {}", peer, e.getMessage());
    } finally {
      login.cancel(false);
      try {
        WriteDeadline.closeWithin(socket, plain, options.idleTimeoutMillis());
      } catch (IOException e) {
        log.debug("{}: {}", peer, e.getMessage());
      }
      live.remove(plain);
    }
  }

  /**
   * A read session of archive {@code ROOT/NAME.archive}: refused for a replica, for an archive that
   * is not there, and through a symbolic link; else OK of the session version, then the requests.
   */
  private void serveReads(
      RemoteMessages.Hello hello, DataInputStream in, DataOutputStream out, String peer)
      throws IOException {
    String name = hello.name();
    if ((hello.flags() & RemoteMessages.FLAG_ARCHIVE) == 0) {
      throw new CbtfsException(
          "'" + name + "' is read as an archive only (cbtfs://HOST:PORT/" + name + "?archive)");
    }
    Path dir = options.root().resolve(name + ".archive");
    if (!dir.getParent().equals(options.root()) || Files.isSymbolicLink(dir)) {
      throw new CbtfsException("refused target name '" + name + "'");
    }
    if (!Files.isDirectory(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      boolean replica = Files.exists(options.root().resolve(name + ".img"));
      throw new CbtfsException(
          "no archive '"
              + name
              + "' here"
              + (replica
                  ? ": '" + name + "' is a replica (an image already: copy it on the receiver)"
                  : ""));
    }
    Frames.write(
        out, Frames.OK, ByteBuffer.allocate(4).putInt(RemoteMessages.READ_SESSION_VERSION).array());
    log.debug("{}: reading {}", peer, dir);
    new ArchiveReadSession(ArchiveFiles.confinedTo(dir), name + ".archive").serve(in, out);
  }

  /** Takes {@code name} for this connection, waiting a little for another that still holds it. */
  private void claim(String name) {
    long deadline = System.nanoTime() + NAME_WAIT_MILLIS * 1_000_000;
    synchronized (busy) {
      while (!busy.add(name)) {
        long left = (deadline - System.nanoTime()) / 1_000_000;
        if (left <= 0 || closed) {
          throw new CbtfsException("'" + name + "' is busy with another sender");
        }
        try {
          busy.wait(left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new CbtfsException("'" + name + "' is busy with another sender");
        }
      }
    }
  }

  private void release(String name) {
    synchronized (busy) {
      if (busy.remove(name)) {
        busy.notifyAll();
      }
    }
  }

  /**
   * After an error, reads and discards what the sender still has in flight for a few seconds, so
   * that closing does not reset the connection under our ERR frame before the sender read it.
   */
  private static void drain(Socket socket, DataInputStream in) {
    long deadline = System.nanoTime() + 10_000_000_000L;
    byte[] sink = new byte[1 << 16];
    try {
      socket.setSoTimeout(2_000);
      long total = 0;
      while (System.nanoTime() < deadline && total < (256L << 20)) {
        int n = in.read(sink);
        if (n < 0) {
          return;
        }
        total += n;
      }
    } catch (IOException e) {
      // timed out or closed: enough
    }
  }

  private static void sendError(DataOutputStream out, Exception e) {
    try {
      String msg =
          e instanceof SocketTimeoutException
              ? "timed out waiting for the sender"
              : e.getMessage() == null ? e.toString() : e.getMessage();
      Frames.writeText(out, Frames.ERR, msg);
    } catch (IOException ignored) {
      // the connection is gone already
    }
  }

  /**
   * After a state answer: at most one request. A delta (BEGIN, DATA..., END), the hashes of the
   * replica's blocks (HASHES), or none: the sender hangs up after a state query.
   */
  private void serveRequest(DataInputStream in, DataOutputStream out, Target target, String peer)
      throws IOException {
    Frames.Frame begin;
    try {
      begin = Frames.read(in);
    } catch (EOFException e) {
      return; // a state query
    }
    if (begin.type() == Frames.HASHES) {
      sendHashes(begin.payload(), out, target);
      return;
    }
    if (begin.type() != Frames.BEGIN) {
      throw new CbtfsException("protocol error: expected BEGIN or HASHES");
    }
    byte[] b = begin.payload();
    if (b.length != DeltaHeader.BYTES + 1) {
      throw new CbtfsException("protocol error: BEGIN of " + b.length + " bytes");
    }
    DeltaHeader header =
        DeltaReader.readHeader(
            new ByteArrayInputStream(b, 0, DeltaHeader.BYTES), "BEGIN from " + peer);
    int flags = b[DeltaHeader.BYTES];
    boolean allowNewLineage = (flags & RemoteMessages.BEGIN_ALLOW_NEW_LINEAGE) != 0;
    boolean resumable = (flags & RemoteMessages.BEGIN_RESUMABLE) != 0 && !header.sealed();
    try (KeptTransfer kept = new KeptTransfer(target.localPath().orElseThrow(), peer);
        Delivery delivery = target.begin(header, allowNewLineage)) {
      long keptGeneration = resumable ? kept.open(header) : -1;
      if (resumable) {
        kept.startKeeping();
      }
      boolean senderGone = false; // the sender hung up or fell silent: worth keeping
      try {
        if (keptGeneration < 0) {
          Frames.write(out, Frames.OK, new byte[0]);
        } else {
          sendKept(out, keptGeneration, kept.records());
        }
        int nextReuse = 0;
        while (true) {
          Frames.Frame f;
          try {
            f = Frames.read(in);
          } catch (IOException e) {
            senderGone = true;
            throw e;
          }
          if (f.type() == Frames.DATA) {
            kept.keep(f.payload());
            delivery.stream().write(f.payload());
          } else if (f.type() == Frames.REUSE) {
            int index = reuseIndex(f.payload(), nextReuse);
            byte[] record = kept.read(index);
            kept.keep(record);
            delivery.stream().write(record);
            nextReuse = index + 1;
          } else if (f.type() == Frames.END) {
            long generation = delivery.commit();
            kept.discard();
            Frames.write(out, Frames.ACK, ByteBuffer.allocate(8).putLong(generation).array());
            log.info("{}: {} now at generation {}", peer, target.describe(), generation);
            return;
          } else {
            throw new CbtfsException("protocol error: frame " + f.type() + " inside a delta");
          }
        }
      } finally {
        // kept for a resume only when the sender went away; not when the delta or the target
        // failed here (a corrupt delta, a full disk: what arrived is worth nothing, or takes room)
        if (senderGone && resumable) {
          kept.senderGone();
        } else {
          kept.discard();
        }
      }
    }
  }

  /**
   * Answers a resumable BEGIN with what is kept: OK with the kept attempt's generation (8) and its
   * record count (4), then DATA frames of the records' 21-byte headers.
   */
  private static void sendKept(
      DataOutputStream out, long generation, List<KeptAttempt.KeptRecord> records)
      throws IOException {
    Frames.write(
        out, Frames.OK, ByteBuffer.allocate(12).putLong(generation).putInt(records.size()).array());
    int perFrame = (Frames.MAX_PAYLOAD - 1024) / KeptAttempt.KeptRecord.HEADER_BYTES;
    for (int from = 0; from < records.size(); from += perFrame) {
      int n = Math.min(perFrame, records.size() - from);
      ByteBuffer frame = ByteBuffer.allocate(n * KeptAttempt.KeptRecord.HEADER_BYTES);
      for (int i = from; i < from + n; i++) {
        frame.put(records.get(i).header());
      }
      Frames.write(out, Frames.DATA, frame.array());
    }
  }

  /** A REUSE frame's record number: one the kept attempt has, after the previous one reused. */
  private static int reuseIndex(byte[] payload, int next) {
    if (payload.length != 4) {
      throw new CbtfsException("protocol error: REUSE of " + payload.length + " bytes");
    }
    int index = ByteBuffer.wrap(payload).getInt();
    if (index < next) {
      throw new CbtfsException("protocol error: kept record " + index + " reused out of order");
    }
    return index;
  }

  /**
   * HASHES: the replica's size (OK), then the SHA-256 of each block in DATA frames of at most 1
   * MiB, then END. The sender compares them with its image (a verify, or a verified sync that sends
   * only what differs).
   */
  private static void sendHashes(byte[] request, DataOutputStream out, Target target)
      throws IOException {
    if (request.length != 4) {
      throw new CbtfsException("protocol error: HASHES of " + request.length + " bytes");
    }
    int blockSize = ByteBuffer.wrap(request).getInt();
    try {
      io.cbtfs.tracker.BlockGeometry.of(blockSize);
    } catch (IllegalArgumentException e) {
      throw new CbtfsException("bad block size " + blockSize + " for HASHES");
    }
    if (!(target instanceof ReplicaTarget replica)) {
      throw new CbtfsException(
          "comparing with an archive over the network is not supported: run cbtfs verify on the "
              + "receiver");
    }
    try (FileChannel ch = replica.openForReading()) {
      if (ch == null) {
        throw new CbtfsException(target.describe() + " holds nothing yet");
      }
      long size = ch.size();
      Frames.write(out, Frames.OK, ByteBuffer.allocate(8).putLong(size).array());
      // a frame at least every 256 MiB hashed: the sender's read timeout never fires
      long hashesPerFrame =
          Math.min(
              (Frames.MAX_PAYLOAD - 1024) / BlockHashes.BYTES,
              Math.max(1, HASHES_PER_FRAME_BYTES / blockSize));
      byte[] frame = new byte[(int) hashesPerFrame * BlockHashes.BYTES];
      int[] fill = {0};
      BlockHashes.forEach(
          ch,
          size,
          blockSize,
          (block, hash) -> {
            System.arraycopy(hash, 0, frame, fill[0], BlockHashes.BYTES);
            fill[0] += BlockHashes.BYTES;
            if (fill[0] == frame.length) {
              Frames.write(out, Frames.DATA, frame, 0, fill[0]);
              out.flush();
              fill[0] = 0;
            }
          });
      if (fill[0] > 0) {
        Frames.write(out, Frames.DATA, frame, 0, fill[0]);
      }
      Frames.write(out, Frames.END, new byte[0]);
    }
  }

  private static final long HASHES_PER_FRAME_BYTES = 256L << 20;

  /** The local target a sender named: confined to the root, never through a symbolic link. */
  private Target target(RemoteMessages.Hello hello) {
    boolean archive = (hello.flags() & RemoteMessages.FLAG_ARCHIVE) != 0;
    Path path = options.root().resolve(hello.name() + (archive ? ".archive" : ".img"));
    if (!path.getParent().equals(options.root()) || Files.isSymbolicLink(path)) {
      throw new CbtfsException("refused target name '" + hello.name() + "'");
    }
    return archive ? new ArchiveTarget(path) : new ReplicaTarget(path);
  }

  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    server.close();
    connections.shutdownNow();
    for (Socket s : live) { // end every connection: a closed receiver commits nothing more
      closeQuietly(s);
    }
  }
}
