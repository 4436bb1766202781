package io.cbtfs.s3;

import io.cbtfs.syncer.CommitPoint;
import io.cbtfs.syncer.CorruptDeltaException;
import io.cbtfs.syncer.Delivery;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.Futures;
import io.cbtfs.syncer.RecordCodec;
import io.cbtfs.syncer.RecordKind;
import io.cbtfs.syncer.StreamVerifier;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;

/**
 * A delta on its way into the store. Each record is verified as it arrives, cut at the chunk grid
 * ({@link #CHUNK_BYTES} of the image), and its chunks are uploaded in parallel while the stream
 * goes on. {@link #commit} waits for the trailer's verdict and every upload, then writes the
 * generation's manifest: the one write that makes the generation exist. Chunks of a delivery that
 * never commits stay in the store, unreferenced: the next sync finds them and does not upload them
 * again, and {@code gc} removes what nobody uses.
 */
final class S3Delivery implements Delivery {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(S3Delivery.class);

  /** The chunk grid: identical 1 MiB regions of two images become one object. */
  static final int CHUNK_BYTES = 1 << 20;

  private final S3Store store;
  private final StoreLock lock;
  private final String image;
  private final DeltaHeader announced;
  private final Manifest base;
  private final int chunkBytes;
  private final ChunkUploader uploader;
  private final StreamVerifier verifier;
  private final OutputStream stream;
  private final List<long[]> pieces = new ArrayList<>(); // {firstBlock, blocks, length}
  private final List<CompletableFuture<byte[]>> hashes = new ArrayList<>();
  private byte[] pending; // an uploader array, gathering the next chunk
  private long pendingOffset;
  private int pendingLength;
  private boolean done;
  private long storedBytes;

  private final java.util.function.Consumer<S3Target.UploadStats> report;
  private final ManifestObject manifests;
  private final String keyName; // the key's fingerprint, or null: stored in clear
  private final UploadMemory.Reservation memory; // the heap the uploads may hold, given back last

  S3Delivery(
      S3Store store,
      StoreLock lock,
      String image,
      DeltaHeader announced,
      Manifest base,
      ChunkObject chunks,
      ManifestObject manifests,
      String keyName,
      UploadMemory.Reservation memory,
      java.util.function.Consumer<S3Target.UploadStats> report) {
    this.memory = memory;
    this.report = report;
    this.manifests = manifests;
    this.keyName = keyName;
    this.store = store;
    this.lock = lock;
    this.image = image;
    this.announced = announced;
    this.base = base;
    this.chunkBytes = chunkBytes(announced);

    Set<String> known = new HashSet<>();
    if (base != null) {
      for (int c = 0; c < base.chunkCount(); c++) {
        known.add(base.chunkHex(c));
      }
    }
    this.uploader = new ChunkUploader(store, known, chunks, chunkBytes, memory.inFlight());
    this.pending = uploader.array();
    this.verifier = new StreamVerifier(store.whereImage(image), this::onRecord);
    this.stream = new BatchingStream(verifier);
  }

  /** The chunk grid of a delta with {@code header}: 1 MiB cells, or one block if larger. */
  static int chunkBytes(DeltaHeader header) {
    return Math.max(CHUNK_BYTES, header.blockSize());
  }

  /** The largest record a sync sends a delta of {@code header} in (one block, if larger). */
  static int recordBytes(DeltaHeader header) {
    return Math.max(io.cbtfs.syncer.Syncer.DEFAULT_RECORD_BYTES, header.blockSize());
  }

  @Override
  public OutputStream stream() {
    return stream;
  }

  /**
   * On the verifier's thread: a verified record, cut at the grid. Consecutive data within one grid
   * cell is gathered into one chunk whatever the sender's record size, so the same bytes at the
   * same place make the same chunk; runs of zeros make no chunk at all.
   */
  private void onRecord(RecordKind kind, long offset, byte[] data, int length) throws IOException {
    long end = offset + length;
    int bs = announced.blockSize();
    if (offset % bs != 0 || (length % bs != 0 && end != announced.imageSize())) {
      // a manifest maps whole blocks: a record must start and end on them (or at the image's end)
      throw new CorruptDeltaException(
          store.whereImage(image),
          "record at " + offset + " of " + length + " bytes is not block-aligned");
    }
    for (long at = offset; at < end; ) {
      long cellEnd = (at / chunkBytes + 1) * chunkBytes;
      long cut = Math.min(end, cellEnd);
      int n = (int) (cut - at);
      int from = (int) (at - offset);
      if (data == null || RecordCodec.isZero(data, from, from + n)) {
        flushPending();
        addPiece(at, n, null);
      } else {
        if (pendingLength > 0
            && (pendingOffset + pendingLength != at
                || pendingOffset / chunkBytes != at / chunkBytes)) {
          flushPending();
        }
        if (pendingLength == 0) {
          pendingOffset = at;
        }
        System.arraycopy(data, from, pending, pendingLength, n);
        pendingLength += n;
        if (cut == cellEnd) {
          flushPending();
        }
      }
      at = cut;
    }
  }

  private void flushPending() throws IOException {
    if (pendingLength > 0) {
      CompletableFuture<byte[]> hash = uploader.submit(pending, pendingLength);
      pending = uploader.array(); // after the submit: one array held here, not two, while it waits
      addPiece(pendingOffset, pendingLength, hash);
      pendingLength = 0;
    }
  }

  private void addPiece(long offset, int length, CompletableFuture<byte[]> hash) {
    int bs = announced.blockSize();
    pieces.add(new long[] {offset / bs, (length + bs - 1) / bs, length});
    hashes.add(hash);
  }

  @Override
  public long commit() throws IOException {
    if (done) {
      throw new IllegalStateException("delivery already ended");
    }
    done = true;
    boolean committed = false;
    try {
      stream.flush();
      DeltaHeader header = verifier.result().header();
      flushPending();
      header.requireSame(announced, store.whereImage(image));
      List<Manifest.Piece> laid = new ArrayList<>(pieces.size());
      for (int i = 0; i < pieces.size(); i++) {
        long[] p = pieces.get(i);
        byte[] hash = hashes.get(i) == null ? null : Futures.await(hashes.get(i), "uploading");
        laid.add(new Manifest.Piece(p[0], (int) p[1], hash, (int) p[2]));
      }
      Manifest m =
          Manifest.overlay(
              new Manifest.Header(
                  header.lineage(),
                  header.imageSize(),
                  header.blockSize(),
                  header.generation(),
                  header.full() ? 0 : header.baseGeneration(),
                  header.full(),
                  System.currentTimeMillis()),
              header.full() ? null : base,
              laid);
      byte[] bytes = manifests.encode(m, image);
      // never commit one a reader would refuse
      manifests.decode(bytes, image, header.generation(), "the new manifest");
      long stored = uploader.uploadedBytes.get() + bytes.length;
      storedBytes = stored;
      String key = store.location().manifestKey(image, header.generation());
      Map<String, String> meta = new java.util.HashMap<>();
      meta.put("cbtfs-lineage", header.lineage().toString());
      meta.put("cbtfs-image-size", Long.toString(header.imageSize()));
      meta.put("cbtfs-full", Boolean.toString(header.full()));
      meta.put("cbtfs-stored-bytes", Long.toString(stored));
      if (keyName != null) {
        meta.put("cbtfs-key", keyName);
      }
      if (!lock.expired()) {
        store.put(key, bytes, bytes.length, meta, lock.left()); // lands within the lease or fails
        committed = true; // the commit point: nothing after it fails the sync
        dropOtherHistory(header, key, lock);
      } else {
        // This sync stalled long enough for a sweep to take it for dead. Give up the old lock
        // (a waiting sweep may go first), take a fresh one, check that every chunk the manifest
        // names is still there, and commit within the new lock's lease.
        lock.close();
        StoreLock again = StoreLock.acquire(store, StoreLock.Kind.SYNC, image, S3Target.LOCK_WAIT);
        try {
          recheckChunks(m, again);
          store.put(key, bytes, bytes.length, meta, again.left());
          committed = true;
          dropOtherHistory(header, key, again);
        } finally {
          CommitPoint.closeAfter(again::close, committed, log);
        }
      }
      return header.generation();
    } finally {
      CommitPoint.closeAfter(this::release, committed, log);
    }
  }

  /** Only the chunks the store did not have, and the manifest, went to the store. */
  @Override
  public long wireBytes(long streamed) {
    return storedBytes;
  }

  private void recheckChunks(Manifest m, StoreLock held) throws IOException {
    for (int c = 0; c < m.chunkCount(); c++) {
      held.left(); // a recheck of a huge manifest must not outlive its own lease either
      String key = store.location().chunkKey(m.chunkHex(c));
      if (store.head(key) == null) {
        throw new IOException(
            store.where(key)
                + " was removed by a gc while this sync stalled; nothing was committed, sync again");
      }
    }
  }

  /**
   * After a full generation G: manifests numbered above G are from a future the image no longer has
   * (its tracking went back), and those of another lineage are what {@code --full} overwrote.
   * Deleted after G is committed, so a crash in between leaves G and nothing lost. No other sync of
   * this image runs meanwhile: the image's sync lock is held.
   */
  private void dropOtherHistory(DeltaHeader header, String mine, StoreLock held) {
    if (!header.full()) {
      return;
    }
    try {
      List<String> drop = new ArrayList<>();
      for (var m : store.manifests(image).entrySet()) {
        String key = m.getValue().key();
        if (!key.equals(mine)
            && (m.getKey() > header.generation()
                || !header.lineage().equals(lineageOf(key, m.getKey())))) {
          drop.add(key);
        }
      }
      store.deleteAll(drop, held::left);
    } catch (IOException | RuntimeException e) { // committed already: say so, do not fail
      log.warn(
          "{}: generation {} is committed, but older history was not removed: {}",
          store.whereImage(image),
          header.generation(),
          e.getMessage());
    }
  }

  /** A manifest's lineage: from its metadata, or from the manifest itself when that is missing. */
  private UUID lineageOf(String key, long generation) throws IOException {
    var h = store.head(key);
    String meta = h == null ? null : h.metadata().get("cbtfs-lineage");
    if (meta != null) {
      try {
        return UUID.fromString(meta);
      } catch (IllegalArgumentException e) {
        // fall through to the manifest
      }
    }
    byte[] b = store.get(key, Manifest.MAX_BYTES);
    return b == null
        ? null
        : manifests.decode(b, image, generation, store.where(key)).header.lineage();
  }

  /** Ends the uploads and frees the lock; what was uploaded stays for the next attempt. */
  private void release() throws IOException {
    uploader.close();
    report.accept(
        new S3Target.UploadStats(
            uploader.uploadedChunks.get(),
            uploader.uploadedBytes.get(),
            uploader.dedupedChunks.get()));
    try {
      verifier.close();
    } finally {
      try {
        lock.close();
      } finally {
        try {
          store.close();
        } finally {
          memory.close(); // the uploads were stopped: a PUT still under way ends soon
        }
      }
    }
  }

  /**
   * Abandons the delivery. The records that arrived intact still have their chunks uploaded (a
   * bounded wait): a sync cut at 90% resumes with 90% of its chunks already in the store.
   */
  @Override
  public void close() throws IOException {
    if (!done) {
      done = true;
      try {
        stream.flush(); // the sender's last bytes, still in our buffer
        verifier.result(); // waits until every complete record was handed to the uploader
      } catch (IOException | RuntimeException e) {
        // expected: the stream ended early
      }
      uploader.finish(java.time.Duration.ofSeconds(60));
      release();
    }
  }
}
