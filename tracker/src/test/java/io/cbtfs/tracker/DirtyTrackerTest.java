package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DirtyTrackerTest {
  private static final BlockGeometry G4K = BlockGeometry.of(4096);

  private static BitSet bits(DirtySet set) {
    BitSet b = new BitSet();
    set.forEachBlock(b::set);
    return b;
  }

  @Test
  void marksExactlyTheBlocksARangeTouches() {
    DirtyTracker t = new DirtyTracker(G4K);
    t.mark(4095, 2); // last byte of block 0, first of block 1
    t.mark(8192 * 2, 4096); // exactly block 4
    t.mark(40960, 1); // one byte of block 10
    assertThat(bits(t.snapshot()).toString()).isEqualTo("{0, 1, 4, 10}");
    assertThat(t.isDirty(3)).isFalse();
    assertThat(t.isDirty(4)).isTrue();
    assertThat(t.isDirty(5)).isFalse();
  }

  @Test
  void zeroLengthMarksNothingAndNegativeIsRejected() {
    DirtyTracker t = new DirtyTracker(G4K);
    t.mark(12345, 0);
    assertThat(t.dirtyBlockCount()).isZero();
    assertThatThrownBy(() -> t.mark(-1, 10)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> t.mark(0, -10)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> t.mark(Long.MAX_VALUE, 10))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void rangesSpanningManyWordsAndPagesAreComplete() {
    DirtyTracker t = new DirtyTracker(G4K);
    long first = 63; // crosses word edges at both ends
    long last = 70_000; // crosses a page (65,536 blocks)
    t.mark(first * 4096 + 100, (last - first) * 4096);
    DirtySet s = t.snapshot();
    assertThat(s.blockCount()).isEqualTo(last - first + 1);
    assertThat(s.contains(first - 1)).isFalse();
    assertThat(s.contains(first)).isTrue();
    assertThat(s.contains(last)).isTrue();
    assertThat(s.contains(last + 1)).isFalse();
  }

  @Test
  void growsWhenTheImageGrows() {
    DirtyTracker t = new DirtyTracker(BlockGeometry.of(64 << 10));
    t.mark(0, 1);
    t.mark(1L << 40, 1); // 1 TiB: block 16M
    assertThat(t.isDirty(0)).isTrue();
    assertThat(t.isDirty(1L << 24)).isTrue();
    assertThat(t.dirtyBlockCount()).isEqualTo(2);
  }

  @Test
  void refusesOffsetsBeyondTheTrackableSize() {
    DirtyTracker t = new DirtyTracker(G4K);
    assertThatThrownBy(() -> t.mark(4096L * Integer.MAX_VALUE, 1))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("largest image");
  }

  @Test
  void byteCountClipsTheLastPartialBlock() {
    DirtyTracker t = new DirtyTracker(G4K);
    t.mark(0, 10_000); // blocks 0..2
    assertThat(t.snapshot().byteCount(10_000)).isEqualTo(10_000);
    assertThat(t.snapshot().byteCount(4096)).isEqualTo(4096);
    assertThat(t.snapshot().byteCount(1 << 20)).isEqualTo(3 * 4096);
  }

  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3, 42, 1234})
  void randomMarksMatchABitSetOracle(long seed) {
    Random rnd = new Random(seed);
    DirtyTracker t = new DirtyTracker(G4K);
    BitSet oracle = new BitSet();
    for (int i = 0; i < 2_000; i++) {
      long off = rnd.nextInt(1 << 30);
      long len = rnd.nextInt(4) == 0 ? rnd.nextInt(1 << 22) : rnd.nextInt(9000);
      t.mark(off, len);
      if (len > 0) {
        oracle.set((int) (off / 4096), (int) ((off + len - 1) / 4096) + 1);
      }
      if (rnd.nextInt(200) == 0) { // drains interleaved: what they take leaves the live set
        assertThat(bits(DirtySet.of(G4K, t.take()))).isEqualTo(oracle);
        oracle.clear();
      }
    }
    assertThat(bits(t.snapshot())).isEqualTo(oracle);
  }

  @Test
  void takeTakesTheSetAndLeavesAnEmptyOne() {
    DirtyTracker t = new DirtyTracker(G4K);
    t.mark(0, 3 * 4096);
    assertThat(DirtySet.of(G4K, t.take()).blockCount()).isEqualTo(3);
    t.mark(10 * 4096, 1); // a write during the sync
    assertThat(t.isDirty(0)).as("taken: the history holds it now").isFalse();
    assertThat(bits(t.snapshot()).toString()).isEqualTo("{10}");
  }

  /**
   * Invariant 3 under threads: writers mark random blocks (each records what it marked) while a
   * drainer takes the set again and again. Every marked block must end up either taken or still
   * dirty.
   */
  @ParameterizedTest
  @ValueSource(longs = {7, 8, 9})
  void noBitIsLostAcrossConcurrentSwaps(long seed) throws Exception {
    DirtyTracker t = new DirtyTracker(G4K);
    int writers = 3;
    List<BitSet> marked = new ArrayList<>();
    BitSet committed = new BitSet();
    AtomicBoolean stop = new AtomicBoolean();
    CountDownLatch started = new CountDownLatch(writers);
    List<Thread> threads = new ArrayList<>();
    for (int w = 0; w < writers; w++) {
      BitSet mine = new BitSet();
      marked.add(mine);
      Random rnd = new Random(seed * 31 + w);
      Thread th =
          new Thread(
              () -> {
                started.countDown();
                for (int i = 0; i < 300_000; i++) {
                  int block = rnd.nextInt(200_000);
                  t.mark((long) block * 4096, 1 + rnd.nextInt(4096));
                  mine.set(block);
                }
              });
      threads.add(th);
      th.start();
    }
    started.await();
    Random rnd = new Random(seed);
    int drains = 0;
    while (threads.stream().anyMatch(Thread::isAlive) || drains < 5) {
      DirtySet.of(G4K, t.take()).forEachBlock(committed::set);
      drains++;
    }
    for (Thread th : threads) {
      th.join();
    }
    stop.set(true);
    BitSet all = new BitSet();
    marked.forEach(all::or);
    BitSet covered = bits(t.snapshot());
    covered.or(committed);
    BitSet lost = (BitSet) all.clone();
    lost.andNot(covered);
    assertThat(lost.cardinality()).as("blocks marked but neither committed nor dirty").isZero();
    assertThat(drains).isGreaterThanOrEqualTo(5);
  }

  /**
   * Issue #22: a guest writes its GPT at the start of a disk and its backup at the end; the
   * tracking of a 200 GiB image then allocates the two pages written, not the 50 between them.
   */
  @Test
  void onlyThePagesWrittenAreAllocated() {
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    long size = 200L << 30;
    for (BlockGeometry g : List.of(BlockGeometry.defaults(), G4K)) {
      // first marks load and link classes (allocations of their own): not what is measured
      DirtyTracker warm = new DirtyTracker(g);
      warm.mark(0, 512);
      warm.mark(size - 512, 512);
      DirtyTracker t = new DirtyTracker(g);
      long before = threads.getCurrentThreadAllocatedBytes();
      t.mark(0, 17 * 512);
      t.mark(size - 33 * 512, 33 * 512);
      long allocated = threads.getCurrentThreadAllocatedBytes() - before;
      // two pages of 8 KiB and the array that refers to them (800 pages of 4 KiB blocks)
      assertThat(allocated).as(g.toString()).isLessThan(24 << 10);
      long last = (size - 1) / g.blockSize();
      assertThat(t.isDirty(0)).isTrue();
      assertThat(t.isDirty(last)).isTrue();
      assertThat(t.isDirty(last / 2)).isFalse();
      assertThat(bits(t.snapshot()).cardinality()).isEqualTo(g.equals(G4K) ? 3 + 5 : 2);
      assertThat(t.take().getLongCardinality()).isEqualTo(g.equals(G4K) ? 3 + 5 : 2);
      assertThat(t.snapshot().blockCount()).isZero();
    }
  }

  /**
   * A page allocated by a first mark while another marker grows the pages array is in the grown
   * array too: the threads take turns at the pages in the order the array grows, so that one's
   * first mark in a page races another's growth past it.
   */
  @Test
  void aPageAllocatedWhileThePagesGrowIsKept() throws Exception {
    int writers = 3;
    int pages = 256; // each
    for (int round = 0; round < 300; round++) {
      DirtyTracker t = new DirtyTracker(G4K);
      CountDownLatch go = new CountDownLatch(1);
      List<Thread> threads = new ArrayList<>();
      for (int w = 0; w < writers; w++) {
        int first = w;
        Thread th =
            new Thread(
                () -> {
                  try {
                    go.await();
                  } catch (InterruptedException e) {
                    return;
                  }
                  for (long page = first; page < (long) writers * pages; page += writers) {
                    t.mark((page << 16) * 4096, 1);
                  }
                });
        threads.add(th);
        th.start();
      }
      go.countDown();
      for (Thread th : threads) {
        th.join();
      }
      assertThat(t.snapshot().blockCount()).as("round " + round).isEqualTo((long) writers * pages);
    }
  }

  @Test
  void markAllRestoresASet() {
    DirtyTracker t = new DirtyTracker(G4K);
    t.markAll(DirtySet.allOf(G4K, 10_000));
    assertThat(bits(t.snapshot()).toString()).isEqualTo("{0, 1, 2}");
    assertThatThrownBy(() -> t.markAll(DirtySet.empty(BlockGeometry.defaults())))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
