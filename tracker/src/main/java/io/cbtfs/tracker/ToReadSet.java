package io.cbtfs.tracker;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicLongArray;
import org.roaringbitmap.RoaringBitmap;

/**
 * The blocks a point-in-time sync drained and has not read yet, and the copy-before-write that
 * keeps their bytes as of the drain (docs/ARCHITECTURE.md, "Point-in-time syncs").
 *
 * <p>A write touching a pending block first has the block's old bytes copied to the {@link
 * BlockSaver} (the fleece), once per block; the sync then reads copied blocks from there. The copy
 * of a block and the sync's read of it exclude each other through a striped lock (the stripe of a
 * block is its index modulo {@value #STRIPES}): the sync takes the stripes of a whole record in
 * ascending order, a writer one stripe at a time, so no two can deadlock. The sync clears a block's
 * pending bit only after it read the block, under its stripe: a writer that sees the bit clear
 * without the lock writes after that read.
 *
 * <p>A write to a block that is not pending costs one read of an atomic word. A copy that fails
 * (the fleece is full or its disk failed) breaks the snapshot: that write and every later one go on
 * without copying, and the sync's next read fails ({@link SnapshotBrokenException}). The guest
 * never waits on the target: at most on a local copy of one block, or on the sync's local read of
 * one record.
 *
 * <p>Thread safety: every method may be called from any thread.
 */
public final class ToReadSet implements WriteBarrier {
  static final int STRIPES = 1024;

  private final BlockGeometry geometry;
  private final BlockSaver saver;
  private final long blockCount;

  /** A bit per block: drained, not read yet. */
  private final AtomicLongArray pending;

  /** A bit per block: its old bytes are in the fleece (set under the block's stripe). */
  private final AtomicLongArray copied;

  private final BlockStripes stripes = new BlockStripes(STRIPES);
  private final long protectedBlocks;

  /** Why the snapshot broke, or null while it holds. */
  private volatile SnapshotBrokenException broken;

  private ToReadSet(BlockGeometry geometry, RoaringBitmap blocks, BlockSaver saver) {
    this.geometry = geometry;
    this.saver = saver;
    this.blockCount = blocks.isEmpty() ? 0 : Integer.toUnsignedLong(blocks.last()) + 1;
    int words = (int) ((blockCount + 63) >>> 6);
    long[] bits = new long[words];
    this.protectedBlocks = blocks.getLongCardinality();
    if (protectedBlocks == blockCount) { // every block up to the last: a full or verified sync
      java.util.Arrays.fill(bits, -1L); // (the writes wait for this: no walk of every block)
      if ((blockCount & 63) != 0) {
        bits[words - 1] = (1L << blockCount) - 1;
      }
    } else {
      blocks.forEach((int b) -> bits[b >>> 6] |= 1L << b);
    }
    this.pending = new AtomicLongArray(bits);
    this.copied = new AtomicLongArray(words);
  }

  /** Protects {@code blocks} (each block index must be below {@link Integer#MAX_VALUE}). */
  static ToReadSet of(BlockGeometry geometry, RoaringBitmap blocks, BlockSaver saver) {
    ToReadSet set = new ToReadSet(geometry, blocks, saver);
    saver.protecting(set.protectedBlocks);
    return set;
  }

  /** The blocks protected at the drain. */
  public long protectedBlocks() {
    return protectedBlocks;
  }

  /**
   * Before a write of {@code [byteOffset, byteOffset + byteLength)}: copies every pending block it
   * touches that is not copied yet. Never throws: a failed copy breaks the snapshot instead.
   */
  @Override
  public void beforeWrite(long byteOffset, long byteLength) {
    if (byteLength <= 0 || byteOffset >= geometry.byteOffset(blockCount)) {
      return;
    }
    long first = geometry.blockIndex(byteOffset);
    long last = Math.min(blockCount - 1, geometry.blockIndex(byteOffset + byteLength - 1));
    for (long b = first; b <= last; b++) {
      if (isSet(pending, b)) {
        protect(b);
      }
    }
  }

  private void protect(long block) {
    // Even once broken, the stripe: a read of the block that began before the break goes on, and
    // the write must land after it (the record is shipped; a break only fails the later reads)
    try (BlockStripes.Held held = stripes.lock(block, 1)) {
      try {
        if (broken == null && isSet(pending, block) && !isSet(copied, block)) {
          saver.save(block);
          set(copied, block);
        }
      } catch (IOException | RuntimeException e) {
        breakSnapshot(e); // under the stripe: a read waiting for it then sees the break
      }
    }
  }

  private void breakSnapshot(Exception e) {
    String why = e.getMessage() == null ? e.toString() : e.getMessage();
    synchronized (this) {
      if (broken == null) {
        broken = new SnapshotBrokenException(why, e);
      }
    }
  }

  /**
   * Locks the blocks {@code [firstBlock, firstBlock + count)} for the sync's read of them: no write
   * copies them meanwhile. Closing it marks them read and unlocks them.
   *
   * @throws SnapshotBrokenException if the snapshot broke: a block may hold a newer write
   */
  public Reading read(long firstBlock, int count) throws SnapshotBrokenException {
    Reading r = new Reading(firstBlock, count);
    if (broken != null) {
      r.unlock();
      throw broken;
    }
    return r;
  }

  /** Whether the snapshot broke; the reason is the exception's message. */
  public SnapshotBrokenException broken() {
    return broken;
  }

  /**
   * Stops protecting the blocks not in {@code sent}: the sync does not read them (a verified sync
   * protects every block until its comparison says which differ).
   */
  public void retainOnly(DirtySet sent) {
    for (int i = 0; i < pending.length(); i++) {
      long drop = 0;
      for (long bits = pending.get(i); bits != 0; bits &= bits - 1) {
        long block = ((long) i << 6) + Long.numberOfTrailingZeros(bits);
        if (!sent.contains(block)) {
          drop |= 1L << block;
        }
      }
      if (drop != 0) {
        pending.getAndAccumulate(i, drop, (w, d) -> w & ~d);
      }
    }
  }

  /**
   * Whether the old bytes of {@code block} are in the fleece, without a lock: a reader that keeps
   * every block pending (a pull backup's) reads the image first and asks this after, since a write
   * sets the bit before its bytes land (docs/ARCHITECTURE.md, "Pull backups").
   */
  public boolean copied(long block) {
    return block < blockCount && isSet(copied, block);
  }

  /**
   * The first block of {@code [from, to)} whose old bytes are in the fleece, or -1: one read per
   * word, so a pull backup's export finds its next data across a large hole quickly.
   */
  public long nextCopied(long from, long to) {
    return firstSet(copied, Math.max(0, from), Math.min(to, blockCount));
  }

  /** The blocks whose old bytes were copied aside so far (written since the drain). */
  public RoaringBitmap copiedBlocks() {
    RoaringBitmap out = new RoaringBitmap();
    for (int i = 0; i < copied.length(); i++) {
      for (long bits = copied.get(i); bits != 0; bits &= bits - 1) {
        out.add((int) (((long) i << 6) + Long.numberOfTrailingZeros(bits)));
      }
    }
    return out;
  }

  private static boolean isSet(AtomicLongArray bits, long block) {
    return (bits.get((int) (block >>> 6)) & (1L << block)) != 0;
  }

  private static void set(AtomicLongArray bits, long block) {
    long bit = 1L << block;
    bits.getAndAccumulate((int) (block >>> 6), bit, (w, b) -> w | b);
  }

  /** Clears the bits of the blocks {@code [from, to)}: one atomic update per word, not per bit. */
  private static void clearRange(AtomicLongArray bits, long from, long to) {
    for (long b = from; b < to; b = (b | 63) + 1) {
      bits.getAndAccumulate((int) (b >>> 6), wordMask(b, to), (w, m) -> w & ~m);
    }
  }

  /** Whether a bit of the blocks {@code [from, to)} is set: one read per word. */
  private static boolean anySet(AtomicLongArray bits, long from, long to) {
    return firstSet(bits, from, to) >= 0;
  }

  /** The first block of {@code [from, to)} whose bit is set, or -1: one read per word. */
  private static long firstSet(AtomicLongArray bits, long from, long to) {
    for (long b = from; b < to; b = (b | 63) + 1) {
      long hits = bits.get((int) (b >>> 6)) & wordMask(b, to);
      if (hits != 0) {
        return (b & ~63L) + Long.numberOfTrailingZeros(hits);
      }
    }
    return -1;
  }

  /** The bits of block {@code from}'s word for the blocks {@code [from, to)}. */
  private static long wordMask(long from, long to) {
    long high = to - (from & ~63L) >= 64 ? -1L : (1L << to) - 1; // the bits below to, in the word
    return high & (-1L << from);
  }

  /**
   * The sync's hold on the blocks of one record, from before its read until it is done with them:
   * the stripes are taken in ascending order (wrapping records take the low ones first).
   */
  public final class Reading implements AutoCloseable {
    private final long firstBlock;
    private final int count;
    private final BlockStripes.Held held;
    private boolean open = true;

    private Reading(long firstBlock, int count) {
      this.firstBlock = firstBlock;
      this.count = count;
      this.held = stripes.lock(firstBlock, count);
    }

    /** Whether the old bytes of {@code block} (of this record) are in the fleece. */
    public boolean copied(long block) {
      return block < blockCount && isSet(ToReadSet.this.copied, block);
    }

    /** Whether any block of this record was copied to the fleece. */
    public boolean anyCopied() {
      return anySet(ToReadSet.this.copied, firstBlock, end());
    }

    /** Marks the blocks read (writes to them no longer copy) and unlocks them. */
    @Override
    public void close() {
      if (!open) {
        return;
      }
      clearRange(pending, firstBlock, end());
      unlock();
    }

    /** The end of this record's blocks in the set. */
    private long end() {
      return Math.min(blockCount, firstBlock + count);
    }

    private void unlock() {
      open = false;
      held.close();
    }
  }
}
