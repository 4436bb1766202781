package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.roaringbitmap.RoaringBitmap;

class DirtySetTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);

  /** Both ways of walking runs, which must agree. */
  private static List<String> runs(DirtySet s, int max) {
    List<String> out = new ArrayList<>();
    s.forEachRun(max, (first, count) -> out.add(first + "+" + count));
    List<String> iterated = new ArrayList<>();
    DirtySet.RunIterator it = s.runs(max);
    while (it.next()) {
      iterated.add(it.firstBlock() + "+" + it.blockCount());
    }
    org.assertj.core.api.Assertions.assertThat(iterated).isEqualTo(out);
    return out;
  }

  @Test
  void coalescesAdjacentBlocksIntoRuns() {
    DirtySet s = DirtySet.of(G, RoaringBitmap.bitmapOf(0, 1, 2, 5, 7, 8));
    assertThat(runs(s, 100)).containsExactly("0+3", "5+1", "7+2");
  }

  @Test
  void splitsRunsLongerThanTheLimit() {
    RoaringBitmap b = new RoaringBitmap();
    b.add(10L, 20L);
    assertThat(runs(DirtySet.of(G, b), 4)).containsExactly("10+4", "14+4", "18+2");
  }

  @Test
  void emptySetHasNoRuns() {
    assertThat(runs(DirtySet.empty(G), 4)).isEmpty();
  }

  @Test
  void allOfCoversThePartialLastBlock() {
    DirtySet s = DirtySet.allOf(G, 4097);
    assertThat(s.blockCount()).isEqualTo(2);
    assertThat(s.byteCount(4097)).isEqualTo(4097);
  }

  @Test
  void runReachingTheLastTrackableBlockEnds() {
    RoaringBitmap b = new RoaringBitmap();
    b.add(BlockGeometry.MAX_BLOCK_COUNT - 2, BlockGeometry.MAX_BLOCK_COUNT);
    assertThat(runs(DirtySet.of(G, b), 100))
        .containsExactly((BlockGeometry.MAX_BLOCK_COUNT - 2) + "+2");
  }

  @Test
  void alignedToCoversEveryTouchedUnitAndNothingElse() {
    RoaringBitmap b = RoaringBitmap.bitmapOf(3, 17, 18, 31, 32, 70);
    DirtySet aligned = DirtySet.of(G, b).alignedTo(16);
    RoaringBitmap expected = new RoaringBitmap();
    expected.add(0L, 48L); // units 0, 1, 2 (blocks 3; 17, 18, 31; 32)
    expected.add(64L, 80L); // unit 4 (block 70)
    assertThat(aligned.toBitmap()).isEqualTo(expected);
    assertThat(DirtySet.of(G, b).alignedTo(1).toBitmap()).isEqualTo(b);
    assertThat(DirtySet.empty(G).alignedTo(16).isEmpty()).isTrue();
  }
}
