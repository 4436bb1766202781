package io.cbtfs.s3;

import io.cbtfs.syncer.Futures;
import io.cbtfs.syncer.Threads;
import java.io.IOException;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Hashes, deduplicates and uploads chunks on {@link S3Store#CONNECTIONS} threads. A chunk the store
 * already has (listed in the image's last manifest, or found by a HEAD request) is not sent again:
 * that is what makes generations, clones and resumed syncs cheap. At most {@code CONNECTIONS}
 * chunks are held at once: {@link #submit} blocks the caller beyond that.
 */
final class ChunkUploader implements AutoCloseable {
  private final S3Store store;
  private final Set<String> known;
  private final ChunkObject codec;
  private final ThreadLocal<byte[]> spare = new ThreadLocal<>();
  private final Semaphore room = new Semaphore(S3Store.CONNECTIONS);
  private final Map<String, CompletableFuture<Void>> seen = new ConcurrentHashMap<>();
  private final ExecutorService pool =
      Executors.newFixedThreadPool(S3Store.CONNECTIONS, Threads.daemon("cbtfs-s3-upload"));
  private final AtomicReference<Throwable> failure = new AtomicReference<>();
  final AtomicLong uploadedChunks = new AtomicLong();
  final AtomicLong uploadedBytes = new AtomicLong();
  final AtomicLong dedupedChunks = new AtomicLong();

  /**
   * @param known chunks the store is known to hold (the base manifest's): no request for those
   */
  ChunkUploader(S3Store store, Set<String> known, ChunkObject codec) {
    this.store = store;
    this.codec = codec;
    this.known = known;
  }

  /** Stores {@code data} (owned by the uploader from now on); completes with its name. */
  CompletableFuture<byte[]> submit(byte[] data) throws IOException {
    check();
    try {
      while (!room.tryAcquire(100, TimeUnit.MILLISECONDS)) {
        check();
        if (pool.isShutdown()) {
          throw new IOException("upload cancelled");
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while uploading");
    }
    CompletableFuture<byte[]> done = new CompletableFuture<>();
    try {
      pool.execute(
          () -> {
            try {
              byte[] hash = codec.name(data, data.length);
              store(hash, data);
              done.complete(hash);
            } catch (Throwable e) {
              failure.compareAndSet(null, e);
              done.completeExceptionally(e);
            } finally {
              room.release();
            }
          });
    } catch (RuntimeException e) { // the pool was shut down: the delivery is closing
      room.release();
      throw new IOException("upload cancelled", e);
    }
    return done;
  }

  /** Fails fast: the first upload that failed ends the stream, not just its commit. */
  void check() throws IOException {
    Throwable e = failure.get();
    if (e instanceof IOException io) {
      throw new IOException(io.getMessage(), io);
    }
    if (e != null) {
      throw new IOException("upload failed: " + e, e);
    }
  }

  private void store(byte[] name, byte[] data) throws IOException {
    String hex = ChunkObject.hex(name);
    if (known.contains(hex)) {
      dedupedChunks.incrementAndGet();
      return;
    }
    CompletableFuture<Void> mine = new CompletableFuture<>();
    CompletableFuture<Void> first = seen.putIfAbsent(hex, mine);
    if (first != null) { // the same bytes twice in one delta: one upload
      Futures.await(first, "uploading");
      dedupedChunks.incrementAndGet();
      return;
    }
    try {
      String key = store.location().chunkKey(hex);
      if (store.head(key) != null) {
        dedupedChunks.incrementAndGet();
      } else {
        ChunkObject.Encoded object = codec.encode(data, data.length, spare.get(), name);
        store.put(key, object::stream, object.length(), Map.of(), null);
        if (object.compressedInto() != null) {
          // the PUT is done with it: this thread's next chunk compresses into it
          spare.set(object.compressedInto());
        }
        uploadedChunks.incrementAndGet();
        uploadedBytes.addAndGet(object.length());
      }
      mine.complete(null);
    } catch (Throwable e) {
      mine.completeExceptionally(e);
      seen.remove(hex, mine);
      throw e;
    }
  }

  /** Lets the uploads already handed over finish, for up to {@code limit}. */
  void finish(java.time.Duration limit) {
    pool.shutdown();
    try {
      pool.awaitTermination(limit.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    pool.shutdownNow();
  }
}
