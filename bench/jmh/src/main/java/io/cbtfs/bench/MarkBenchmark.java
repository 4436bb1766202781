package io.cbtfs.bench;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtyTracker;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.roaringbitmap.RoaringBitmap;

/**
 * The cost of {@link DirtyTracker#mark} on the FUSE write path, against the obvious alternative: a
 * RoaringBitmap behind a lock. Run with bench/jmh.sh; results in docs/BENCHMARKS.md.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Fork(1)
public class MarkBenchmark {
  private static final BlockGeometry G = BlockGeometry.of(64 << 10);

  /** 2^27 clean blocks: enough for every mark of an iteration to find a clean one. */
  private static final long CLEAN_BLOCKS = 1L << 27;

  @State(Scope.Benchmark)
  public static class Fresh {
    DirtyTracker tracker;
    long next;

    @Setup(Level.Iteration)
    public void setUp() {
      tracker = new DirtyTracker(G);
      tracker.mark((CLEAN_BLOCKS - 1) << G.blockShift(), 1); // allocate every page up front
      next = 0;
    }
  }

  @State(Scope.Benchmark)
  public static class Hot {
    final DirtyTracker tracker = new DirtyTracker(G);
    final RoaringBitmap roaring = new RoaringBitmap();

    @Setup(Level.Trial)
    public void setUp() {
      tracker.mark(0, 4L << 30); // the first 4 GiB all dirty
      roaring.add(0L, 65536L);
    }
  }

  @State(Scope.Thread)
  public static class Cursor {
    long x = System.nanoTime() | 1;

    /** xorshift: a cheap random block in the first 4 GiB. */
    long nextBlock() {
      x ^= x << 13;
      x ^= x >>> 7;
      x ^= x << 17;
      return x & 65535;
    }
  }

  @Benchmark
  public void markCleanBlock(Fresh s) {
    s.tracker.mark((s.next++ & (CLEAN_BLOCKS - 1)) << G.blockShift(), 4096);
  }

  @Benchmark
  public void markDirtyBlock(Hot s, Cursor c) {
    s.tracker.mark(c.nextBlock() << G.blockShift(), 4096);
  }

  @Benchmark
  @Threads(2)
  public void markDirtyBlockTwoThreads(Hot s, Cursor c) {
    s.tracker.mark(c.nextBlock() << G.blockShift(), 4096);
  }

  @Benchmark
  public void roaringAddUnderLock(Hot s, Cursor c) {
    synchronized (s.roaring) {
      s.roaring.add((int) c.nextBlock());
    }
  }

  @Benchmark
  @Threads(2)
  public void roaringAddUnderLockTwoThreads(Hot s, Cursor c) {
    synchronized (s.roaring) {
      s.roaring.add((int) c.nextBlock());
    }
  }
}
