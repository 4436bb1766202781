package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.roaringbitmap.RoaringBitmap;

/** Counting a dirty set in cells, against a block-by-block oracle. */
class DirtyCellsTest {
  @Test
  void countsMatchABlockByBlockOracle() {
    Random rnd = new Random(21);
    for (int round = 0; round < 500; round++) {
      BlockGeometry g = BlockGeometry.of(4096 << rnd.nextInt(4));
      long blocks = rnd.nextInt(4) == 0 ? rnd.nextInt(5) : 1 + rnd.nextInt(20_000);
      long size = Math.max(0, blocks * g.blockSize() - rnd.nextInt(g.blockSize()));
      int maxCells = 1 + rnd.nextInt(rnd.nextBoolean() ? 20 : DirtyCells.MAX_CELLS);
      RoaringBitmap bits = new RoaringBitmap();
      for (int runs = rnd.nextInt(30); runs > 0; runs--) { // runs that cross cells, past the end
        long from = rnd.nextInt((int) blocks + 10);
        bits.add(from, from + 1 + rnd.nextInt(rnd.nextBoolean() ? 3 : 3000));
      }
      DirtySet dirty = DirtySet.of(g, bits);
      DirtyCells cells = DirtyCells.count("", dirty, size, maxCells);

      String at = "round " + round;
      long inImage = g.blockCount(size);
      long per = cells.blocksPerCell();
      assertThat(cells.cells()).as(at).isLessThanOrEqualTo(maxCells);
      assertThat((long) cells.cells() * per).as(at).isGreaterThanOrEqualTo(inImage);
      if (per > 1) { // one block fewer a cell would not fit
        assertThat((inImage + per - 2) / (per - 1)).as(at).isGreaterThan(maxCells);
      }
      long[] oracle = new long[cells.cells()];
      for (long b = 0; b < inImage; b++) {
        if (dirty.contains(b)) {
          oracle[(int) (b / per)]++;
        }
      }
      assertThat(cells.dirtyBlocks()).as(at).containsExactlyElementsOf(boxed(oracle));
      assertThat(cells.dirtyBytes()).as(at).isEqualTo(dirty.byteCount(size));
      long total = 0;
      for (int i = 0; i < cells.cells(); i++) {
        total += cells.blocksIn(i);
      }
      assertThat(total).as(at + ": the cells tile the image").isEqualTo(inImage);
    }
  }

  @Test
  void aMapThatDoesNotTileTheImageIsRefused() {
    assertThatThrownBy(() -> new DirtyCells("", 10 * 4096, 4096, 3, 0, List.of(0L, 0L, 0L)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new DirtyCells("", 10 * 4096, 4096, 3, 0, List.of(0L, 0L, 0L, 2L)))
        .as("the last cell holds one block")
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new DirtyCells("", 4096, 4096, Long.MAX_VALUE, 0, List.of(0L)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new DirtyCells("", 4096, 4095, 1, 0, List.of(0L)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> DirtyCells.count("", DirtySet.empty(BlockGeometry.of(4096)), 1, 0))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void theJsonNamesEveryCount() {
    DirtyCells cells =
        new DirtyCells("file:/r", 10 * 4096, 4096, 3, 16384, List.of(0L, 1L, 3L, 0L));
    assertThat(cells.toJson("vm.raw"))
        .isEqualTo(
            "{\"image\":\"vm.raw\",\"target\":\"file:/r\",\"imageSize\":40960,\"blockSize\":4096,"
                + "\"cells\":4,\"blocksPerCell\":3,\"bytesPerCell\":12288,\"dirtyBlocks\":4,"
                + "\"dirtyBytes\":16384,\"cellDirtyBlocks\":[0,1,3,0]}");
  }

  private static List<Long> boxed(long[] values) {
    return java.util.Arrays.stream(values).boxed().toList();
  }
}
