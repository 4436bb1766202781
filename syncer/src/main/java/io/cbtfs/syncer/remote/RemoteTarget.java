package io.cbtfs.syncer.remote;

import io.cbtfs.syncer.BlockHashes;
import io.cbtfs.syncer.Comparison;
import io.cbtfs.syncer.Delivery;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.ImageReads;
import io.cbtfs.syncer.KeptAttempt;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.syncer.crypto.KeyFile;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.roaringbitmap.RoaringBitmap;

/**
 * {@code cbtfs://HOST:PORT/NAME[?archive][&pin=SHA256][&token-file=PATH][&insecure]}: a replica
 * (or, with {@code archive}, an archive) kept by a {@link Receiver}. {@code pin} is the receiver
 * certificate's SHA-256 fingerprint ({@code cbtfs receive --init} prints it); {@code token-file}
 * defaults to {@code $CBTFS_TOKEN_FILE}. {@code insecure} (plain TCP, no pin) is for loopback tests
 * only and must be set on both sides.
 */
public final class RemoteTarget implements Target {
  static final int READ_TIMEOUT_MILLIS = 120_000;

  /** The receiver verifies, stores and applies a whole delta before it answers END. */
  static final int COMMIT_TIMEOUT_MILLIS = 60 * 60_000;

  private static final int FRAME_BYTES = 1 << 20;

  private final String host;
  private final int port;
  private final String name;
  private final boolean archive;
  private final byte[] token;
  private final String pin;
  private final EncryptionKey key; // seals the records sent to an archive; null: clear
  private final int readTimeoutMillis;

  RemoteTarget(String host, int port, String name, boolean archive, byte[] token, String pin) {
    this(host, port, name, archive, token, pin, null, READ_TIMEOUT_MILLIS);
  }

  RemoteTarget(
      String host,
      int port,
      String name,
      boolean archive,
      byte[] token,
      String pin,
      EncryptionKey key,
      int readTimeoutMillis) {
    this.key = key;
    this.readTimeoutMillis = readTimeoutMillis;
    this.host = host;
    this.port = port;
    this.name = name;
    this.archive = archive;
    this.token = token;
    this.pin = pin;
  }

  /**
   * Parses a {@code cbtfs://} URI.
   *
   * @throws IllegalArgumentException for a malformed URI, a missing pin (without {@code insecure})
   *     or a missing token
   */
  public static RemoteTarget parse(String uri) throws IOException {
    return parse(uri, READ_TIMEOUT_MILLIS);
  }

  /** {@link #parse(String)}, waiting at most {@code readTimeoutMillis} for each answer. */
  static RemoteTarget parse(String uri, int readTimeoutMillis) throws IOException {
    Address a = Address.parse(uri);
    Map<String, String> q = a.query();
    boolean insecure = q.containsKey("insecure");
    String pin = q.get("pin");
    if (!insecure && (pin == null || pin.isEmpty())) {
      throw new IllegalArgumentException(
          "cbtfs:// needs pin=<the receiver's SHA-256 "
              + "fingerprint> (printed by cbtfs receive --init), or insecure for loopback tests");
    }
    String tokenFile = q.getOrDefault("token-file", System.getenv("CBTFS_TOKEN_FILE"));
    if (tokenFile == null || tokenFile.isEmpty()) {
      throw new IllegalArgumentException("cbtfs:// needs token-file=PATH or $CBTFS_TOKEN_FILE");
    }
    String keyFile = q.get("encrypt-key");
    if (keyFile != null && !q.containsKey("archive")) {
      throw new IllegalArgumentException(
          "--encrypt-key needs an archive (cbtfs://HOST:PORT/NAME?archive): a receiver's replica "
              + "applies blocks and cannot hold them encrypted");
    }
    return new RemoteTarget(
        a.host(),
        a.port(),
        a.name(),
        q.containsKey("archive"),
        Tokens.load(Path.of(tokenFile)),
        insecure ? null : pin,
        keyFile == null || keyFile.isEmpty() ? null : KeyFile.load(Path.of(keyFile)),
        readTimeoutMillis);
  }

  /** Whom a connection logs in to: the receiver, its pin, the name and the token. */
  ReceiverConnection.Peer peer() {
    return new ReceiverConnection.Peer(host, port, name, token, pin, describe());
  }

  /** Whether the URI named an archive ({@code ?archive}). */
  boolean archive() {
    return archive;
  }

  int readTimeoutMillis() {
    return readTimeoutMillis;
  }

  /** An encrypted archive's records travel and rest sealed: the receiver never sees them. */
  @Override
  public EncryptionKey recordKey() {
    return key;
  }

  /**
   * The name a sync to {@code uri} gives its cursor ({@link #describe}), without the pin or the
   * token a connection needs: what {@code cbtfs forget} matches.
   *
   * @throws IllegalArgumentException for a malformed URI
   */
  public static String cursorName(String uri) {
    Address a = Address.parse(uri);
    return describe(a.host(), a.port(), a.name(), a.query().containsKey("archive"));
  }

  /** Where a {@code cbtfs://} URI points, and its query. */
  private record Address(String host, int port, String name, Map<String, String> query) {
    static Address parse(String uri) {
      URI u;
      try {
        u = new URI(uri);
      } catch (URISyntaxException e) {
        throw new IllegalArgumentException("not a cbtfs:// URI: " + uri);
      }
      String path = u.getPath() == null ? "" : u.getPath();
      if (u.getHost() == null || u.getPort() < 0 || path.length() < 2) {
        throw new IllegalArgumentException("use cbtfs://HOST:PORT/NAME, not " + uri);
      }
      String name = path.substring(1);
      if (!RemoteMessages.NAME.matcher(name).matches()) {
        throw new IllegalArgumentException("bad target name '" + name + "'");
      }
      Map<String, String> q = new HashMap<>();
      if (u.getRawQuery() != null) {
        for (String part : u.getRawQuery().split("&")) {
          int eq = part.indexOf('=');
          q.put(eq < 0 ? part : part.substring(0, eq), eq < 0 ? "" : part.substring(eq + 1));
        }
      }
      return new Address(u.getHost(), u.getPort(), name, q);
    }
  }

  @Override
  public String describe() {
    return describe(host, port, name, archive);
  }

  private static String describe(String host, int port, String name, boolean archive) {
    return "cbtfs://" + host + ":" + port + "/" + name + (archive ? "?archive" : "");
  }

  /** An authenticated connection, after the receiver's state answer. */
  private final class Connection extends ReceiverConnection {
    final TargetState state;

    Connection() throws IOException {
      super(peer(), archive ? RemoteMessages.FLAG_ARCHIVE : 0, readTimeoutMillis);
      try {
        state = RemoteMessages.decode(answer);
      } catch (RuntimeException e) {
        abort();
        throw e;
      }
    }
  }

  /** The connection that answered {@link #state}, kept for a {@link #begin} right after it. */
  private Connection kept;

  private long keptAt;

  /** Reused only this soon: the receiver drops a connection idle for its timeout (60 s). */
  private static final long KEEP_NANOS = 20_000_000_000L;

  /**
   * Asks the receiver what it holds. The connection stays open for the {@link #begin} that a sync
   * sends next (one TLS handshake and login per sync, not two) until {@link #close}.
   */
  @Override
  public synchronized TargetState state() throws IOException {
    close();
    kept = new Connection();
    keptAt = System.nanoTime();
    return kept.state;
  }

  /** The kept connection if it is fresh, else a new one. */
  private synchronized Connection connection() throws IOException {
    Connection c = kept;
    kept = null;
    if (c != null && System.nanoTime() - keptAt < KEEP_NANOS) {
      return c;
    }
    if (c != null) {
      c.close();
    }
    return new Connection();
  }

  @Override
  public synchronized void close() throws IOException {
    if (kept != null) {
      Connection c = kept;
      kept = null;
      c.close(); // the receiver reads it as a finished state query
    }
  }

  /** A receiver keeps what it verified of a failed delta in clear (never a sealed one). */
  @Override
  public boolean keepsAttempts() {
    return key == null;
  }

  @Override
  public Delivery begin(DeltaHeader header, boolean allowNewLineage) throws IOException {
    return begin(header, allowNewLineage, false);
  }

  @Override
  public Delivery beginResuming(DeltaHeader header) throws IOException {
    return begin(header, false, !header.sealed());
  }

  private Delivery begin(DeltaHeader header, boolean allowNewLineage, boolean resumable)
      throws IOException {
    Connection c = connection();
    KeptAttempt kept;
    try {
      c.state.check(header, describe(), allowNewLineage); // refuse early, as a local target does
      byte[] h = header.encode();
      byte[] begin = Arrays.copyOf(h, h.length + 1);
      begin[h.length] =
          (byte)
              ((allowNewLineage ? RemoteMessages.BEGIN_ALLOW_NEW_LINEAGE : 0)
                  | (resumable ? RemoteMessages.BEGIN_RESUMABLE : 0));
      Frames.write(c.out, Frames.BEGIN, begin);
      if (resumable) { // the receiver verifies what it kept before it answers: as long as a commit
        c.socket.setSoTimeout(COMMIT_TIMEOUT_MILLIS);
      }
      byte[] ok = Frames.expect(c.in, Frames.OK, describe()).payload();
      kept = resumable && ok.length > 0 ? readKept(c, ok) : null;
      c.socket.setSoTimeout(readTimeoutMillis);
    } catch (IOException | RuntimeException e) {
      c.abort();
      throw e;
    }
    return new Delivery() {
      private boolean committed;

      @Override
      public KeptAttempt kept() {
        return kept;
      }

      private final OutputStream frames =
          new OutputStream() {
            @Override
            public void write(int b) throws IOException {
              write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
              try {
                for (int done = 0; done < len; ) {
                  int n = Math.min(FRAME_BYTES, len - done);
                  Frames.write(c.out, Frames.DATA, b, off + done, n);
                  done += n;
                }
              } catch (IOException e) {
                throw c.peerError(e);
              }
            }

            @Override
            public void flush() throws IOException {
              try {
                c.out.flush();
              } catch (IOException e) {
                throw c.peerError(e);
              }
            }
          };
      private final OutputStream stream = new BufferedOutputStream(frames, FRAME_BYTES);

      @Override
      public OutputStream stream() {
        return stream;
      }

      @Override
      public long commit() throws IOException {
        stream.flush();
        try {
          Frames.write(c.out, Frames.END, new byte[0]);
        } catch (IOException e) {
          throw c.peerError(e);
        }
        c.socket.setSoTimeout(COMMIT_TIMEOUT_MILLIS);
        byte[] ack;
        try {
          ack = Frames.expect(c.in, Frames.ACK, describe()).payload();
        } catch (SocketTimeoutException e) {
          throw e;
        } catch (IOException e) {
          throw c.broken(e);
        }
        if (ack.length != 8) {
          throw new CbtfsException("protocol error: ACK of " + ack.length + " bytes");
        }
        committed = true;
        return ByteBuffer.wrap(ack).getLong();
      }

      @Override
      public void close() throws IOException {
        if (committed) {
          c.close();
        } else {
          c.abort(); // without END the receiver discards (or keeps) what it staged
        }
      }
    };
  }

  /**
   * The receiver's answer to a resumable BEGIN when it kept an attempt: its generation and record
   * count ({@code ok}), then DATA frames of the records' 21-byte headers, ascending and apart.
   */
  private KeptAttempt readKept(Connection c, byte[] ok) throws IOException {
    if (ok.length != 12) {
      throw new CbtfsException("protocol error: BEGIN answer of " + ok.length + " bytes");
    }
    ByteBuffer b = ByteBuffer.wrap(ok);
    long generation = b.getLong();
    int count = b.getInt();
    if (count < 0) {
      throw new CbtfsException("protocol error: " + count + " kept records");
    }
    List<KeptAttempt.KeptRecord> records = new ArrayList<>();
    long end = 0;
    while (records.size() < count) {
      byte[] p = Frames.expect(c.in, Frames.DATA, describe()).payload();
      if (p.length == 0 || p.length % KeptAttempt.KeptRecord.HEADER_BYTES != 0) {
        throw new CbtfsException("protocol error: kept records of " + p.length + " bytes");
      }
      for (int at = 0; at < p.length; at += KeptAttempt.KeptRecord.HEADER_BYTES) {
        KeptAttempt.KeptRecord r =
            KeptAttempt.KeptRecord.of(
                Arrays.copyOfRange(p, at, at + KeptAttempt.KeptRecord.HEADER_BYTES));
        if (r.byteOffset() < end || r.byteLength() <= 0 || records.size() == count) {
          throw new CbtfsException("protocol error: kept records out of order");
        }
        end = r.end();
        records.add(r);
      }
    }
    List<KeptAttempt.KeptRecord> kept = List.copyOf(records);
    return new KeptAttempt() {
      @Override
      public long generation() {
        return generation;
      }

      @Override
      public List<KeptAttempt.KeptRecord> records() {
        return kept;
      }

      @Override
      public void reuse(int index) throws IOException {
        try {
          Frames.write(c.out, Frames.REUSE, ByteBuffer.allocate(4).putInt(index).array());
        } catch (IOException e) {
          throw c.peerError(e);
        }
      }
    };
  }

  /**
   * Asks the receiver for the SHA-256 of each block of its replica (HASHES) and compares them with
   * the image's, block by block as they stream in: 32 bytes per block travel, not the block.
   *
   * @throws UnsupportedOperationException for an archive (the caller then sends every block)
   */
  @Override
  public Comparison compare(FileChannel image, long imageSize, BlockGeometry geometry, long limit)
      throws IOException {
    if (archive) {
      throw new UnsupportedOperationException(
          "comparing with " + describe() + " is not supported: run cbtfs verify on the receiver");
    }
    int bs = geometry.blockSize();
    RoaringBitmap differing = new RoaringBitmap();
    try (Connection c = connection()) {
      if (!c.state.exists()) {
        return Comparison.nothingStored();
      }
      Frames.write(c.out, Frames.HASHES, ByteBuffer.allocate(4).putInt(bs).array());
      byte[] ok = Frames.expect(c.in, Frames.OK, describe()).payload();
      if (ok.length != 8) {
        throw new CbtfsException("protocol error: HASHES answer of " + ok.length + " bytes");
      }
      long theirSize = ByteBuffer.wrap(ok).getLong();
      if (theirSize != c.state.imageSize()) { // the replica's own record says how big it is
        throw new CbtfsException(
            "protocol error: "
                + describe()
                + " announced "
                + theirSize
                + " bytes for a replica of "
                + c.state.imageSize());
      }
      long theirBlocks = geometry.blockCount(theirSize);
      long comparableBlocks = geometry.blockCount(Math.min(theirSize, imageSize));
      long block = 0;
      byte[] buf = new byte[bs];
      MessageDigest sha = BlockHashes.sha256();
      while (true) {
        Frames.Frame f = Frames.read(c.in);
        if (f.type() == Frames.END) {
          break;
        }
        if (f.type() == Frames.ERR) {
          throw new CbtfsException(describe() + ": " + Frames.printable(f.text()));
        }
        if (f.type() != Frames.DATA || f.payload().length % BlockHashes.BYTES != 0) {
          throw new CbtfsException("protocol error: bad HASHES data from " + describe());
        }
        for (int at = 0; at < f.payload().length; at += BlockHashes.BYTES) {
          long b = block++;
          if (b >= theirBlocks) {
            throw new CbtfsException("protocol error: more hashes than blocks from " + describe());
          }
          if (b >= comparableBlocks || differing.getLongCardinality() >= limit) {
            continue; // past the smaller size the sizes decide; every hash is read all the same
          }
          long offset = b * bs;
          long ours = Math.min(bs, imageSize - offset);
          long theirs = Math.min(bs, theirSize - offset);
          boolean same = false;
          if (ours == theirs) { // only a block as long on both sides can match
            ImageReads.readFully(image, offset, buf, (int) ours);
            sha.update(buf, 0, (int) ours);
            same = Arrays.equals(sha.digest(), 0, 32, f.payload(), at, at + 32);
          }
          if (!same) {
            differing.add((int) b);
          }
        }
      }
      if (block != theirBlocks) {
        throw new CbtfsException("protocol error: " + describe() + " sent too few hashes");
      }
      return Comparison.of(theirSize, differing);
    }
  }
}
