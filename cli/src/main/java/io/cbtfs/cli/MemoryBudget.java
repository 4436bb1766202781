package io.cbtfs.cli;

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
 * <p>The budget is split: 1/4 heap, 1/4 direct buffers (a sync holds 16-32 MiB of them; a full
 * direct pool makes the JVM collect and retry before it fails), the rest for what the JVM needs
 * beside them (code, classes, threads, libraries: about 90 MiB of RSS measured). The serial
 * collector: G1 took 40 MiB of its own for a 64 MiB heap, and a small daemon gains nothing from its
 * concurrent work.
 */
final class MemoryBudget {
  static final String DEFAULT = "256M";

  /** The JVM's own share, a sync's direct buffers (32 MiB) and a heap for hundreds of images. */
  static final long MIN_BYTES = 192L << 20;

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
              + "M (the JVM itself takes about 90M, a sync's buffers 32M)");
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

  /** The most direct buffers one sync holds (1 MiB runs in flight, staging, verifying). */
  static final long SYNC_DIRECT_BYTES = 32L << 20;

  /**
   * How many syncs a JVM started with {@code jvmArgs} can run at once without running out of direct
   * buffers: its -XX:MaxDirectMemorySize (the last one given), else the JVM's default, its maximum
   * heap {@code maxHeap}.
   */
  static int syncsAtOnce(List<String> jvmArgs, long maxHeap) {
    long direct = maxHeap;
    for (String a : jvmArgs) {
      if (a.startsWith("-XX:MaxDirectMemorySize=")) {
        direct = BlockGeometry.parseByteSize(a.substring("-XX:MaxDirectMemorySize=".length()));
      }
    }
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, direct / SYNC_DIRECT_BYTES));
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
