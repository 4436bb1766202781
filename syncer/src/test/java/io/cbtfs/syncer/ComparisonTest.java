package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.BlockGeometry;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.roaringbitmap.RoaringBitmap;

/**
 * The size rule every target's compare gets from {@link Comparison#differing}: a target answers
 * only what it read below the smaller size, and still every block an image grew by differs.
 */
class ComparisonTest {
  private static final BlockGeometry G = BlockGeometry.of(65536);
  private static final int BS = 65536;

  /** A target that answers a fixed comparison, as one that knows nothing of the size rule. */
  private static Target answering(Comparison answer) {
    return new Target() {
      @Override
      public String describe() {
        return "stub:";
      }

      @Override
      public TargetState state() {
        throw new UnsupportedOperationException();
      }

      @Override
      public Delivery begin(DeltaHeader header, boolean allowNewLineage) {
        throw new UnsupportedOperationException();
      }

      @Override
      public Comparison compare(FileChannel image, long imageSize, BlockGeometry g, long limit) {
        return answer;
      }
    };
  }

  private static int[] differing(Comparison c, long imageSize, long limit) throws IOException {
    return Target.differing(answering(c), null, imageSize, G, limit).toBitmap().toArray();
  }

  @Test
  void everyBlockAnImageGrewByDiffers() throws IOException {
    Comparison grown = Comparison.of(2 * BS + 100, RoaringBitmap.bitmapOf(1));
    assertThat(differing(grown, 6 * BS, Long.MAX_VALUE)).containsExactly(1, 2, 3, 4, 5);
  }

  @Test
  void aShrunkImageDiffersInTheBlockWhereTheSizesPartAndInNoOtherBlockPastIt() throws IOException {
    Comparison shrunk = Comparison.of(6 * BS, RoaringBitmap.bitmapOf(0, 4)); // 4: past the image
    assertThat(differing(shrunk, 2 * BS + 100, Long.MAX_VALUE)).containsExactly(0, 2);
    // ending on a block boundary, the block where the sizes part is the first past the image's
    // end: named all the same, so a shorter image never passes for a copy (a sync clips it)
    assertThat(differing(Comparison.of(6 * BS, new RoaringBitmap()), 2 * BS, Long.MAX_VALUE))
        .containsExactly(2);
  }

  @Test
  void equalSizesDifferOnlyWhereTheTargetFoundIt() throws IOException {
    assertThat(differing(Comparison.of(5 * BS, RoaringBitmap.bitmapOf(3)), 5 * BS, 10))
        .containsExactly(3);
    assertThat(differing(Comparison.of(5 * BS, new RoaringBitmap()), 5 * BS, 10)).isEmpty();
  }

  @Test
  void aTargetThatHoldsNothingDiffersEverywhereEvenFromAnEmptyImage() throws IOException {
    assertThat(differing(Comparison.nothingStored(), 3 * BS - 1, Long.MAX_VALUE))
        .containsExactly(0, 1, 2);
    assertThat(differing(Comparison.nothingStored(), 0, Long.MAX_VALUE)).containsExactly(0);
    assertThat(differing(Comparison.of(0, new RoaringBitmap()), 0, Long.MAX_VALUE)).isEmpty();
  }

  @Test
  void atMostLimitBlocksTheLowest() throws IOException {
    Comparison grown = Comparison.of(4 * BS, RoaringBitmap.bitmapOf(1, 3));
    assertThat(differing(grown, 9 * BS, 3)).containsExactly(1, 3, 4);
    assertThat(differing(Comparison.nothingStored(), 9 * BS, 2)).containsExactly(0, 1);
  }

  /** Seeded random sizes and answers against a block-by-block oracle of the rule. */
  @Test
  void matchesTheRuleBlockByBlock() throws IOException {
    Random rnd = new Random(20261204);
    for (int round = 0; round < 500; round++) {
      long stored = rnd.nextInt(12 * BS);
      long image = rnd.nextInt(4) == 0 ? stored : rnd.nextInt(12 * BS);
      RoaringBitmap below = new RoaringBitmap();
      for (int b = 0; b < 14; b++) {
        if (rnd.nextInt(3) == 0) {
          below.add(b);
        }
      }
      long limit = 1 + rnd.nextInt(16);
      TreeSet<Integer> expected = new TreeSet<>();
      long smaller = Math.min(stored, image);
      for (int b = 0; b < 14; b++) {
        boolean found = below.contains(b) && (long) b * BS < smaller;
        long edge = smaller / BS; // the block where the sizes part
        boolean sizes = stored != image && (b == edge || b > edge && (long) b * BS < image);
        if (found || sizes) {
          expected.add(b);
        }
      }
      int[] want = expected.stream().limit(limit).mapToInt(Integer::intValue).toArray();
      assertThat(differing(Comparison.of(stored, below.clone()), image, limit))
          .as("stored %d, image %d, below %s, limit %d", stored, image, below, limit)
          .containsExactly(want);
    }
  }
}
