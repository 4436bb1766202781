package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.BlockSaver;
import io.cbtfs.tracker.ToReadSet;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongPredicate;

/**
 * A point-in-time sync's fleece: the old bytes of the blocks written after its drain and before it
 * read them, copied from the image by the writers ({@link #save}, called by the {@link ToReadSet})
 * and read back by the sync ({@link #overlay}). Bounded: a copy beyond its limit fails, which
 * breaks the snapshot, not the write.
 *
 * <p>Thread safety: {@link #save} from many writers at once (never twice for one block), {@link
 * #overlay} from the sync's readers.
 */
public final class Fleece implements BlockSaver, AutoCloseable {
  /** Each writer's buffer for its copies ({@link #copyBuffer}). */
  private static final ThreadLocal<ByteBuffer> COPY_BUFFER =
      ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(0));

  private final FileChannel image;
  private final FleeceStore store;
  private final BlockGeometry geometry;
  private final FleeceLimit limit;
  private final AtomicLong used = new AtomicLong();
  private final ConcurrentHashMap<Long, Long> offsets = new ConcurrentHashMap<>();
  private volatile long limitBytes;
  private volatile long room = Long.MAX_VALUE; // what the fleece's disk can spare, at the drain
  private volatile long sizeAtDrain = -1;

  private Fleece(FileChannel image, FleeceStore store, BlockGeometry geometry, FleeceLimit limit) {
    this.image = image;
    this.store = store;
    this.geometry = geometry;
    this.limit = limit;
    this.limitBytes = limit.percent() < 0 ? limit.byteCount() : 0; // set when the drain is known
  }

  /** The fleece of a point-in-time sync of {@code backingFile}, empty. */
  static Fleece open(
      Path backingFile, String imageName, BlockGeometry geometry, PointInTime pointInTime)
      throws IOException {
    FileChannel image = FileChannel.open(backingFile, StandardOpenOption.READ);
    try {
      return new Fleece(image, pointInTime.store().open(imageName), geometry, pointInTime.limit());
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
  }

  @Override
  public long imageBytesAtDrain() {
    try {
      sizeAtDrain = image.size(); // while the writes wait: a truncate after it is copied aside
    } catch (IOException e) {
      sizeAtDrain = -1; // the pipeline takes the size itself, as a sync with no snapshot does
    }
    return sizeAtDrain;
  }

  @Override
  public void protecting(long blockCount) {
    long wanted = limit.bytesFor(blockCount * geometry.blockSize());
    try {
      room = store.room();
    } catch (IOException e) {
      room = Long.MAX_VALUE; // unknown: the disk's own ENOSPC is the bound
    }
    limitBytes = Math.min(wanted, room);
  }

  /**
   * The image's size at the drain, or -1 if unknown: what the sync sends (a truncate after the
   * drain must not change it, nor a write that grew the image send bytes newer than the drain).
   */
  long sizeAtDrain() {
    return sizeAtDrain;
  }

  @Override
  public void save(long blockIndex) throws IOException {
    int size = geometry.blockSize();
    long at = used.getAndAdd(size);
    if (at + size > limitBytes) {
      throw new IOException(
          "the fleece is full: "
              + BlockGeometry.formatBytes(limitBytes)
              + " of old blocks"
              + (limitBytes == room
                  ? ", all that "
                      + store.where()
                      + " can spare (it keeps "
                      + BlockGeometry.formatBytes(FleeceStore.KEPT_FREE)
                      + " free for the tracking state)"
                  : limit.percent() < 0 ? "" : ", " + limit + " of the blocks the sync protects"));
    }
    ByteBuffer old = copyBuffer(size);
    ImageReads.readFully(image, geometry.byteOffset(blockIndex), old);
    store.write(old, at); // filled whole: readFully leaves its position
    offsets.put(blockIndex, at);
  }

  /**
   * The calling writer's buffer for a copy of {@code size} bytes: direct and kept per thread, so
   * that a copy is a pread and a pwrite of the same memory (a heap buffer cost 64 KiB of garbage
   * per copy and a copy of its own through the JDK's temporary direct buffer in each call).
   */
  private static ByteBuffer copyBuffer(int size) {
    ByteBuffer b = COPY_BUFFER.get();
    if (b.capacity() < size) {
      b = ByteBuffer.allocateDirect(size);
      COPY_BUFFER.set(b);
    }
    return b.clear().limit(size);
  }

  /**
   * Puts the old bytes of every block of the record at {@code byteOffset} that {@code reading} says
   * was copied over the bytes read from the image in {@code data} (position 0 to limit).
   */
  void overlay(ToReadSet.Reading reading, long byteOffset, ByteBuffer data) throws IOException {
    overlay(reading::copied, byteOffset, data);
  }

  /** {@link #overlay(ToReadSet.Reading, long, ByteBuffer)}, the copied blocks as {@code copied}. */
  void overlay(LongPredicate copied, long byteOffset, ByteBuffer data) throws IOException {
    long end = byteOffset + data.limit();
    for (long b = geometry.blockIndex(byteOffset); geometry.byteOffset(b) < end; b++) {
      if (copied.test(b)) {
        long from = Math.max(byteOffset, geometry.byteOffset(b));
        long to = Math.min(end, geometry.byteOffset(b + 1));
        ByteBuffer part =
            data.duplicate().limit((int) (to - byteOffset)).position((int) (from - byteOffset));
        store.read(part, offsets.get(b) + (from - geometry.byteOffset(b)));
      }
    }
  }

  @Override
  public void close() throws IOException {
    try (image) {
      store.close();
    }
  }
}
