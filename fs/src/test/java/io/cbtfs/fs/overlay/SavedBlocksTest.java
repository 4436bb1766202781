package io.cbtfs.fs.overlay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SavedBlocksTest {
  private static final int BLOCK = 64 << 10;

  @TempDir Path tmp;

  /** Seeded ranges against a BitSet, across word boundaries; a reopen reads what was marked. */
  @Test
  void marksMatchABitSetAndAreInTheFileBeforeMarkReturns() throws IOException {
    Path file = tmp.resolve("vm@3.present");
    long imageSize = 1000L * BLOCK - 123; // 1000 blocks, the last one short
    BitSet oracle = new BitSet();
    Random rnd = new Random(7);
    try (SavedBlocks map = SavedBlocks.open(file, imageSize, BLOCK, "lineage x generation 3")) {
      assertThat(map.blockCount()).isEqualTo(1000);
      for (int i = 0; i < 200; i++) {
        long first = rnd.nextInt(1000);
        long count = 1 + rnd.nextInt((int) Math.min(150, 1000 - first));
        map.mark(first, count);
        oracle.set((int) first, (int) (first + count));
        // another handle on the file, as a mount started after a kill -9 would open it
        try (SavedBlocks again =
            SavedBlocks.open(file, imageSize, BLOCK, "lineage x generation 3")) {
          for (int b = 0; b < 1000; b++) {
            assertThat(again.contains(b))
                .as("block %d after mark %d", b, i)
                .isEqualTo(oracle.get(b));
          }
        }
      }
      assertThat(map.count()).isEqualTo(oracle.cardinality());
    }
  }

  @Test
  void aMapOfAnotherGenerationOrSizeIsRefusedAndAForeignFileToo() throws IOException {
    Path file = tmp.resolve("vm@3.present");
    try (SavedBlocks map = SavedBlocks.open(file, 10L * BLOCK, BLOCK, "lineage x generation 3")) {
      map.mark(2, 3);
    }
    assertThatThrownBy(() -> SavedBlocks.open(file, 10L * BLOCK, BLOCK, "lineage x generation 4"))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("is the overlay of lineage x generation 3")
        .hasMessageContaining("not of lineage x generation 4");
    assertThatThrownBy(() -> SavedBlocks.open(file, 11L * BLOCK, BLOCK, "lineage x generation 3"))
        .isInstanceOf(CbtfsException.class);
    Path foreign = tmp.resolve("foreign.present");
    Files.write(foreign, new byte[SavedBlocks.HEADER_BYTES + 8]);
    assertThatThrownBy(() -> SavedBlocks.open(foreign, 10L * BLOCK, BLOCK, "b"))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("is not an overlay's block map");
    assertThat(tmp.resolve("vm@3.present.tmp")).doesNotExist();
  }

  /** The header names what the map was made over; a map cut short is no map. */
  @Test
  void theHeaderSaysWhatTheMapWasMadeOverAndACutMapIsRefused() throws IOException {
    Path file = tmp.resolve("vm@3.written");
    long imageSize = 130L * BLOCK + 1;
    try (SavedBlocks map =
        SavedBlocks.open(file, imageSize, BLOCK, "image lineage x generation 3")) {
      map.mark(0, 1);
    }
    assertThat(SavedBlocks.header(file))
        .isEqualTo(new SavedBlocks.Header("image lineage x generation 3", imageSize, BLOCK));
    try (var ch =
        java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
      ch.truncate(ch.size() - 8);
    }
    assertThatThrownBy(() -> SavedBlocks.header(file))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("is not an overlay's block map");
  }
}
