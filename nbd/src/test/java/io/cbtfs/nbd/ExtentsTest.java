package io.cbtfs.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.BlockGeometry;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Extents from a dirty set and from holes, against a per-byte oracle. */
class ExtentsTest {
  private static final BlockGeometry GEOMETRY = BlockGeometry.of(4096);

  @Test
  void dirtyExtentsDescribeEveryByteOfTheRangeAsItsBlockIs() {
    Random random = new Random(2021);
    for (int round = 0; round < 500; round++) {
      BitSet dirty = new BitSet();
      for (int i = 0; i < 64; i++) {
        if (random.nextInt(3) == 0) {
          dirty.set(i);
        }
      }
      long offset = random.nextInt(60 * 4096);
      long length = 1 + random.nextInt((int) (64 * 4096 - offset));
      int max = 1 + random.nextInt(8);
      List<Extent> extents =
          new DirtyExtents(GEOMETRY, b -> dirty.get((int) b)).extents(offset, length, max);
      assertThat(extents).isNotEmpty().hasSizeLessThanOrEqualTo(max);
      long at = offset;
      int previous = -1;
      for (Extent e : extents) {
        assertThat(e.byteLength()).isPositive();
        assertThat(e.flags()).isNotEqualTo(previous); // neighbours differ: merged
        for (long b = at; b < at + e.byteLength(); b += 512) {
          assertThat(e.flags()).isEqualTo(dirty.get((int) (b / 4096)) ? Nbd.STATE_DIRTY : 0);
        }
        at += e.byteLength();
        previous = e.flags();
      }
      assertThat(at).isLessThanOrEqualTo(offset + length);
      if (extents.size() < max) {
        assertThat(at).isEqualTo(offset + length); // only the cap cuts a reply short
      }
    }
  }

  @Test
  void allocationExtentsFollowTheHoles() throws Exception {
    // data at [8K, 12K) and [20K, 24K) of a 32K file
    ExportedImage image = new FakeHoles(new long[][] {{8192, 12288}, {20480, 24576}}, 32768);
    AllocationExtents allocation = new AllocationExtents(image);
    int hole = Nbd.STATE_HOLE | Nbd.STATE_ZERO;
    assertThat(allocation.extents(0, 32768, 100))
        .containsExactly(
            new Extent(8192, hole),
            new Extent(4096, 0),
            new Extent(8192, hole),
            new Extent(4096, 0),
            new Extent(8192, hole));
    assertThat(allocation.extents(9000, 100, 100)).containsExactly(new Extent(100, 0));
    assertThat(allocation.extents(0, 32768, 2))
        .containsExactly(new Extent(8192, hole), new Extent(4096, 0));
    assertThat(allocation.extents(30000, 10000, 5)) // past the file's end: zeroes
        .containsExactly(new Extent(10000, hole));
  }

  /** SEEK_DATA/SEEK_HOLE over a list of data ranges. */
  private record FakeHoles(long[][] data, long size) implements ExportedImage {
    @Override
    public long nextData(long byteOffset) {
      for (long[] d : data) {
        if (byteOffset < d[1]) {
          return Math.max(byteOffset, d[0]);
        }
      }
      return -1;
    }

    @Override
    public long nextHole(long byteOffset) {
      for (long[] d : data) {
        if (byteOffset >= d[0] && byteOffset < d[1]) {
          return d[1];
        }
      }
      return Math.min(byteOffset, size);
    }

    @Override
    public long size() {
      return size;
    }

    @Override
    public int read(java.nio.ByteBuffer dst, long byteOffset) {
      throw new UnsupportedOperationException();
    }

    @Override
    public void write(java.nio.ByteBuffer src, long byteOffset) {
      throw new UnsupportedOperationException();
    }

    @Override
    public void flush() {}

    @Override
    public void trim(long byteOffset, long byteLength) {}

    @Override
    public io.cbtfs.tracker.TrackedImage tracking() {
      throw new UnsupportedOperationException();
    }

    @Override
    public boolean writable() {
      return false;
    }

    @Override
    public java.util.Optional<PointInTimeBitmap> pointInTime() {
      return java.util.Optional.empty();
    }

    @Override
    public void close() {}
  }
}
