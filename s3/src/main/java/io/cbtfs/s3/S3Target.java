package io.cbtfs.s3;

import io.cbtfs.syncer.Comparison;
import io.cbtfs.syncer.Delivery;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.ImageReads;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.PieceMap;
import io.cbtfs.syncer.RecordCodec;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.syncer.crypto.KeyFile;
import io.cbtfs.syncer.local.RecordWrites;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.roaringbitmap.RoaringBitmap;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * {@code s3://BUCKET/[STORE/]IMAGE}: one image's generations in a deduplicated store (see {@link
 * S3Delivery} for how a delta goes in, {@link Manifest} for what a generation is). Each operation
 * opens its own client and closes it: a target lives as long as one command or one sync.
 */
public final class S3Target implements Restorable {
  /** How long a sync waits for a gc's sweep to end before it gives up. */
  static final Duration LOCK_WAIT = Duration.ofMinutes(30);

  /**
   * What the last delivery through this target stored.
   *
   * @param dedupedChunks chunks the store had already (from earlier generations, other images, or
   *     an interrupted attempt)
   */
  public record UploadStats(long uploadedChunks, long uploadedBytes, long dedupedChunks) {}

  private final S3Location location;
  private final EncryptionKey key; // null: chunks and manifests in clear
  private final ChunkObject chunks;
  private final ManifestObject manifests;
  private final UploadMemory uploadMemory;
  private volatile UploadStats lastUpload = new UploadStats(0, 0, 0);

  /**
   * @throws CbtfsException if the location names a key file that cannot be read
   */
  public S3Target(S3Location location) {
    this(location, location.encryptKey() == null ? null : KeyFile.load(location.encryptKey()));
  }

  S3Target(S3Location location, EncryptionKey key) {
    this(location, key, UploadMemory.PROCESS);
  }

  /**
   * @param uploadMemory the heap its deliveries share with the others of the process
   */
  S3Target(S3Location location, EncryptionKey key, UploadMemory uploadMemory) {
    this.uploadMemory = uploadMemory;
    if (location.image() == null) {
      throw new IllegalArgumentException(location.describe() + " names no image");
    }
    this.location = location;
    this.key = key;
    this.chunks = new ChunkObject(key);
    this.manifests = new ManifestObject(key);
  }

  @Override
  public String describe() {
    return location.describe();
  }

  /** Whole 1 MiB grid cells: a clone's cell then matches the stored one, whatever was written. */
  @Override
  public long granuleBytes() {
    return S3Delivery.CHUNK_BYTES;
  }

  @Override
  public TargetState state() throws IOException {
    try (S3Store store = new S3Store(location)) {
      Long latest = latest(store);
      if (latest == null) {
        return TargetState.EMPTY;
      }
      String key = location.manifestKey(location.image(), latest);
      HeadObjectResponse h = store.head(key);
      if (h == null) {
        throw new IOException(store.where(key) + " vanished while it was read");
      }
      Map<String, String> meta = h.metadata();
      try {
        return new TargetState(
            true,
            UUID.fromString(meta.get("cbtfs-lineage")),
            latest,
            Long.parseLong(meta.get("cbtfs-image-size")));
      } catch (RuntimeException e) { // metadata lost (a copied store): read the manifest itself
        Manifest m = manifest(store, latest);
        return new TargetState(true, m.header.lineage(), latest, m.header.imageSize());
      }
    }
  }

  @Override
  public Delivery begin(DeltaHeader header, boolean allowNewLineage) throws IOException {
    // before a connection or a lock: a delivery that cannot fit the heap is refused up front
    UploadMemory.Reservation memory =
        uploadMemory.reserve(S3Delivery.chunkBytes(header), S3Delivery.recordBytes(header));
    S3Store store;
    try {
      store = new S3Store(location);
    } catch (RuntimeException e) {
      memory.close();
      throw e;
    }
    StoreLock lock = null;
    try {
      lock = StoreLock.acquire(store, StoreLock.Kind.SYNC, location.image(), LOCK_WAIT);
      Long latest = latest(store);
      // one GET of the latest manifest: its key, then (the same key) its contents
      byte[] lastObject = latest == null ? null : manifestObject(store, latest);
      String lastKey = lastObject == null ? null : ManifestObject.keyOf(lastObject);
      if (latest != null && !java.util.Objects.equals(lastKey, keyName())) {
        if (!(header.full() && allowNewLineage)) {
          throw new CbtfsException(
              describe()
                  + " holds generation "
                  + latest
                  + " "
                  + (lastKey == null ? "unencrypted" : "encrypted with key " + lastKey)
                  + ", this sync "
                  + (key == null ? "has no key" : "has key " + key.fingerprint())
                  + ": give the target's --encrypt-key, or start a new chain with --full "
                  + "(key rotation)");
        }
        // key rotation: a new chain under the new key; the old generations stay readable with
        // the old key until gc retires them
        return delivery(store, lock, header, null, memory);
      }
      Manifest last = latest == null ? null : manifest(store, latest, lastObject);
      TargetState state =
          last == null
              ? TargetState.EMPTY
              : new TargetState(true, last.header.lineage(), latest, last.header.imageSize());
      state.check(header, describe(), allowNewLineage);
      Manifest base = null;
      if (!header.full()) {
        // a replay of the generation the store holds lays its delta over the one before
        base = header.generation() == latest ? replayBase(store, header) : last;
      } else if (last != null && last.header.lineage().equals(header.lineage())) {
        base = last; // not laid under a full delta, but its chunks are known to be stored
      }
      return delivery(store, lock, header, base, memory);
    } catch (IOException | RuntimeException | Error e) { // an OutOfMemoryError too: never keep it
      try {
        if (lock != null) {
          lock.close();
        }
      } finally {
        try {
          store.close();
        } finally {
          memory.close();
        }
      }
      throw e;
    }
  }

  private S3Delivery delivery(
      S3Store store,
      StoreLock lock,
      DeltaHeader header,
      Manifest base,
      UploadMemory.Reservation memory) {
    return new S3Delivery(
        store,
        lock,
        location.image(),
        header,
        base,
        chunks,
        manifests,
        keyName(),
        memory,
        s -> lastUpload = s);
  }

  /** The stored manifest object of {@code generation}, which the store was seen to hold. */
  private byte[] manifestObject(S3Store store, long generation) throws IOException {
    String k = location.manifestKey(location.image(), generation);
    byte[] b = store.get(k, Manifest.MAX_BYTES);
    if (b == null) {
      throw new IOException(store.where(k) + " vanished while it was read");
    }
    return b;
  }

  /** The key fingerprint the manifest of {@code generation} was sealed with, null if in clear. */
  private String storedKey(S3Store store, long generation) throws IOException {
    return ManifestObject.keyOf(manifestObject(store, generation));
  }

  /** Refuses a generation whose manifest is sealed under no key this target was given. */
  @Override
  public void requireKeyFor(long generation) throws IOException {
    try (S3Store store = new S3Store(location)) {
      String stored = storedKey(store, generation);
      String refusal = stored == null ? null : EncryptionKey.refusal(key, stored);
      if (refusal != null) {
        throw new CbtfsException(describe() + ": generation " + generation + " " + refusal);
      }
    }
  }

  /** This target's key fingerprint, or null without a key. */
  String keyName() {
    return key == null ? null : key.fingerprint();
  }

  /**
   * The generation a replayed delta (the source crashed after the store committed it) lays over.
   */
  private Manifest replayBase(S3Store store, DeltaHeader header) throws IOException {
    try {
      return manifest(store, header.baseGeneration());
    } catch (CbtfsException e) {
      throw new CbtfsException(
          describe()
              + " no longer has generation "
              + header.baseGeneration()
              + " (gc removed it) to replay "
              + header.describe()
              + " over: sync with --full");
    }
  }

  /** The newest generation of the image in the store, or null. */
  private Long latest(S3Store store) throws IOException {
    TreeMap<Long, S3Object> m = store.manifests(location.image());
    return m.isEmpty() ? null : m.lastKey();
  }

  private Manifest manifest(S3Store store, long generation) throws IOException {
    byte[] b = store.get(location.manifestKey(location.image(), generation), Manifest.MAX_BYTES);
    if (b == null) {
      throw new CbtfsException(describe() + " has no generation " + generation);
    }
    return manifest(store, generation, b);
  }

  /** Generation {@code generation}'s manifest from its stored {@code object}, checked. */
  private Manifest manifest(S3Store store, long generation, byte[] object) {
    String where = store.where(location.manifestKey(location.image(), generation));
    Manifest m = manifests.decode(object, location.image(), generation, where);
    if (m.header.generation() != generation) {
      throw new DamagedObjectException(where, "holds generation " + m.header.generation());
    }
    return m;
  }

  @Override
  public List<Generation> generations() throws IOException {
    try (S3Store store = new S3Store(location)) {
      return generations(store);
    }
  }

  /** {@link #generations()} through an open client (a listing of many images uses one). */
  List<Generation> generations(S3Store store) throws IOException {
    List<Generation> out = new ArrayList<>();
    for (var e : store.manifests(location.image()).entrySet()) {
      HeadObjectResponse h = store.head(e.getValue().key());
      if (h == null) {
        continue; // removed by retention while we listed
      }
      Map<String, String> meta = h.metadata();
      out.add(
          new Generation(
              e.getKey(),
              Boolean.parseBoolean(meta.get("cbtfs-full")),
              parse(meta.get("cbtfs-image-size")),
              e.getValue().lastModified(),
              parse(meta.get("cbtfs-stored-bytes"))));
    }
    return out;
  }

  private static long parse(String s) {
    try {
      return s == null ? -1 : Long.parseLong(s);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  @Override
  public DeltaHeader restore(long generation, Path out, RestoreProgress progress)
      throws IOException {
    try (S3Store store = new S3Store(location)) {
      Manifest m = manifest(store, generation);
      Manifest.Header h = m.header;
      AtomicLong done = new AtomicLong();
      long total = m.mappedBlocks() * h.blockSize();
      FileChannel created =
          FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      boolean ok = false;
      try (FileChannel ch = created) {
        new ChunkReads(store, m, chunks)
            .forEachChunk(
                (chunk, data, extents) -> {
                  for (int e : extents) {
                    int from = m.extentPos(e) * h.blockSize();
                    int len = Math.min(m.extentBlocks(e) * h.blockSize(), data.length - from);
                    long at = m.extentFirst(e) * h.blockSize();
                    len = (int) Math.min(len, h.imageSize() - at);
                    RecordWrites.writeFully(ch, ByteBuffer.wrap(data, from, len), at);
                    progress.update(done.addAndGet(len), total);
                  }
                });
        RecordWrites.resize(ch, h.imageSize());
        ch.force(true);
        ok = true;
      } catch (DamagedObjectException e) {
        if (store.head(location.manifestKey(location.image(), generation)) == null) {
          throw new CbtfsException(
              describe() + " generation " + generation + " was removed (gc) while it was restored");
        }
        throw e;
      } finally {
        if (!ok) {
          Files.deleteIfExists(out); // half a restore is worse than none
        }
      }
      return new DeltaHeader(
          h.lineage(),
          h.imageSize(),
          h.blockSize(),
          h.full() ? 0 : h.baseGeneration(),
          h.generation(),
          h.full());
    }
  }

  /**
   * Generation {@code generation} read in place: its manifest is the index; a read fetches the
   * chunks it touches, each checked against its name (SHA-256). The client stays open until the
   * image is closed.
   */
  @Override
  public StoredImage open(long generation, PieceCache cache) throws IOException {
    S3Store store = new S3Store(location);
    try {
      Manifest m = manifest(store, generation);
      long bs = m.header.blockSize();
      long size = m.header.imageSize();
      PieceMap.Builder map = new PieceMap.Builder();
      for (int e = 0; e < m.extentCount(); e++) {
        long start = m.extentFirst(e) * bs;
        long end = Math.min(start + m.extentBlocks(e) * bs, size);
        map.lay(start, end, m.extentChunk(e), (int) (m.extentPos(e) * bs));
      }
      ChunkReads reads = new ChunkReads(store, m, chunks);
      return new StoredImage(map.build(size), reads::chunk, cache, store::close);
    } catch (IOException | RuntimeException e) {
      store.close();
      throw e;
    }
  }

  /**
   * Downloads every chunk of the generation (so a damaged one is found and named) and compares it
   * with the image below the smaller size; blocks no chunk holds must read as zero.
   */
  @Override
  public Comparison compare(
      long generation, FileChannel image, long imageSize, BlockGeometry geometry, long limit)
      throws IOException {
    try (S3Store store = new S3Store(location)) {
      Manifest m = manifest(store, generation);
      int stored = m.header.blockSize();
      int bs = geometry.blockSize();
      RoaringBitmap differing = new RoaringBitmap();
      long comparable = Math.min(m.header.imageSize(), imageSize); // beyond it, the sizes decide
      RoaringBitmap mapped = new RoaringBitmap(); // in the manifest's blocks
      byte[][] mine = {new byte[0]}; // the image's bytes of a chunk, reused (one chunk at a time)
      new ChunkReads(store, m, chunks)
          .forEachChunk(
              (chunk, data, extents) -> {
                if (mine[0].length < data.length) {
                  mine[0] = new byte[data.length];
                }
                for (int e : extents) {
                  int from = m.extentPos(e) * stored;
                  int len = Math.min(m.extentBlocks(e) * stored, data.length - from);
                  long at = m.extentFirst(e) * stored;
                  mapped.add(m.extentFirst(e), m.extentFirst(e) + m.extentBlocks(e));
                  ImageReads.readFully(image, at, mine[0], len);
                  for (int off = 0;
                      off < len
                          && at + off < comparable
                          && differing.getLongCardinality() < limit; ) {
                    int n = (int) Math.min(bs - (at + off) % bs, len - off);
                    if (!Arrays.equals(data, from + off, from + off + n, mine[0], off, off + n)) {
                      differing.add((int) ((at + off) / bs));
                    }
                    off += n;
                  }
                }
              });
      // what no chunk holds is zero in the store
      byte[] buf = new byte[stored];
      long blocks = m.header.blockCount();
      for (long b = 0; b < blocks && differing.getLongCardinality() < limit; b++) {
        if (!mapped.contains((int) b) && b * stored < comparable) {
          int n = (int) Math.min(stored, comparable - b * stored);
          ImageReads.readFully(image, b * stored, buf, n);
          if (!RecordCodec.isZero(buf, 0, n)) {
            long at = b * stored; // every tracking block of it, were they smaller
            differing.add(at / bs, (Math.min(at + stored, comparable) + bs - 1) / bs);
          }
        }
      }
      return Comparison.of(m.header.imageSize(), differing);
    }
  }

  /** What the last delivery (committed or not) stored. */
  public UploadStats lastUpload() {
    return lastUpload;
  }
}
