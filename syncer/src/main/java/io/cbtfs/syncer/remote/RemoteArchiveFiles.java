package io.cbtfs.syncer.remote;

import io.cbtfs.syncer.PositionalFile;
import io.cbtfs.syncer.local.ArchiveFiles;
import io.cbtfs.tracker.CbtfsException;
import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;

/**
 * The files of a receiver's archive ({@code ROOT/NAME.archive}), read over read sessions: a LIST
 * once (the files are a snapshot of that moment: generations committed later are not seen, and a
 * file removed since fails its reads with the receiver's reason), then READs of byte ranges.
 *
 * <p>Thread-safe: several readers (FUSE threads) share a pool of at most {@link #POOL} connections;
 * a request waits for a free one. A request whose connection fails (the receiver dropped an idle
 * one, or restarted) is sent once more on a new connection; the receiver's refusal (ERR) is not.
 */
final class RemoteArchiveFiles implements ArchiveFiles, Closeable {
  /** Connections at most: a receiver serves 8 by default, and syncs need some. */
  static final int POOL = 4;

  /** An idle connection older than this is not reused: the receiver drops one idle for 60 s. */
  private static final long IDLE_NANOS = 20_000_000_000L;

  /** A read shorter than this fetches a window around it (a record header, the trailer). */
  private static final int WINDOW_BYTES = 16 << 10;

  private final ReceiverConnection.Peer peer;
  private final int readTimeoutMillis;
  private final Semaphore permits = new Semaphore(POOL, true);
  private final ArrayDeque<Idle> idle = new ArrayDeque<>(); // guarded by itself
  private volatile Map<String, Listed> snapshot;
  private volatile boolean closed;

  /** A connection given back, and when. */
  private record Idle(ReceiverConnection connection, long sinceNanos) {}

  /** One request and its answer, on a connection. */
  @FunctionalInterface
  interface Exchange<T> {
    T on(ReceiverConnection c) throws IOException;
  }

  RemoteArchiveFiles(ReceiverConnection.Peer peer, int readTimeoutMillis) {
    this.peer = peer;
    this.readTimeoutMillis = readTimeoutMillis;
  }

  /** A new session: logged in, and refused clearly by a receiver that does not serve reads. */
  private ReceiverConnection connect() throws IOException {
    ReceiverConnection c;
    try {
      c =
          new ReceiverConnection(
              peer, RemoteMessages.FLAG_ARCHIVE | RemoteMessages.FLAG_READ, readTimeoutMillis);
    } catch (IOException e) { // a reset in the handshake says neither who nor what
      String where = peer.host() + ":" + peer.port();
      throw String.valueOf(e.getMessage()).contains(where)
          ? e
          : new IOException(peer.describe() + ": logging in failed (" + e.getMessage() + ")", e);
    }
    byte[] ok = c.answer;
    if (ok.length != 4 || ByteBuffer.wrap(ok).getInt() != RemoteMessages.READ_SESSION_VERSION) {
      c.abort();
      throw new CbtfsException(
          peer.describe()
              + ": the receiver does not serve reads of its archives (an older cbtfs receive?"
              + " upgrade it), or speaks another version");
    }
    return c;
  }

  /**
   * Runs {@code exchange} on a pooled connection, or a new one; once more on a new connection if
   * the first fails with an I/O error.
   */
  <T> T exchange(Exchange<T> exchange) throws IOException {
    if (closed) {
      throw new IOException(peer.describe() + ": closed");
    }
    try {
      permits.acquire();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted waiting for a connection to the receiver");
    }
    try {
      for (int attempt = 0; ; attempt++) {
        ReceiverConnection c = attempt == 0 ? takeIdle() : null;
        if (c == null) {
          c = connect();
        }
        try {
          T answer = exchange.on(c);
          giveBack(c);
          return answer;
        } catch (IOException e) {
          c.abort();
          if (attempt > 0) {
            throw c.broken(e);
          }
        } catch (RuntimeException e) { // the receiver's ERR, or a protocol breach: final
          c.abort();
          throw e;
        }
      }
    } finally {
      permits.release();
    }
  }

  private ReceiverConnection takeIdle() {
    synchronized (idle) {
      long now = System.nanoTime();
      while (!idle.isEmpty()) {
        Idle i = idle.pollLast(); // the most recently used first
        if (now - i.sinceNanos() < IDLE_NANOS) {
          return i.connection();
        }
        i.connection().abort();
      }
      return null;
    }
  }

  private void giveBack(ReceiverConnection c) {
    synchronized (idle) {
      if (!closed) {
        idle.addLast(new Idle(c, System.nanoTime()));
        return;
      }
    }
    c.abort();
  }

  /** The snapshot of the archive's files, taken by the first call. */
  private Map<String, Listed> files() throws IOException {
    Map<String, Listed> s = snapshot;
    if (s == null) {
      synchronized (this) {
        if (snapshot == null) {
          snapshot = exchange(this::askList);
        }
        s = snapshot;
      }
    }
    return s;
  }

  private Map<String, Listed> askList(ReceiverConnection c) throws IOException {
    Frames.write(c.out, Frames.LIST, new byte[0]);
    Map<String, Listed> files = new HashMap<>();
    while (true) {
      Frames.Frame f = Frames.read(c.in);
      if (f.type() == Frames.END && f.payload().length == 0) {
        return files;
      }
      if (f.type() == Frames.ERR) {
        throw new CbtfsException(peer.describe() + ": " + Frames.printable(f.text()));
      }
      if (f.type() != Frames.DATA) {
        throw new CbtfsException("protocol error: frame " + f.type() + " in a LIST answer");
      }
      for (RemoteMessages.Listed l :
          RemoteMessages.Listed.decodeAll(f.payload(), ArchiveFiles::isServed)) {
        Listed file =
            new Listed(
                l.name(), l.byteSize(), Instant.ofEpochMilli(l.modifiedMillis()), l.fileId());
        if (files.put(l.name(), file) != null) {
          throw new CbtfsException(
              "protocol error: " + peer.describe() + " listed " + l.name() + " twice");
        }
        if (files.size() > RemoteMessages.MAX_LISTED) {
          throw new CbtfsException(
              "protocol error: "
                  + peer.describe()
                  + " listed more than "
                  + RemoteMessages.MAX_LISTED
                  + " files");
        }
      }
    }
  }

  @Override
  public List<Listed> list() throws IOException {
    return new ArrayList<>(files().values());
  }

  @Override
  public PositionalFile open(String name) throws IOException {
    Listed l = files().get(name);
    if (l == null) {
      throw new NoSuchFileException(where(name));
    }
    return new RemoteFile(l);
  }

  @Override
  public String where(String name) {
    return "cbtfs://" + peer.host() + ":" + peer.port() + "/" + peer.name() + ".archive/" + name;
  }

  /** {@code byteLength} bytes of {@code name} at {@code byteOffset}, all of them there. */
  private byte[] fetch(Listed file, long byteOffset, int byteLength) throws IOException {
    String name = file.name();
    RemoteMessages.Read request =
        new RemoteMessages.Read(name, byteOffset, byteLength, file.byteSize(), file.fileId());
    byte[] bytes =
        exchange(
            c -> {
              Frames.write(c.out, Frames.READ, request.encode());
              return Frames.expect(c.in, Frames.DATA, peer.describe()).payload();
            });
    if (bytes.length != byteLength) {
      throw new CbtfsException(
          where(name)
              + ": "
              + bytes.length
              + " bytes at "
              + byteOffset
              + " where "
              + byteLength
              + " were asked (the file changed since it was listed)");
    }
    return bytes;
  }

  /** Ends every pooled connection; requests after it fail. Idempotent. */
  @Override
  public void close() {
    closed = true;
    synchronized (idle) {
      for (Idle i : idle) {
        try {
          i.connection().close(); // a goodbye: the receiver reads the end of the session
        } catch (IOException e) {
          i.connection().abort();
        }
      }
      idle.clear();
    }
  }

  /** One listed file, read by position; its length is the listed one. */
  private final class RemoteFile implements PositionalFile {
    private final Listed file;
    private byte[] window = new byte[0]; // guarded by this
    private long windowAt = -1;

    RemoteFile(Listed file) {
      this.file = file;
    }

    @Override
    public long byteSize() {
      return file.byteSize();
    }

    @Override
    public int read(ByteBuffer into, long byteOffset) throws IOException {
      if (byteOffset >= file.byteSize()) {
        return into.hasRemaining() ? -1 : 0;
      }
      int want = (int) Math.min(into.remaining(), file.byteSize() - byteOffset);
      if (want >= WINDOW_BYTES) {
        int n = Math.min(want, RemoteMessages.MAX_READ_BYTES);
        into.put(fetch(file, byteOffset, n));
        return n;
      }
      synchronized (this) {
        if (windowAt < 0 || byteOffset < windowAt || byteOffset + want > windowAt + window.length) {
          int n = (int) Math.min(WINDOW_BYTES, file.byteSize() - byteOffset);
          window = fetch(file, byteOffset, n);
          windowAt = byteOffset;
        }
        into.put(window, (int) (byteOffset - windowAt), want);
      }
      return want;
    }

    @Override
    public void close() {
      // the connections are the pool's
    }
  }
}
