package io.cbtfs.bench;

import io.cbtfs.tracker.ActivityLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
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
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The activity log's steady-state cost per write: enter and exit on extents that are already hot (a
 * 1 GiB working set in 4 MiB extents, all hot). The cold path costs an fdatasync and is measured
 * through the mount with fio (bench/fio-tracking.sh).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 5, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Fork(1)
public class ActivityLogBenchmark {
  @State(Scope.Benchmark)
  public static class Log {
    Path dir;
    ActivityLog log;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
      dir = Files.createTempDirectory("cbtfs-jmh");
      log =
          ActivityLog.create(dir.resolve("a.alog"), UUID.randomUUID(), 4 << 20, 1024, 0, () -> {});
      for (long off = 0; off < 1L << 30; off += 4 << 20) {
        log.enter(off, 1);
        log.exit(off, 1);
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
      log.close();
      Files.deleteIfExists(dir.resolve("a.alog"));
      Files.deleteIfExists(dir);
    }
  }

  @State(Scope.Thread)
  public static class Cursor {
    long x = System.nanoTime() | 1;

    long nextOffset() {
      x ^= x << 13;
      x ^= x >>> 7;
      x ^= x << 17;
      return (x & ((1L << 30) - 1)) & ~4095L;
    }
  }

  @Benchmark
  public long enterExitHotExtent(Log s, Cursor c) throws IOException {
    long off = c.nextOffset();
    s.log.enter(off, 4096);
    s.log.exit(off, 4096);
    return off;
  }

  @Benchmark
  @Threads(2)
  public long enterExitHotExtentTwoThreads(Log s, Cursor c) throws IOException {
    long off = c.nextOffset();
    s.log.enter(off, 4096);
    s.log.exit(off, 4096);
    return off;
  }

  @Benchmark
  public long baselineOffsetOnly(Cursor c) {
    return c.nextOffset();
  }
}
