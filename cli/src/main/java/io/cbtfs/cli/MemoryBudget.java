package io.cbtfs.cli;

import io.cbtfs.syncer.Syncer;
import io.cbtfs.tracker.BlockGeometry;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The memory a mount daemon may use ({@code cbtfs mount --max-memory}), as the JVM flags that bound
 * it. Without them the JVM sizes itself by the host (a quarter of its RAM for the heap, as much
 * again for direct buffers) and a long-running mount grows towards that: a sync's buffers are
 * direct and freed only when a collection finds them, which a large, rarely collected heap delays
 * (docs/BENCHMARKS.md, the footprint section, has the figures the split below comes from).
 *
 * <p>The budget is split: 1/4 heap, 1/4 direct buffers (a sync holds up to {@link #syncDirectBytes}
 * of them; a full direct pool makes the JVM collect and retry before it fails), the rest for what
 * the JVM needs beside them (code, classes, threads, libraries: about 90 MiB of RSS measured). The
 * serial collector: G1 took 40 MiB of its own for a 64 MiB heap, and a small daemon gains nothing
 * from its concurrent work.
 */
final class MemoryBudget {
  static final String DEFAULT = "256M";

  /** The syncer's fewest reader threads: the least a sync in a mount can hold. */
  static final int SYNC_MIN_THREADS = Syncer.MIN_IO_THREADS;

  /**
   * The direct buffers one record holds from its read until the target is done with it: its read
   * buffer (a record of up to {@link Syncer#DEFAULT_RECORD_BYTES}, plus a page of alignment) and
   * its compressed copy (LZ4's bound: the record plus 1/255 of it and 16 bytes).
   */
  static final long RECORD_DIRECT_BYTES =
      2L * Syncer.DEFAULT_RECORD_BYTES + 4096 + Syncer.DEFAULT_RECORD_BYTES / 255 + 16;

  /**
   * Records a local target holds beyond the syncer's: its staging stream borrows about 8 payloads
   * (StagingStream.BUFFERS) whose buffers the syncer replaces meanwhile.
   */
  static final int BORROWED_RECORDS = 8;

  /** A local target's staging buffers: 8 of 1 MiB (StagingStream). */
  static final long STAGING_DIRECT_BYTES = 8L << 20;

  /** Each reader thread's buffer for a compression sample (64 KiB and LZ4's bound of it). */
  static final long SAMPLE_DIRECT_BYTES = (64L << 10) + (64L << 10) / 255 + 16;

  /**
   * The JVM's own share (about 90 MiB), a heap for hundreds of images, and direct buffers (a
   * quarter, in whole MiB: {@link #jvmFlags}) for one sync at the syncer's fewest threads.
   */
  static final long MIN_BYTES = 4 * ((syncDirectBytes(SYNC_MIN_THREADS) >> 20) + 1) << 20;

  /** Names the budget inside the daemon's JVM, for {@code ps} and a look at /proc/PID/cmdline. */
  static final String PROPERTY = "cbtfs.max-memory";

  private final long bytes;

  private MemoryBudget(long bytes) {
    this.bytes = bytes;
  }

  /**
   * Parses {@code text} (e.g. 256M, 1G).
   *
   * @throws IllegalArgumentException with the reason, for a size that is malformed or too small
   */
  static MemoryBudget parse(String text) {
    long bytes = BlockGeometry.parseByteSize(text);
    if (bytes < MIN_BYTES) {
      throw new IllegalArgumentException(
          "a mount needs at least "
              + (MIN_BYTES >> 20)
              + "M (the JVM itself takes about 90M, a sync's buffers "
              + ((syncDirectBytes(SYNC_MIN_THREADS) >> 20) + 1)
              + "M)");
    }
    return new MemoryBudget(bytes);
  }

  long bytes() {
    return bytes;
  }

  /**
   * The JVM flags that hold the daemon to this budget. {@code selectsCollector}: the JVM's other
   * flags already choose a garbage collector (an operator's CBTFS_JAVA_OPTS); two would not start.
   */
  List<String> jvmFlags(boolean selectsCollector) {
    long mib = bytes >> 20;
    List<String> flags = new ArrayList<>();
    flags.add("-Xmx" + mib / 4 + "m");
    flags.add("-XX:MaxDirectMemorySize=" + mib / 4 + "m");
    if (!selectsCollector) {
      flags.add("-XX:+UseSerialGC");
    }
    flags.add("-D" + PROPERTY + "=" + mib + "m");
    return flags;
  }

  /**
   * The most direct buffers one sync with {@code threads} readers holds (at least {@link
   * #SYNC_MIN_THREADS}, as the syncer does): up to 2 records in flight a thread, the payloads a
   * local target borrows, its staging buffers and each thread's compression sample.
   */
  static long syncDirectBytes(int threads) {
    long t = Math.max(SYNC_MIN_THREADS, threads);
    return (2 * t + BORROWED_RECORDS) * RECORD_DIRECT_BYTES
        + STAGING_DIRECT_BYTES
        + t * SAMPLE_DIRECT_BYTES;
  }

  /**
   * The direct buffers a JVM started with {@code jvmArgs} may allocate: its -XX:MaxDirectMemorySize
   * (the last one given), else the JVM's default, its maximum heap {@code maxHeap}.
   */
  static long directLimit(List<String> jvmArgs, long maxHeap) {
    long direct = maxHeap;
    for (String a : jvmArgs) {
      if (a.startsWith("-XX:MaxDirectMemorySize=")) {
        direct = BlockGeometry.parseByteSize(a.substring("-XX:MaxDirectMemorySize=".length()));
      }
    }
    return direct;
  }

  /**
   * The readers a sync in a mount runs with: one a core ({@code cores}), but no more than one sync
   * can run with in {@code direct} bytes of direct buffers (never fewer than the syncer's least: a
   * budget too small for those is refused by {@link #parse}).
   */
  static int syncThreads(long direct, int cores) {
    int threads = Math.max(SYNC_MIN_THREADS, cores);
    while (threads > SYNC_MIN_THREADS && syncDirectBytes(threads) > direct) {
      threads--;
    }
    return threads;
  }

  /**
   * How many syncs of {@code threads} readers each can run at once in {@code direct} bytes of
   * direct buffers without running out of them; one at least.
   */
  static int syncsAtOnce(long direct, int threads) {
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, direct / syncDirectBytes(threads)));
  }

  /** Whether one of {@code jvmArgs} chooses a garbage collector. */
  static boolean selectsCollector(List<String> jvmArgs) {
    return jvmArgs.stream().anyMatch(a -> a.matches("-XX:\\+Use\\w*GC"));
  }

  /**
   * The budget a {@code cbtfs mount} command line asks for: its {@code --max-memory}, else the
   * default. Throws IllegalArgumentException as {@link #parse} does.
   */
  static MemoryBudget ofMountArgs(List<String> args) {
    String size = DEFAULT;
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      if (a.equals("--")) {
        break;
      } else if (a.startsWith("--max-memory=")) {
        size = a.substring("--max-memory=".length());
      } else if (a.equals("--max-memory") && i + 1 < args.size()) {
        size = args.get(++i);
      }
    }
    return parse(size);
  }

  /**
   * The environment the daemon's JVM starts with (values the operator set win). Direct buffers are
   * malloc'd: glibc raises its mmap threshold when a 1 MiB buffer is freed, after which buffers
   * come from its arenas (up to 8 per core, one per busy thread) and what is freed stays in the
   * process. A fixed threshold gives each buffer of 128 KiB or more its own mapping, returned when
   * freed; two arenas hold the small allocations of all threads.
   */
  Map<String, String> environment() {
    Map<String, String> env = new LinkedHashMap<>();
    env.put("MALLOC_ARENA_MAX", "2");
    env.put("MALLOC_MMAP_THRESHOLD_", "131072");
    return env;
  }

  /**
   * What bin/cbtfs needs before it starts the JVM of a foreground mount: the JVM flags for the
   * mount command line {@code args} on one line (given before {@code javaOpts}, the operator's
   * CBTFS_JAVA_OPTS, which win), then its environment as NAME=VALUE words on another.
   */
  static String forLauncher(List<String> args, String javaOpts) {
    MemoryBudget budget = ofMountArgs(args);
    List<String> env = new ArrayList<>();
    budget.environment().forEach((k, v) -> env.add(k + "=" + v));
    return String.join(" ", budget.jvmFlags(selectsCollector(List.of(javaOpts.split("\\s+")))))
        + "\n"
        + String.join(" ", env)
        + "\n";
  }

  /** For bin/cbtfs: see {@link #forLauncher}. A bad size prints nothing: the mount says why. */
  public static void main(String[] args) {
    try {
      System.out.print(
          forLauncher(List.of(args), System.getenv().getOrDefault("CBTFS_JAVA_OPTS", "")));
    } catch (IllegalArgumentException e) {
      // the mount's own parse reports it
    }
  }
}
