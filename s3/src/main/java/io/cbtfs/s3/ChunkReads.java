package io.cbtfs.s3;

import io.cbtfs.syncer.Futures;
import io.cbtfs.syncer.Threads;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Fetches the chunks of a manifest, each once, {@link S3Store#CONNECTIONS} at a time, verifies each
 * against its name, and hands them to the caller one by one on the caller's thread. At most {@code
 * 2 x CONNECTIONS} chunks are held at once.
 */
final class ChunkReads {
  /** What to do with one verified chunk and the extents that use it. */
  @FunctionalInterface
  interface ChunkSink {
    void accept(int chunk, byte[] data, int[] extents) throws IOException;
  }

  private final S3Store store;
  private final Manifest manifest;
  private final ChunkObject codec;

  /**
   * @param codec decodes (and, under a key, opens) each chunk: the one place a restore decrypts
   */
  ChunkReads(S3Store store, Manifest manifest, ChunkObject codec) {
    this.store = store;
    this.manifest = manifest;
    this.codec = codec;
  }

  void forEachChunk(ChunkSink sink) throws IOException {
    int[][] users = extentsByChunk();
    ExecutorService pool =
        Executors.newFixedThreadPool(S3Store.CONNECTIONS, Threads.daemon("cbtfs-s3-read"));
    ArrayDeque<Future<byte[]>> window = new ArrayDeque<>();
    try {
      int next = 0;
      for (int c = 0; c < users.length; c++) {
        String hex = manifest.chunkHex(c);
        window.add(pool.submit(() -> fetch(hex)));
        if (window.size() >= 2 * S3Store.CONNECTIONS) {
          sink.accept(next, take(window), users[next]);
          next++;
        }
      }
      while (!window.isEmpty()) {
        sink.accept(next, take(window), users[next]);
        next++;
      }
    } finally {
      pool.shutdownNow();
    }
  }

  /** Chunk {@code c} of the manifest, fetched, opened and verified against its name. */
  byte[] chunk(int c) throws IOException {
    return fetch(manifest.chunkHex(c));
  }

  private byte[] fetch(String hex) throws IOException {
    String key = store.location().chunkKey(hex);
    byte[] object = store.get(key, ChunkObject.HEADER_BYTES + ChunkObject.MAX_BYTES + (1 << 16));
    if (object == null) {
      throw new DamagedObjectException(
          store.where(key), "chunk is missing (generation " + manifest.header.generation() + ")");
    }
    return codec.decode(object, hex, store.where(key));
  }

  private static byte[] take(ArrayDeque<Future<byte[]>> window) throws IOException {
    return Futures.await(window.removeFirst(), "reading chunks");
  }

  /** For each chunk, the extents that map blocks to it. */
  private int[][] extentsByChunk() {
    int n = manifest.chunkCount();
    int[] counts = new int[n];
    for (int e = 0; e < manifest.extentCount(); e++) {
      counts[manifest.extentChunk(e)]++;
    }
    int[][] users = new int[n][];
    for (int c = 0; c < n; c++) {
      users[c] = new int[counts[c]];
    }
    int[] filled = new int[n];
    for (int e = 0; e < manifest.extentCount(); e++) {
      int c = manifest.extentChunk(e);
      users[c][filled[c]++] = e;
    }
    return users;
  }
}
