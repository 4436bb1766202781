package io.cbtfs.tracker;

import org.roaringbitmap.IntConsumer;
import org.roaringbitmap.RoaringBitmap;

/**
 * An immutable set of dirty block indexes, as taken by a drain or read from a state file. Backed by
 * a compressed {@link RoaringBitmap}, so a sparse set of a huge image stays small.
 */
public final class DirtySet {
  private final BlockGeometry geometry;
  private final RoaringBitmap blocks;

  /** Takes ownership of {@code blocks}: the caller must not change it afterwards. */
  DirtySet(BlockGeometry geometry, RoaringBitmap blocks) {
    this.geometry = geometry;
    this.blocks = blocks;
  }

  public static DirtySet of(BlockGeometry geometry, RoaringBitmap blocks) {
    return new DirtySet(geometry, blocks.clone());
  }

  public static DirtySet empty(BlockGeometry geometry) {
    return new DirtySet(geometry, new RoaringBitmap());
  }

  /** Every block of an image of {@code imageByteSize} bytes: what a new target needs. */
  public static DirtySet allOf(BlockGeometry geometry, long imageByteSize) {
    RoaringBitmap all = new RoaringBitmap();
    all.add(0L, geometry.blockCount(imageByteSize));
    return new DirtySet(geometry, all);
  }

  public BlockGeometry geometry() {
    return geometry;
  }

  public boolean contains(long blockIndex) {
    return blockIndex >= 0
        && blockIndex < BlockGeometry.MAX_BLOCK_COUNT
        && blocks.contains((int) blockIndex);
  }

  public long blockCount() {
    return blocks.getLongCardinality();
  }

  public boolean isEmpty() {
    return blocks.isEmpty();
  }

  /** Bytes of the dirty blocks that lie inside an image of {@code imageByteSize} bytes. */
  public long byteCount(long imageByteSize) {
    long blocksInImage = geometry.blockCount(imageByteSize);
    if (blocksInImage == 0) {
      return 0;
    }
    long full = blocks.rangeCardinality(0, blocksInImage) * geometry.blockSize();
    long lastBlock = blocksInImage - 1;
    if (blocks.contains((int) lastBlock)) {
      full -= geometry.blockSize() - geometry.bytesInImage(lastBlock, imageByteSize);
    }
    return full;
  }

  /** The blocks of this set that lie inside an image of {@code imageByteSize} bytes. */
  public DirtySet within(long imageByteSize) {
    long blocksInImage =
        Math.min(geometry.blockCount(imageByteSize), BlockGeometry.MAX_BLOCK_COUNT);
    if (blocks.isEmpty() || Integer.toUnsignedLong(blocks.last()) < blocksInImage) {
      return this;
    }
    RoaringBitmap clipped = blocks.clone();
    clipped.remove(blocksInImage, BlockGeometry.MAX_BLOCK_COUNT + 1);
    return new DirtySet(geometry, clipped);
  }

  /** The blocks of this set past the end of an image of {@code imageByteSize} bytes. */
  public DirtySet beyond(long imageByteSize) {
    long blocksInImage =
        Math.min(geometry.blockCount(imageByteSize), BlockGeometry.MAX_BLOCK_COUNT);
    if (blocks.isEmpty() || Integer.toUnsignedLong(blocks.last()) < blocksInImage) {
      return empty(geometry);
    }
    RoaringBitmap past = blocks.clone();
    past.remove(0, blocksInImage);
    return new DirtySet(geometry, past);
  }

  /**
   * Every block of each aligned unit of {@code unitBlocks} blocks that holds a block of this set:
   * for a target that stores whole units (the S3 grid), so that equal units make equal chunks.
   */
  public DirtySet alignedTo(int unitBlocks) {
    if (unitBlocks <= 1) {
      return this;
    }
    RoaringBitmap out = new RoaringBitmap();
    RunIterator runs = runs(Integer.MAX_VALUE);
    while (runs.next()) {
      long from = runs.firstBlock() / unitBlocks * unitBlocks;
      long to = (runs.firstBlock() + runs.blockCount() + unitBlocks - 1) / unitBlocks * unitBlocks;
      out.add(from, Math.min(to, BlockGeometry.MAX_BLOCK_COUNT + 1));
    }
    return new DirtySet(geometry, out);
  }

  /** Calls {@code action} for every dirty block index in ascending order. */
  public void forEachBlock(IntConsumer action) {
    blocks.forEach(action);
  }

  /**
   * Calls {@code action} for every maximal run of adjacent dirty blocks in ascending order, split
   * so that no run is longer than {@code maxRunBlocks}.
   */
  public void forEachRun(int maxRunBlocks, RunConsumer action) {
    RunIterator runs = runs(maxRunBlocks);
    while (runs.next()) {
      action.accept(runs.firstBlock(), runs.blockCount());
    }
  }

  /**
   * The runs of {@link #forEachRun}, one at a time: a sync walks a huge dirty set without holding a
   * list of its runs.
   */
  public RunIterator runs(int maxRunBlocks) {
    if (maxRunBlocks <= 0) {
      throw new IllegalArgumentException("maxRunBlocks must be positive");
    }
    return new RunIterator(maxRunBlocks);
  }

  /** Iterates runs in ascending order; {@link #firstBlock} and {@link #blockCount} after next. */
  public final class RunIterator {
    private final int maxRunBlocks;
    private long start;
    private long end; // exclusive end of the current maximal run
    private long first = -1;
    private int count;

    private RunIterator(int maxRunBlocks) {
      this.maxRunBlocks = maxRunBlocks;
      this.start = blocks.isEmpty() ? -1 : Integer.toUnsignedLong(blocks.first());
      this.end = start < 0 ? -1 : blocks.nextAbsentValue((int) start);
    }

    /** Advances to the next run; false when there is none. */
    public boolean next() {
      if (start < 0) {
        return false;
      }
      if (start >= end) {
        start = end >= BlockGeometry.MAX_BLOCK_COUNT ? -1 : blocks.nextValue((int) end);
        if (start < 0) {
          return false;
        }
        end = blocks.nextAbsentValue((int) start);
      }
      first = start;
      count = (int) Math.min(maxRunBlocks, end - start);
      start += count;
      return true;
    }

    public long firstBlock() {
      return first;
    }

    public int blockCount() {
      return count;
    }
  }

  /** A copy of the underlying set, for persistence and merging. */
  public RoaringBitmap toBitmap() {
    return blocks.clone();
  }

  public DirtySet union(DirtySet other) {
    requireSameGeometry(other);
    return new DirtySet(geometry, RoaringBitmap.or(blocks, other.blocks));
  }

  private void requireSameGeometry(DirtySet other) {
    if (!geometry.equals(other.geometry)) {
      throw new IllegalArgumentException(
          "block sizes differ: " + geometry + " and " + other.geometry);
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof DirtySet d && d.geometry.equals(geometry) && d.blocks.equals(blocks);
  }

  @Override
  public int hashCode() {
    return blocks.hashCode();
  }

  @Override
  public String toString() {
    return "DirtySet[" + blockCount() + " blocks of " + geometry + "]";
  }

  /** Receives a run of adjacent blocks {@code [firstBlock, firstBlock + blockCount)}. */
  @FunctionalInterface
  public interface RunConsumer {
    void accept(long firstBlock, int blockCount);
  }
}
