package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import org.roaringbitmap.RoaringBitmap;

/**
 * A target's answer to a compare with an image ({@link Target#compare}): the size of the stored
 * generation and the blocks that differ below the smaller of that size and the image's. What the
 * sizes alone decide is added here, once for every target, by {@link #differing}: a target that
 * answered only what it read cannot leave out the blocks an image grew by.
 */
public final class Comparison {
  private static final long NOTHING_STORED = -1;

  private final long storedSize;
  private final RoaringBitmap differingBelow;

  private Comparison(long storedSize, RoaringBitmap differingBelow) {
    this.storedSize = storedSize;
    this.differingBelow = differingBelow;
  }

  /** The answer of a target that holds nothing: it differs everywhere. */
  public static Comparison nothingStored() {
    return new Comparison(NOTHING_STORED, new RoaringBitmap());
  }

  /**
   * The answer of a target that holds a generation of {@code storedSize} bytes.
   *
   * @param differingBelow the blocks that differ in {@code [0, min(storedSize, imageSize))}, at
   *     most {@code limit} of them; this takes ownership. A block past that range is decided by the
   *     sizes, not by what the target says of it.
   */
  public static Comparison of(long storedSize, RoaringBitmap differingBelow) {
    if (storedSize < 0) {
      throw new IllegalArgumentException("stored size " + storedSize);
    }
    return new Comparison(storedSize, differingBelow);
  }

  /**
   * The blocks where an image of {@code imageSize} bytes differs from what the target stores: those
   * it found below the smaller size, and where the sizes differ the block at the smaller end and
   * every block past it up to the image's end. A target that holds nothing differs in every block
   * of the image (and in block 0 of an empty one, so that an empty target never passes for a copy).
   * At most {@code limit} blocks, the lowest.
   */
  public DirtySet differing(long imageSize, BlockGeometry geometry, long limit) {
    RoaringBitmap blocks = new RoaringBitmap();
    long imageBlocks = geometry.blockCount(imageSize);
    if (storedSize == NOTHING_STORED) {
      blocks.add(0L, Math.max(1, imageBlocks));
    } else {
      long smaller = Math.min(storedSize, imageSize);
      blocks.or(differingBelow);
      blocks.remove(geometry.blockCount(smaller), BlockGeometry.MAX_BLOCK_COUNT + 1);
      if (storedSize != imageSize) {
        long edge = smaller / geometry.blockSize();
        blocks.add(edge, Math.max(edge + 1, imageBlocks));
      }
    }
    if (blocks.getLongCardinality() > limit) {
      blocks = blocks.limit((int) Math.min(limit, Integer.MAX_VALUE));
    }
    return DirtySet.of(geometry, blocks);
  }
}
