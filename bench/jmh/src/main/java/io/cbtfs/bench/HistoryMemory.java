package io.cbtfs.bench;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.ChangeHistory;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.DirtyTracker;
import io.cbtfs.tracker.TrackingOptions;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.SplittableRandom;
import org.roaringbitmap.RoaringBitmap;

/**
 * What the change history of one image costs with 1, 2, 8 and 32 targets (issue #18), against the
 * two designs it was chosen over. Not a JMH benchmark: a plain run, {@code java -XX:+UseSerialGC
 * -cp bench/jmh/target/benchmarks.jar io.cbtfs.bench.HistoryMemory [ROUNDS]} (at least 3 per
 * target; default 48) after {@code bench/jmh.sh -l} built the jar; results in docs/BENCHMARKS.md.
 *
 * <p>A 1 TiB image at 64 KiB blocks. Each round writes blocks into the live {@link DirtyTracker},
 * then syncs target {@code round mod k} the way {@code TrackedImage.beginSync} and {@code commit}
 * do: the live set sealed as the next generation of the {@link ChangeHistory}, what the target
 * lacks taken from it, the target's cursor committed. Beside it, the per-target design: one bitmap
 * per target, every drain OR'ed into each, the synced target's cleared; at every sync what each
 * target lacks is checked equal in both (the history must answer exactly what the per-target bitmap
 * says).
 *
 * <p>Two write patterns: 1% of the blocks at random each round (repeats allowed), and the worst
 * case for the history's bitmaps: every {@code (k+1)}-th block each round, offset by the round, so
 * every kept set is single blocks scattered over every 64 Ki-block container.
 */
public final class HistoryMemory {
  private static final BlockGeometry GEOMETRY = BlockGeometry.defaults();
  private static final long IMAGE_BYTES = 1L << 40;
  private static final int BLOCKS = (int) (IMAGE_BYTES >> GEOMETRY.blockShift());
  private static final Duration MAX_AGE = TrackingOptions.DEFAULT_CURSOR_MAX_AGE;

  private enum Pattern {
    RANDOM_1_PERCENT,
    SCATTERED_WORST
  }

  /** One run's figures, bytes. */
  private record Figures(
      int targets,
      Pattern pattern,
      int setsKept,
      long historyAtRest,
      long historyDuringSync,
      long historyHeap,
      long perTargetMax,
      long perTargetHeap,
      long liveHeap) {}

  /** What a run keeps, reachable from a static field until the heap is measured without it. */
  private static final class Kept {
    DirtyTracker live;
    ChangeHistory history;
    RoaringBitmap[] perTarget;
  }

  private static Kept kept;

  private HistoryMemory() {}

  public static void main(String[] args) {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 48;
    System.out.printf(
        Locale.US,
        "1 TiB image, %d blocks of 64 KiB, %d rounds (at least 3 per target) of writes and one"
            + " sync each; bytes are"
            + " RoaringBitmap.getSizeInBytes (max over the last rounds), heap is measured after full"
            + " GCs at the end%n",
        BLOCKS,
        rounds);
    System.out.println(
        "| writes per round | targets | sets kept | history at rest | history during a sync"
            + " | history heap (GC) | per-target bitmaps | their heap (GC) | 32-bit stamp |");
    System.out.println("|---|---|---|---|---|---|---|---|---|");
    for (Pattern pattern : Pattern.values()) {
      for (int k : new int[] {1, 2, 8, 32}) {
        Figures f = run(pattern, k, Math.max(rounds, 3 * k));
        System.out.printf(
            Locale.US,
            "| %s | %d | %d | %s | %s | %s | %s | %s | %s |%n",
            pattern == Pattern.RANDOM_1_PERCENT
                ? "1% at random"
                : "every " + ordinal(k + 1) + " block",
            k,
            f.setsKept(),
            mib(f.historyAtRest()),
            mib(f.historyDuringSync()),
            mib(f.historyHeap()),
            mib(f.perTargetMax()),
            mib(f.perTargetHeap()),
            mib(4L * BLOCKS));
        System.out.printf(
            Locale.US, "  (live dirty set, the same in every design: %s)%n", mib(f.liveHeap()));
      }
    }
  }

  private static Figures run(Pattern pattern, int k, int rounds) {
    SplittableRandom random = new SplittableRandom(18 + k);
    DirtyTracker live = new DirtyTracker(GEOMETRY);
    ChangeHistory history = new ChangeHistory(GEOMETRY, ChangeHistory.Saved.of(0, 0, false));
    RoaringBitmap[] perTarget = new RoaringBitmap[k];
    long[] held = new long[k];
    for (int t = 0; t < k; t++) {
      perTarget[t] = new RoaringBitmap();
      held[t] = -1;
    }
    Instant now = Instant.parse("2026-12-01T00:00:00Z");
    long historyAtRest = 0;
    long historyDuringSync = 0;
    long perTargetMax = 0;
    int measureFrom = rounds - Math.max(2 * k, 8);
    for (int round = 0; round < rounds; round++) {
      write(live, pattern, k, round, random);
      int t = round % k;
      // TrackedImage.beginSync: seal the live set, what the target lacks from its generation on
      RoaringBitmap taken = live.take();
      long generation = history.seal(taken);
      RoaringBitmap lacks = history.since(held[t] < 0 ? history.horizon() : held[t]);
      for (RoaringBitmap set : perTarget) {
        set.or(taken);
      }
      if (held[t] >= 0 && !lacks.equals(perTarget[t])) {
        throw new IllegalStateException(
            "round "
                + round
                + ": the history sends "
                + lacks.getCardinality()
                + " blocks, the"
                + " target's own bitmap "
                + perTarget[t].getCardinality());
      }
      // the synced target is the one furthest behind: every other target's answer checked too
      for (int other = 0; other < k; other++) {
        if (held[other] >= 0 && !history.since(held[other]).equals(perTarget[other])) {
          throw new IllegalStateException(
              "round " + round + ": the history disagrees on target " + other);
        }
      }
      long during = keptBytes(history);
      long perTargetBytes = 0;
      for (RoaringBitmap set : perTarget) {
        perTargetBytes += set.getLongSizeInBytes();
      }
      // TrackedImage.commit: the target holds the generation
      history.commit("target-" + t, generation, now, MAX_AGE);
      perTarget[t] = new RoaringBitmap();
      held[t] = generation;
      now = now.plus(Duration.ofHours(1));
      if (round >= measureFrom) {
        historyDuringSync = Math.max(historyDuringSync, during);
        historyAtRest = Math.max(historyAtRest, keptBytes(history));
        perTargetMax = Math.max(perTargetMax, perTargetBytes);
      }
    }
    int setsKept = history.generationsKept();
    kept = new Kept();
    kept.live = live;
    kept.history = history;
    kept.perTarget = perTarget;
    live = null;
    history = null;
    perTarget = null;
    long all = usedHeap();
    kept.perTarget = null;
    long withoutPerTarget = usedHeap();
    kept.history = null;
    long withoutHistory = usedHeap();
    kept.live = null;
    long none = usedHeap();
    return new Figures(
        k,
        pattern,
        setsKept,
        historyAtRest,
        historyDuringSync,
        withoutPerTarget - withoutHistory,
        perTargetMax,
        all - withoutPerTarget,
        withoutHistory - none);
  }

  private static void write(
      DirtyTracker live, Pattern pattern, int k, int round, SplittableRandom random) {
    long block = GEOMETRY.blockSize();
    if (pattern == Pattern.RANDOM_1_PERCENT) {
      for (int i = 0; i < BLOCKS / 100; i++) {
        live.mark(random.nextInt(BLOCKS) * block, block);
      }
    } else {
      for (long b = round % (k + 1); b < BLOCKS; b += k + 1) {
        live.mark(b * block, block);
      }
    }
  }

  /** The kept sets' in-memory size (as saved: the same bitmaps, cloned). */
  private static long keptBytes(ChangeHistory history) {
    long bytes = 0;
    for (DirtySet set : history.save().changedIn().values()) {
      bytes += set.toBitmap().getLongSizeInBytes();
    }
    return bytes;
  }

  /** The heap in use after full collections (precise under -XX:+UseSerialGC). */
  private static long usedHeap() {
    Runtime rt = Runtime.getRuntime();
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 4; i++) {
      System.gc();
      used = Math.min(used, rt.totalMemory() - rt.freeMemory());
    }
    return used;
  }

  private static String ordinal(int n) {
    String suffix =
        n % 10 == 1 && n != 11
            ? "st"
            : n % 10 == 2 && n != 12 ? "nd" : n % 10 == 3 && n != 13 ? "rd" : "th";
    return n + suffix;
  }

  private static String mib(long bytes) {
    return String.format(Locale.US, "%.2f MiB", bytes / (double) (1 << 20));
  }
}
