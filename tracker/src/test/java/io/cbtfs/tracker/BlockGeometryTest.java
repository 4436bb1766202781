package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class BlockGeometryTest {
  @Test
  void acceptsPowersOfTwoFrom4KTo4M() {
    assertThat(BlockGeometry.of(4096).blockShift()).isEqualTo(12);
    assertThat(BlockGeometry.of(4 << 20).blockShift()).isEqualTo(22);
    assertThat(BlockGeometry.defaults().blockSize()).isEqualTo(65536);
  }

  @Test
  void rejectsOtherSizes() {
    for (int bad : new int[] {0, -4096, 2048, 8 << 20, 65535, 3 * 4096}) {
      assertThatThrownBy(() -> BlockGeometry.of(bad))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("power of two");
    }
  }

  @Test
  void parsesSizesWithUnits() {
    assertThat(BlockGeometry.parseByteSize("65536")).isEqualTo(65536);
    assertThat(BlockGeometry.parseByteSize("64K")).isEqualTo(65536);
    assertThat(BlockGeometry.parseByteSize("64k")).isEqualTo(65536);
    assertThat(BlockGeometry.parseByteSize("1M")).isEqualTo(1 << 20);
    assertThat(BlockGeometry.parseByteSize("1MiB")).isEqualTo(1 << 20);
    assertThat(BlockGeometry.parseByteSize("2G")).isEqualTo(2L << 30);
    assertThatThrownBy(() -> BlockGeometry.parseByteSize("64Q"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> BlockGeometry.parseByteSize("-1"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> BlockGeometry.parseByteSize("99999999999T"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void mapsOffsetsToBlocks() {
    BlockGeometry g = BlockGeometry.of(4096);
    assertThat(g.blockIndex(0)).isZero();
    assertThat(g.blockIndex(4095)).isZero();
    assertThat(g.blockIndex(4096)).isOne();
    assertThat(g.blockCount(0)).isZero();
    assertThat(g.blockCount(1)).isOne();
    assertThat(g.blockCount(4096)).isOne();
    assertThat(g.blockCount(4097)).isEqualTo(2);
    assertThat(g.bytesInImage(1, 5000)).isEqualTo(904);
    assertThat(g.bytesInImage(2, 5000)).isZero();
    assertThat(BlockGeometry.formatBytes(65536)).isEqualTo("64K");
    assertThat(BlockGeometry.formatBytes(1000)).isEqualTo("1000");
  }
}
