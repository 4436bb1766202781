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
 * Hashes, deduplicates and uploads chunks on {@code inFlight} threads (at most {@link
 * S3Store#CONNECTIONS}, fewer for big chunks: {@link UploadMemory}). A chunk the store already has
 * (listed in the image's last manifest, or found by a HEAD request) is not sent again: that is what
 * makes generations, clones and resumed syncs cheap. At most {@code inFlight} chunks are held at
 * once: {@link #submit} blocks the caller beyond that. Their arrays, and those they are sealed
 * into, are reused ({@link ChunkArrays}): a chunk is filled into {@link #array}.
 */
final class ChunkUploader implements AutoCloseable {
  private final S3Store store;
  private final Set<String> known;
  private final ChunkObject codec;
  private final ThreadLocal<byte[]> spare = new ThreadLocal<>();
  private final ChunkArrays arrays;
  private final Semaphore room;

  /**
   * Chunks sealed at once. Sealing holds two arrays (the chunk's and the sealed copy's) and each
   * array kept is 1 MiB of a mount's small heap: two at a time bound them to {@code CONNECTIONS}
   * and a few. Sealing 1 MiB takes well under a millisecond and its PUT tens: two keep up.
   */
  static final int SEALING_AT_ONCE = 2;

  private final Semaphore sealing = new Semaphore(SEALING_AT_ONCE);
  private final Map<String, CompletableFuture<Void>> seen = new ConcurrentHashMap<>();
  private final ExecutorService pool;
  private final AtomicReference<Throwable> failure = new AtomicReference<>();
  final AtomicLong uploadedChunks = new AtomicLong();
  final AtomicLong uploadedBytes = new AtomicLong();
  final AtomicLong dedupedChunks = new AtomicLong();
  private final java.util.concurrent.atomic.AtomicInteger compressedCopies =
      new java.util.concurrent.atomic.AtomicInteger();

  /**
   * @param known chunks the store is known to hold (the base manifest's): no request for those
   * @param inFlight chunks held at once, each with its own thread (and that thread's compressed
   *     copy): {@link UploadMemory} says how many fit
   */
  ChunkUploader(S3Store store, Set<String> known, ChunkObject codec, int chunkBytes, int inFlight) {
    this.room = new Semaphore(inFlight);
    this.pool = Executors.newFixedThreadPool(inFlight, Threads.daemon("cbtfs-s3-upload"));
    this.store = store;
    this.codec = codec;
    this.known = known;
    this.arrays = new ChunkArrays(Math.max(chunkBytes, ChunkObject.sealedBytes(chunkBytes)));
  }

  /** An array to fill with a chunk of up to the chunk size and {@link #submit}. */
  byte[] array() {
    return arrays.take();
  }

  /** How many chunk arrays this uploader made. */
  int arraysMade() {
    return arrays.made();
  }

  /** How many of its threads keep a compressed copy of a chunk (one each at most). */
  int compressedCopies() {
    return compressedCopies.get();
  }

  /**
   * Stores {@code data[0, length)}, an {@link #array} (owned by the uploader from now on);
   * completes with its name.
   */
  CompletableFuture<byte[]> submit(byte[] data, int length) throws IOException {
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
              byte[] hash = codec.name(data, length);
              store(hash, new Held(data, length));
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

  /** A chunk's array, given back once, as soon as the upload no longer reads it. */
  private final class Held {
    private byte[] data;
    final int length;

    Held(byte[] data, int length) {
      this.data = data;
      this.length = length;
    }

    byte[] data() {
      return data;
    }

    void giveBack() {
      arrays.giveBack(data);
      data = null;
    }
  }

  private void store(byte[] name, Held chunk) throws IOException {
    try {
      storeOnce(name, chunk);
    } finally {
      chunk.giveBack();
    }
  }

  private void storeOnce(byte[] name, Held chunk) throws IOException {
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
        byte[] sealed = null;
        try {
          ChunkObject.Encoded object;
          if (codec.seals()) {
            sealing.acquireUninterruptibly(); // held for a short computation only
            try {
              sealed = arrays.take();
              object = codec.encode(chunk.data(), chunk.length, spare.get(), name, sealed);
              chunk.giveBack(); // the sealed copy is what travels
            } finally {
              sealing.release();
            }
          } else {
            object = codec.encode(chunk.data(), chunk.length, spare.get(), name, null);
          }
          store.put(key, object::stream, object.length(), Map.of(), null);
          if (object.compressedInto() != null) {
            // the PUT is done with it: this thread's next chunk compresses into it
            if (spare.get() == null) {
              compressedCopies.incrementAndGet();
            }
            spare.set(object.compressedInto());
          }
          uploadedChunks.incrementAndGet();
          uploadedBytes.addAndGet(object.length());
        } finally {
          arrays.giveBack(sealed);
        }
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
