package io.cbtfs.syncer;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;

/**
 * Verified, decoded pieces of stored images (a delta record, an object-store chunk), least recently
 * used first out, within a byte limit. Concurrent readers of one missing piece load it once: the
 * others wait for that load. A piece larger than the whole limit is handed out but not kept.
 * Thread-safe.
 */
public final class PieceCache {
  /** A piece: which stored image ({@code owner}, compared by identity) and which of its pieces. */
  public record Key(Object owner, int piece) {
    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && k.owner == owner && k.piece == piece;
    }

    @Override
    public int hashCode() {
      return System.identityHashCode(owner) * 31 + piece;
    }
  }

  /** Loads (fetches, decodes, verifies) one piece. */
  @FunctionalInterface
  public interface Loader {
    byte[] load() throws IOException;
  }

  /**
   * Pieces loaded ahead of a sequential reader, a few at a time (daemon threads, idle ones end).
   */
  private static final java.util.concurrent.ThreadPoolExecutor AHEAD =
      new java.util.concurrent.ThreadPoolExecutor(
          4,
          4,
          30,
          java.util.concurrent.TimeUnit.SECONDS,
          new java.util.concurrent.LinkedBlockingQueue<>(64),
          Threads.daemon("cbtfs-read-ahead"),
          new java.util.concurrent.ThreadPoolExecutor.DiscardPolicy());

  static {
    AHEAD.allowCoreThreadTimeOut(true);
  }

  private final long limitBytes;
  private final LinkedHashMap<Key, byte[]> pieces = new LinkedHashMap<>(64, 0.75f, true);
  private final ConcurrentHashMap<Key, CompletableFuture<byte[]>> loading =
      new ConcurrentHashMap<>();
  private long bytes;
  private long peakBytes;
  private long hits;
  private long misses;

  public PieceCache(long limitBytes) {
    if (limitBytes < 0) {
      throw new IllegalArgumentException("cache limit " + limitBytes);
    }
    this.limitBytes = limitBytes;
  }

  public long limitBytes() {
    return limitBytes;
  }

  /** The bytes held now. */
  public synchronized long bytes() {
    return bytes;
  }

  /** The most bytes ever held at once. */
  public synchronized long peakBytes() {
    return peakBytes;
  }

  public synchronized long hits() {
    return hits;
  }

  public synchronized long misses() {
    return misses;
  }

  /** The piece of {@code key}: from the cache, else from {@code loader} (and then kept). */
  public byte[] get(Key key, Loader loader) throws IOException {
    synchronized (this) {
      byte[] held = pieces.get(key);
      if (held != null) {
        hits++;
        return held;
      }
      misses++;
    }
    CompletableFuture<byte[]> mine = new CompletableFuture<>();
    CompletableFuture<byte[]> running = loading.putIfAbsent(key, mine);
    if (running != null) {
      return await(running);
    }
    try {
      byte[] piece;
      synchronized (this) {
        piece = pieces.get(key); // kept by a load that ended since the look above
      }
      if (piece == null) {
        piece = loader.load();
      }
      keep(key, piece);
      mine.complete(piece);
      return piece;
    } catch (IOException | RuntimeException | Error e) {
      mine.completeExceptionally(e); // the waiters fail too; the next read tries again
      throw e;
    } finally {
      loading.remove(key, mine);
    }
  }

  /**
   * Loads {@code key} in the background unless it is held or loading: a sequential reader's next
   * pieces. A failure is not kept (the reader's own load reports it); a full queue drops it.
   */
  public void prefetch(Key key, Loader loader) {
    synchronized (this) {
      if (pieces.containsKey(key)) {
        return;
      }
    }
    if (loading.containsKey(key)) {
      return;
    }
    AHEAD.execute(
        () -> {
          try {
            get(key, loader);
          } catch (IOException | RuntimeException e) {
            // the read that needs it loads it again and says what is wrong
          }
        });
  }

  private synchronized void keep(Key key, byte[] piece) {
    if (piece.length > limitBytes || pieces.containsKey(key)) {
      return;
    }
    var it = pieces.entrySet().iterator();
    while (bytes + piece.length > limitBytes && it.hasNext()) {
      Map.Entry<Key, byte[]> oldest = it.next();
      bytes -= oldest.getValue().length;
      it.remove();
    }
    pieces.put(key, piece);
    bytes += piece.length;
    peakBytes = Math.max(peakBytes, bytes);
  }

  /** Drops every piece of {@code owner} (a stored image closed). */
  public synchronized void dropAll(Object owner) {
    var it = pieces.entrySet().iterator();
    while (it.hasNext()) {
      Map.Entry<Key, byte[]> e = it.next();
      if (e.getKey().owner() == owner) {
        bytes -= e.getValue().length;
        it.remove();
      }
    }
  }

  private static byte[] await(CompletableFuture<byte[]> running) throws IOException {
    try {
      return running.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new java.io.InterruptedIOException("interrupted while a piece loaded");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof IOException io) {
        throw new IOException(io.getMessage(), io);
      }
      if (c instanceof RuntimeException r) {
        throw r;
      }
      throw new IOException(c.toString(), c);
    }
  }
}
