package io.cbtfs.bench;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.BlockSaver;
import io.cbtfs.tracker.CopyBeforeWrite;
import io.cbtfs.tracker.Drain;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The tracking a write pays around its backing write ({@code TrackedImage.beforeWrite} and {@code
 * afterWrite}: the point-in-time barrier, the activity log on a hot extent, the mark), with no sync
 * running and during a point-in-time sync whose blocks the writes do not touch (the barrier's one
 * atomic read per block). The copy of a pending block is I/O, measured through the mount.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Fork(1)
public class WriteBarrierBenchmark {
  private static final BlockGeometry G = BlockGeometry.of(64 << 10);
  private static final long GIB = 1L << 30;

  @State(Scope.Benchmark)
  public static class Image {
    Path dir;
    TrackerStore store;
    TrackedImage image;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
      dir = Files.createTempDirectory("cbtfs-jmh");
      store = TrackerStore.open(dir, TrackingOptions.defaults(G));
      image = store.image("vm.img", new Fingerprint(2 * GIB, 1, 1, 1));
      for (long off = 0; off < GIB; off += 64 << 10) { // every extent of the first GiB hot
        image.beforeWrite(off, 1);
        image.afterWrite(off, 1);
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
      store.close();
    }
  }

  /** A point-in-time sync of the second GiB, open for the whole trial; writes go to the first. */
  @State(Scope.Benchmark)
  public static class Syncing extends Image {
    Drain drain;

    @Override
    @Setup(Level.Trial)
    public void setUp() throws IOException {
      super.setUp();
      Drain first = image.beginSync("bench", -1); // the target holds everything
      image.commit(first, 2 * GIB);
      for (long off = GIB; off < 2 * GIB; off += 64 << 10) {
        image.beforeWrite(off, 1);
        image.afterWrite(off, 1);
      }
      BlockSaver never =
          new BlockSaver() {
            @Override
            public long imageBytesAtDrain() {
              return -1;
            }

            @Override
            public void protecting(long blockCount) {}

            @Override
            public void save(long blockIndex) {
              throw new AssertionError("no write touches the sync's blocks");
            }
          };
      drain = image.beginSync("bench", first.generation(), new CopyBeforeWrite(never, 1));
    }

    @Override
    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
      drain.close();
      super.tearDown();
    }
  }

  @State(Scope.Thread)
  public static class Cursor {
    long x = System.nanoTime() | 1;

    /** A random 4 KiB-aligned offset in the first GiB. */
    long nextOffset() {
      x ^= x << 13;
      x ^= x >>> 7;
      x ^= x << 17;
      return (x & (GIB - 1)) & ~4095L;
    }
  }

  @Benchmark
  public long writeNoSync(Image s, Cursor c) throws IOException {
    long off = c.nextOffset();
    s.image.beforeWrite(off, 4096);
    s.image.afterWrite(off, 4096);
    return off;
  }

  @Benchmark
  public long writeDuringPointInTimeSync(Syncing s, Cursor c) throws IOException {
    long off = c.nextOffset();
    s.image.beforeWrite(off, 4096);
    s.image.afterWrite(off, 4096);
    return off;
  }
}
