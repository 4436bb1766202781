package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ChunkArraysTest {
  @Test
  void anArrayGivenBackIsTakenAgainAndOnlyAShortageMakesOne() {
    ChunkArrays arrays = new ChunkArrays(100);
    byte[] a = arrays.take();
    byte[] b = arrays.take();
    assertThat(a).hasSize(100).isNotSameAs(b);
    arrays.giveBack(a);
    assertThat(arrays.take()).isSameAs(a);
    arrays.giveBack(new byte[99]); // not one of its size: never handed out
    arrays.giveBack(null);
    assertThat(arrays.take()).hasSize(100);
    assertThat(arrays.made()).isEqualTo(3);
  }
}
