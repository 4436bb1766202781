package io.cbtfs.tracker;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * A small seeded fuzzer for the readers of bytes from disk or the network. Each try makes an input
 * from its own seeded {@link Random} (random bytes, or a {@link Mutations mutation} of a valid
 * encoding) and hands it to a check, which returns whether the reader accepted it and throws if the
 * reader misbehaved. A try fails when the check throws anything (an unexpected exception type, an
 * inconsistent re-encoding), when it allocates more than a bound (a hostile length trusted), or
 * when it makes no progress for {@link #STALL_MILLIS} (a hang). The failing input is written to
 * {@code target/fuzz-failures/} and named with the seed and try that rebuild it; a defect it found
 * keeps its input under {@code src/test/resources/fuzz/NAME/}, which {@link #replay} reads back.
 *
 * <p>Bounded for CI: each property states its tries, a few seconds in all per module. System
 * properties for longer runs (bench/fuzz.sh): {@code -Dcbtfs.fuzz.factor=N} multiplies every
 * property's tries, {@code -Dcbtfs.fuzz.seed=S} starts from another seed (the default is fixed, so
 * CI runs the same inputs every time).
 */
public final class Fuzz {
  /** Makes one input from a seeded random source. */
  @FunctionalInterface
  public interface Inputs {
    byte[] make(Random rnd);
  }

  /** Reads an input: true if the reader accepted it, false if it refused it as documented. */
  @FunctionalInterface
  public interface Check {
    boolean accept(byte[] input) throws Exception;
  }

  /** How a run went. */
  public record Report(long tries, long accepted, long refused) {}

  static final long STALL_MILLIS = 30_000;
  private static final long DEFAULT_ALLOCATION_LIMIT = 256L << 20;

  private Fuzz() {}

  /** {@link #run(String, int, long, Inputs, Check)} with a 256 MiB allocation bound per try. */
  public static Report run(String name, int tries, Inputs inputs, Check check) {
    return run(name, tries, DEFAULT_ALLOCATION_LIMIT, inputs, check);
  }

  /**
   * Runs {@code check} over {@code tries} (times {@code cbtfs.fuzz.factor}) inputs.
   *
   * @param allocationLimit the most a try may allocate on the checking thread
   * @throws AssertionError for the first try that failed
   */
  public static Report run(
      String name, int tries, long allocationLimit, Inputs inputs, Check check) {
    long total = (long) tries * Long.getLong("cbtfs.fuzz.factor", 1);
    long seed = Long.getLong("cbtfs.fuzz.seed", name.hashCode());
    AtomicLong done = new AtomicLong();
    AtomicReference<byte[]> current = new AtomicReference<>();
    AtomicReference<AssertionError> failure = new AtomicReference<>();
    long[] counts = new long[2];
    long started = System.nanoTime();
    Thread worker =
        new Thread(
            () -> {
              for (long t = 0; t < total; t++) {
                byte[] input = inputs.make(new Random(trySeed(seed, t)));
                current.set(input);
                long before = allocated();
                try {
                  counts[check.accept(input) ? 0 : 1]++;
                } catch (Throwable e) { // what the property is about: nothing else may escape
                  failure.set(failed(name, seed, t, input, e.toString(), e));
                  return;
                }
                long used = allocated() - before;
                if (used > allocationLimit) {
                  failure.set(failed(name, seed, t, input, "allocated " + used + " bytes", null));
                  return;
                }
                done.incrementAndGet();
              }
            },
            "fuzz-" + name);
    worker.setDaemon(true);
    worker.start();
    try {
      long seen = -1;
      while (worker.isAlive()) {
        worker.join(STALL_MILLIS);
        if (worker.isAlive() && done.get() == seen) {
          worker.interrupt();
          throw failed(
              name, seed, seen, current.get(), "no progress in " + STALL_MILLIS + " ms", null);
        }
        seen = done.get();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
    if (failure.get() != null) {
      throw failure.get();
    }
    System.out.printf(
        "fuzz %s: %d inputs (seed %d), %d read, %d refused, %.1f s%n",
        name, total, seed, counts[0], counts[1], (System.nanoTime() - started) / 1e9);
    return new Report(total, counts[0], counts[1]);
  }

  /**
   * Runs {@code check} over every input kept under {@code src/test/resources/fuzz/NAME/} of the
   * module of {@code anchor}: hostile inputs that a reader once mishandled (or that a deliberately
   * broken one did), each named for what it does.
   */
  public static Report replay(Class<?> anchor, String name, Check check) throws IOException {
    URL dir = anchor.getResource("/fuzz/" + name);
    if (dir == null) {
      throw new AssertionError("no kept inputs under /fuzz/" + name);
    }
    List<Path> files = new ArrayList<>();
    try (Stream<Path> s = Files.list(Path.of(dir.toURI()))) {
      s.sorted().forEach(files::add);
    } catch (URISyntaxException e) {
      throw new IOException(e);
    }
    long accepted = 0;
    for (Path f : files) {
      try {
        accepted += check.accept(Files.readAllBytes(f)) ? 1 : 0;
      } catch (Throwable e) {
        throw new AssertionError("kept input " + f.getFileName() + ": " + e, e);
      }
    }
    return new Report(files.size(), accepted, files.size() - accepted);
  }

  private static AssertionError failed(
      String name, long seed, long t, byte[] input, String what, Throwable cause) {
    String kept = "(not kept)";
    try {
      Path dir = Files.createDirectories(Path.of("target", "fuzz-failures"));
      Path f = dir.resolve(name.replaceAll("[^A-Za-z0-9]+", "-") + "-" + seed + "-" + t + ".bin");
      Files.write(f, input == null ? new byte[0] : input);
      kept = f.toAbsolutePath().toString();
    } catch (IOException e) {
      // the message still names the seed and the try
    }
    String head =
        input == null
            ? ""
            : HexFormat.of().formatHex(input, 0, Math.min(input.length, 96))
                + (input.length > 96 ? "..." : "");
    return new AssertionError(
        String.format(
            "fuzz %s: try %d of seed %d (-Dcbtfs.fuzz.seed=%d): %s; input of %d bytes kept in"
                + " %s: %s",
            name, t, seed, seed, what, input == null ? 0 : input.length, kept, head),
        cause);
  }

  /**
   * The seed of try {@code t}: SplitMix64 of the run's seed and the try, so that nearby tries do
   * not start from nearby seeds (java.util.Random's first values of those are alike).
   */
  static long trySeed(long seed, long t) {
    long z = seed + (t + 1) * 0x9E3779B97F4A7C15L;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** Bytes this thread allocated so far (HotSpot's count). */
  private static long allocated() {
    return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean())
        .getThreadAllocatedBytes(Thread.currentThread().getId());
  }
}
