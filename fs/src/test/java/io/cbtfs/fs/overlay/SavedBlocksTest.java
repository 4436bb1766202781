package io.cbtfs.fs.overlay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.Fingerprint;
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

  /**
   * A sealed map reads back with its bits, the fingerprint it was sealed with and an intact seal; a
   * flipped byte in its bits or its header is a damaged seal; opening it for marks removes the seal
   * (a mount that then stops uncleanly leaves none); a map never sealed has none.
   */
  @Test
  void aSealCarriesTheFingerprintAndACheckOfEveryByteAndOpeningRemovesIt() throws IOException {
    Path file = tmp.resolve("vm@3.written");
    long imageSize = 200L * BLOCK;
    String base = "image lineage x generation 3";
    Fingerprint fp = new Fingerprint(imageSize, 11, 22, 33);
    try (SavedBlocks map = SavedBlocks.open(file, imageSize, BLOCK, base)) {
      map.mark(3, 1);
      map.mark(70, 5);
    }
    assertThat(SavedBlocks.read(file).seal()).isEqualTo(SavedBlocks.Seal.NONE);
    try (SavedBlocks map = SavedBlocks.open(file, imageSize, BLOCK, base)) {
      map.closeSealed(fp);
    }
    SavedBlocks.Contents sealed = SavedBlocks.read(file);
    assertThat(sealed.seal()).isEqualTo(SavedBlocks.Seal.INTACT);
    assertThat(sealed.imageAtClose()).isEqualTo(fp);
    assertThat(sealed.header()).isEqualTo(new SavedBlocks.Header(base, imageSize, BLOCK));
    BitSet expected = new BitSet();
    expected.set(3);
    expected.set(70, 75);
    assertThat(sealed.blocks()).isEqualTo(expected);

    byte[] good = Files.readAllBytes(file);
    for (int at : new int[] {SavedBlocks.HEADER_BYTES + 9, 30, SavedBlocks.SEAL_AT + 12}) {
      byte[] bad = good.clone();
      bad[at] ^= 0x10;
      Files.write(file, bad);
      assertThat(SavedBlocks.read(file).seal())
          .as("byte %d flipped", at)
          .isEqualTo(SavedBlocks.Seal.DAMAGED);
    }
    Files.write(file, good);

    Fingerprint relinked = new Fingerprint(imageSize, 11, 99, 33);
    assertThat(SavedBlocks.reseal(file, relinked)).isTrue();
    assertThat(SavedBlocks.read(file).seal()).isEqualTo(SavedBlocks.Seal.INTACT);
    assertThat(SavedBlocks.read(file).imageAtClose()).isEqualTo(relinked);
    assertThat(SavedBlocks.read(file).blocks()).isEqualTo(expected);

    try (SavedBlocks map = SavedBlocks.open(file, imageSize, BLOCK, base)) {
      assertThat(SavedBlocks.read(file).seal()).isEqualTo(SavedBlocks.Seal.NONE);
      assertThat(SavedBlocks.reseal(file, fp)).as("no seal to renew").isFalse();
      map.mark(100, 1);
    }
    assertThat(SavedBlocks.read(file).seal()).isEqualTo(SavedBlocks.Seal.NONE);
    assertThat(SavedBlocks.read(file).blocks().get(100)).isTrue();
  }
}
