package io.cbtfs.tracker.crashsim;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.ActivityLog;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.ChangeHistory;
import io.cbtfs.tracker.Cursor;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.Drain;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.ForwardingStateIo;
import io.cbtfs.tracker.StateIo;
import io.cbtfs.tracker.StateRecovery;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerState;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Power loss, not only kill -9 (in the manner of ALICE and CrashMonkey): a seeded workload drives
 * the real tracker over a {@link SimulatedDisk} with three targets, each its own cursor: image
 * writes through its write path, syncs to a random target that fail before it holds anything, fail
 * after it already holds the new generation (its acknowledgement lost), or commit; a target
 * forgotten (and sometimes emptied), cursors aging past their maximum age on an injected clock,
 * clean unmounts and remounts. Every state a crash may leave at every moment is rebuilt ({@link
 * CrashStates}) and recovered, and checked for every target against {@link TargetTruth}: each block
 * whose image write may have reached the disk after the data the target holds was read must be in
 * what recovery says the target lacks ({@link StateRecovery.Recovered#lacks}) at the generation the
 * target holds, unless that sync compares every block (lacks is null: counted apart); and that
 * generation must be recorded as issued, or a crash would let it be issued again for other
 * contents. A target that holds nothing is sent every block. Each crash state is also checked with
 * one bit of its newest activity-log slot flipped (rot, which a torn write cannot be told from).
 * Deliberately broken variants show that the checker catches a wrong order, a damaged slot ignored,
 * and a saved history that narrows what a target is sent.
 */
class CrashSimulationTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);
  private static final String NAME = "vm.img";

  /**
   * The targets, named as {@code Target.describe()} would: non-ASCII, a space, a tab, quotes, a
   * NUL, a 4-byte UTF-8 character and a name longer than a file name.
   */
  private static final List<String> TARGETS =
      List.of(
          "file:/srv/r\u00e9pliques/vm 1.img",
          "archive:/mnt/\u2603/back%20up\t\"q\"\u0000",
          "s3://b\u00fccket/\ud83d\udcbe/" + "k".repeat(300));

  /** A cursor unused this long stops holding history. */
  private static final Duration MAX_AGE = Duration.ofHours(24);

  /** The image and the tracking a workload runs with. */
  record Config(long imageBytes, TrackingOptions options) {
    Fingerprint fingerprint() {
      return new Fingerprint(imageBytes, 1, 1, 1);
    }
  }

  /** 128 extents of 64 KiB, 16 hot at most: slots of at most 176 bytes, never torn. */
  private static final Config SMALL =
      new Config(8L << 20, new TrackingOptions(G, 64 << 10, 16, false));

  /**
   * 512 extents, 64 hot: slots of up to 560 bytes that cross a sector boundary, so a crash tears
   * them.
   */
  private static final Config WIDE =
      new Config(32L << 20, new TrackingOptions(G, 64 << 10, 64, false));

  @TempDir Path dir;

  /**
   * What the checks of one workload found.
   *
   * @param checks (crash state, target) pairs checked where the target holds a generation
   * @param covered of those, the ones whose recovered history names every block the target lacks
   * @param comparedByHistory of those, the ones whose next sync compares every block because the
   *     history does not answer for the target's generation (behind the horizon: aged or forgotten;
   *     or below verify-below)
   * @param comparedAfterDamage of those, the ones whose next sync compares every block because
   *     recovery found a damaged activity log
   * @param holdsNothing (crash state, target) pairs where the target holds nothing (sent all)
   * @param verifiedRecoveries states whose recovery itself demands a verified sync (damaged log)
   * @param flipped states with one bit of the newest activity-log slot flipped (rot after it was
   *     durable), beside the states a crash leaves
   * @param flippedViolations of those, the ones that lose a change
   * @param live the workload's own violations: a sync from the target's generation not sent a block
   *     the target lacks (found without a crash)
   */
  record Outcome(
      long states,
      long violations,
      String firstViolation,
      long checks,
      long covered,
      long comparedByHistory,
      long comparedAfterDamage,
      long holdsNothing,
      long verifiedRecoveries,
      long flipped,
      long flippedViolations,
      long live) {

    Outcome plus(Outcome o) {
      return new Outcome(
          states + o.states,
          violations + o.violations,
          firstViolation != null ? firstViolation : o.firstViolation,
          checks + o.checks,
          covered + o.covered,
          comparedByHistory + o.comparedByHistory,
          comparedAfterDamage + o.comparedAfterDamage,
          holdsNothing + o.holdsNothing,
          verifiedRecoveries + o.verifiedRecoveries,
          flipped + o.flipped,
          flippedViolations + o.flippedViolations,
          live + o.live);
    }
  }

  private static final Outcome NONE = new Outcome(0, 0, null, 0, 0, 0, 0, 0, 0, 0, 0, 0);

  @Test
  void everyCrashStateRecoversEveryChangeForEveryTarget() throws IOException {
    Outcome all = NONE;
    long started = System.nanoTime();
    for (long seed = 1; seed <= 8; seed++) {
      Outcome o = explore(SMALL, seed, io -> io, crash -> crash);
      all = all.plus(o);
      assertThat(o.firstViolation()).as("seed %d", seed).isNull();
      // slots here are never torn: only a flipped bit may ask for a verified sync
      assertThat(o.verifiedRecoveries())
          .as("seed %d: recoveries demanding a verified sync", seed)
          .isLessThanOrEqualTo(o.flipped());
    }
    long wideVerified = 0;
    for (long seed = 1; seed <= 4; seed++) {
      Outcome o = explore(WIDE, seed, io -> io, crash -> crash);
      all = all.plus(o);
      wideVerified += o.verifiedRecoveries();
      assertThat(o.firstViolation()).as("wide, seed %d", seed).isNull();
    }
    System.out.printf(
        "crash simulation, %d targets: %d crash states explored (%d with a bit of the newest"
            + " activity-log slot flipped; %d recoveries with large hot sets demanding a verified"
            + " sync); %d target checks: %d covered by the recovered history, %d compared as the"
            + " history does not reach them (aged, forgotten, verify-below), %d compared after a"
            + " damaged log, %d targets holding nothing; %d violations, %.1f s%n",
        TARGETS.size(),
        all.states(),
        all.flipped(),
        wideVerified,
        all.checks() + all.holdsNothing(),
        all.covered(),
        all.comparedByHistory(),
        all.comparedAfterDamage(),
        all.holdsNothing(),
        all.violations() + all.live(),
        (System.nanoTime() - started) / 1e9);
    assertThat(all.states()).isGreaterThan(3000);
    assertThat(all.flipped()).isGreaterThan(1000);
    // the history answered for most targets it could, and some were behind it (aged, forgotten)
    assertThat(all.covered()).isGreaterThan(all.comparedByHistory());
    assertThat(all.comparedByHistory()).isPositive();
    assertThat(all.violations()).isZero();
    assertThat(all.live()).isZero();
  }

  /**
   * The recovery of before: a damaged slot read as one never written, the other slot trusted and no
   * verified sync asked for. A flipped bit in the newest slot then loses the writes into the extent
   * it added.
   */
  @Test
  void ignoringADamagedSlotIsCaught() throws IOException {
    Outcome o = explore(SMALL, 1, io -> io, CrashSimulationTest::blankDamagedSlots);
    System.out.printf(
        "mutant ignoring damaged activity-log slots: %d of %d states with a flipped bit lose"
            + " changes (%d of %d states in all)%n",
        o.flippedViolations(), o.flipped(), o.violations(), o.states());
    assertThat(o.flippedViolations()).isPositive();
  }

  @Test
  void droppingTheActivityLogsFdatasyncIsCaught() throws IOException {
    Outcome o =
        explore(
            SMALL,
            1,
            io ->
                new ForwardingStateIo(io) {
                  @Override
                  public void fsync(Path file, boolean dataOnly) throws IOException {
                    if (!file.toString().endsWith(".alog")) {
                      super.fsync(file, dataOnly);
                    }
                  }
                },
            crash -> crash);
    System.out.printf(
        "mutant without the log's fdatasync: %d of %d crash states lose changes%n",
        o.violations(), o.states());
    assertThat(o.violations()).isPositive();
  }

  @Test
  void writingTheBitmapInPlaceIsCaught() throws IOException {
    Outcome o =
        explore(
            SMALL,
            1,
            io ->
                new ForwardingStateIo(io) {
                  @Override
                  public void write(Path file, byte[] bytes) throws IOException {
                    super.write(finalName(file), bytes); // straight over the live state file
                  }

                  @Override
                  public void fsync(Path file, boolean dataOnly) throws IOException {
                    if (!file.toString().endsWith(".tmp")) {
                      super.fsync(file, dataOnly);
                    }
                  }

                  @Override
                  public void rename(Path from, Path to) throws IOException {
                    if (!from.toString().endsWith(".tmp")) {
                      super.rename(from, to);
                    }
                  }

                  private Path finalName(Path file) {
                    String s = file.toString();
                    return s.endsWith(".tmp") ? Path.of(s.substring(0, s.length() - 4)) : file;
                  }
                },
            crash -> crash);
    System.out.printf(
        "mutant writing the bitmap in place: %d of %d crash states fail%n",
        o.violations(), o.states());
    assertThat(o.violations()).isPositive();
  }

  /**
   * A compaction that merges the newest set into the one before it instead of the next: its blocks
   * get an older generation (a stamp lowered), so a target between the two is not sent them. Saved
   * that way on its way to disk; read back at a remount, the live tracker gets it wrong too.
   */
  @Test
  void aHistoryMergedDownwardIsCaught() throws IOException {
    Outcome o = mutantHistory(CrashSimulationTest::mergeNewestDownward);
    System.out.printf(
        "mutant merging the newest set into the previous generation: %d of %d crash states lose"
            + " changes of some target, %d syncs without a crash miss blocks%n",
        o.violations(), o.states(), o.live());
    assertThat(o.violations()).isPositive();
  }

  /**
   * A prune that drops one generation too many: the oldest set goes while the horizon stays, so the
   * target at the horizon passes for holding its blocks.
   */
  @Test
  void aHistoryPrunedOneGenerationTooFarIsCaught() throws IOException {
    Outcome o = mutantHistory(CrashSimulationTest::dropOldestSet);
    System.out.printf(
        "mutant pruning one generation too many: %d of %d crash states lose changes of some"
            + " target, %d syncs without a crash miss blocks%n",
        o.violations(), o.states(), o.live());
    assertThat(o.violations()).isPositive();
  }

  private Outcome mutantHistory(UnaryOperator<ChangeHistory.Saved> mutation) throws IOException {
    Outcome all = NONE;
    for (long seed = 1; seed <= 2; seed++) {
      all = all.plus(explore(SMALL, seed, io -> new RewritingHistory(io, mutation), c -> c));
    }
    return all;
  }

  private static ChangeHistory.Saved mergeNewestDownward(ChangeHistory.Saved h) {
    if (h.changedIn().size() < 2) {
      return h;
    }
    TreeMap<Long, DirtySet> sets = new TreeMap<>(h.changedIn());
    Map.Entry<Long, DirtySet> newest = sets.pollLastEntry();
    sets.merge(sets.lastKey(), newest.getValue(), DirtySet::union);
    return new ChangeHistory.Saved(h.issued(), h.horizon(), h.verifyBelow(), sets, h.cursors());
  }

  /**
   * The state of format version 1, which saved no issued generation: the highest number the state
   * records is that of a set or a cursor. A sync whose drain took nothing then reaches its target
   * with a number that a crash lets the tracker issue again for other contents.
   */
  @Test
  void aStateWithoutTheIssuedGenerationIsCaught() throws IOException {
    Outcome o = mutantHistory(CrashSimulationTest::forgetIssued);
    System.out.printf(
        "mutant saving no issued generation: %d of %d crash states let a generation a target"
            + " holds be issued again%n",
        o.violations(), o.states());
    assertThat(o.violations()).isPositive();
  }

  private static ChangeHistory.Saved forgetIssued(ChangeHistory.Saved h) {
    long recorded = h.changedIn().isEmpty() ? h.horizon() : h.changedIn().lastKey();
    for (Cursor c : h.cursors()) {
      recorded = Math.max(recorded, c.generation());
    }
    return new ChangeHistory.Saved(
        recorded, h.horizon(), Math.min(h.verifyBelow(), recorded + 1), h.changedIn(), h.cursors());
  }

  private static ChangeHistory.Saved dropOldestSet(ChangeHistory.Saved h) {
    TreeMap<Long, DirtySet> sets = new TreeMap<>(h.changedIn());
    sets.pollFirstEntry();
    return new ChangeHistory.Saved(h.issued(), h.horizon(), h.verifyBelow(), sets, h.cursors());
  }

  /**
   * Runs the workload over a simulated disk (wrapped by {@code variant}), then checks every crash
   * state, and a copy of it with one bit of the newest activity-log slot flipped, as {@code view}
   * presents it to recovery.
   */
  private Outcome explore(
      Config config,
      long seed,
      UnaryOperator<StateIo> variant,
      UnaryOperator<Map<String, byte[]>> view)
      throws IOException {
    SimulatedDisk disk = new SimulatedDisk();
    StateIo io = variant.apply(disk);
    Path stateDir = dir.resolve("state-" + seed + "-" + System.nanoTime());
    List<String> live = workload(config, seed, disk, io, stateDir);
    List<SimulatedDisk.Snapshot> snapshots = disk.snapshots();
    List<Object> events = disk.events();
    Random rnd = new Random(seed * 1_000_003);
    Random flips = new Random(seed * 7_919); // apart: the crash states stay those of before
    Tally tally = new Tally();
    TargetTruth truth = new TargetTruth(TARGETS.size());
    int applied = 0;
    for (SimulatedDisk.Snapshot s : snapshots) {
      while (applied < s.eventCount()) {
        truth.apply(events.get(applied++));
      }
      for (Map<String, byte[]> crash : CrashStates.of(s, 16, rnd)) {
        Map<String, byte[]> flippedCrash = flipNewestSlot(crash, stateDir, flips);
        for (Map<String, byte[]> state :
            flippedCrash == null ? List.of(crash) : List.of(crash, flippedCrash)) {
          tally.check(view.apply(state), stateDir, truth, state == flippedCrash);
        }
      }
    }
    if (!live.isEmpty() && tally.first == null) {
      tally.first = live.get(0);
    }
    return tally.outcome(live.size());
  }

  /** The counts of one workload's checks. */
  private static final class Tally {
    long states;
    long violations;
    String first;
    long checks;
    long covered;
    long comparedByHistory;
    long comparedAfterDamage;
    long holdsNothing;
    long verifiedRecoveries;
    long flipped;
    long flippedViolations;

    Outcome outcome(long live) {
      return new Outcome(
          states,
          violations,
          first,
          checks,
          covered,
          comparedByHistory,
          comparedAfterDamage,
          holdsNothing,
          verifiedRecoveries,
          flipped,
          flippedViolations,
          live);
    }

    /**
     * Recovers one crash state and checks every target: each block that may differ from what the
     * target holds must be in what it lacks at its generation, unless its next sync compares every
     * block.
     */
    void check(Map<String, byte[]> crash, Path stateDir, TargetTruth truth, boolean isFlipped)
        throws IOException {
      states++;
      flipped += isFlipped ? 1 : 0;
      String problem = problem(crash, stateDir, truth);
      if (problem != null) {
        violations++;
        flippedViolations += isFlipped ? 1 : 0;
        if (first == null) {
          first = (isFlipped ? "(a bit flipped) " : "") + problem;
        }
      }
    }

    private String problem(Map<String, byte[]> crash, Path stateDir, TargetTruth truth)
        throws IOException {
      Optional<StateRecovery.Recovered> recovered;
      try {
        recovered = StateRecovery.recover(CrashStates.reader(crash), stateDir, NAME);
      } catch (CbtfsException e) {
        return "recovery refused: " + e.getMessage();
      }
      if (recovered.isEmpty()) {
        BitSet changed = truth.changedForAny();
        return changed.isEmpty() ? null : "no state file, but blocks " + changed + " changed";
      }
      verifiedRecoveries += recovered.get().recovery().requiresVerifiedSync() ? 1 : 0;
      String problem = null;
      for (int t = 0; t < truth.targets(); t++) {
        long held = truth.held(t);
        if (held < 0) {
          holdsNothing++; // its first sync sends every block
          continue;
        }
        checks++;
        if (held > recovered.get().history().issued()) {
          problem =
              problem != null
                  ? problem
                  : "target "
                      + t
                      + " holds generation "
                      + held
                      + ", which the state does not record as issued: it could be issued again"
                      + " for other contents";
          continue;
        }
        DirtySet lacks = recovered.get().lacks(held);
        if (lacks == null) {
          if (recovered.get().recovery().requiresVerifiedSync()) {
            comparedAfterDamage++;
          } else {
            comparedByHistory++; // behind the horizon (aged, forgotten) or below verify-below
          }
          continue;
        }
        BitSet lost = truth.changed(t);
        lacks.forEachBlock(lost::clear);
        if (lost.isEmpty()) {
          covered++;
        } else if (problem == null) {
          problem =
              "target "
                  + t
                  + " at generation "
                  + held
                  + ": blocks "
                  + lost
                  + " may have changed but are not in what it lacks";
        }
      }
      return problem;
    }
  }

  /**
   * A copy of {@code crash} with one bit of its newest valid activity-log slot flipped (in the hot
   * list where it has one), or null if the log has no valid slot, or a damaged one already.
   */
  private static Map<String, byte[]> flipNewestSlot(
      Map<String, byte[]> crash, Path stateDir, Random rnd) {
    byte[] log = crash.get(stateDir.resolve(NAME + ".alog").toString());
    byte[] state = crash.get(stateDir.resolve(NAME + ".cbt").toString());
    if (log == null || state == null) {
      return null;
    }
    UUID lineage;
    try {
      lineage = TrackerState.decode(state, "crash state").lineage();
    } catch (CbtfsException e) {
      return null;
    }
    Optional<ActivityLog.Contents> newest = ActivityLog.read(log, lineage);
    if (newest.isEmpty() || newest.get().damagedSlot()) {
      return null; // rot on top of a torn slot leaves no valid one: refused, as documented
    }
    int slot = (int) (newest.get().sequence() & 1) * (log.length / 2);
    int hot = 8 * newest.get().extents().length;
    int at =
        hot > 0
            ? slot + ActivityLog.SLOT_HEADER_BYTES + rnd.nextInt(hot)
            : slot + rnd.nextInt(ActivityLog.SLOT_HEADER_BYTES + 4);
    byte[] rotten = log.clone();
    rotten[at] ^= (byte) (1 << rnd.nextInt(8));
    Map<String, byte[]> copy = new HashMap<>(crash);
    copy.put(stateDir.resolve(NAME + ".alog").toString(), rotten);
    return copy;
  }

  /** The mutant's view: every activity-log slot that is not valid reads as never written. */
  private static Map<String, byte[]> blankDamagedSlots(Map<String, byte[]> crash) {
    Map<String, byte[]> copy = new HashMap<>(crash);
    copy.replaceAll(
        (name, bytes) -> {
          if (!name.endsWith(".alog")) {
            return bytes;
          }
          byte[] state = crash.get(name.substring(0, name.length() - 5) + ".cbt");
          UUID lineage;
          try {
            lineage = TrackerState.decode(state, "crash state").lineage();
          } catch (CbtfsException | NullPointerException e) {
            return bytes;
          }
          byte[] out = bytes.clone();
          int half = bytes.length / 2;
          for (int from : new int[] {0, half}) {
            byte[] alone = new byte[bytes.length];
            System.arraycopy(bytes, from, alone, from, half);
            if (ActivityLog.read(alone, lineage).isEmpty()) {
              Arrays.fill(out, from, from + half, (byte) 0);
            }
          }
          return out;
        });
    return copy;
  }

  /**
   * The seeded workload: image writes through the tracker's write path (mostly small, sometimes
   * bulk like a truncate, now and then struck by an error so that every target must verify), syncs
   * to a random target that fail before it holds anything, fail after it holds the generation
   * (acknowledgement lost) or commit; a target forgotten (and sometimes emptied, to be added
   * again); time passing, sometimes past the cursors' age; clean unmounts and remounts. A sync
   * starts from the generation the target holds, as the syncer does.
   *
   * @return what went wrong without a crash: a sync not sent a block its target lacks
   */
  private static List<String> workload(
      Config config, long seed, SimulatedDisk disk, StateIo io, Path stateDir) throws IOException {
    Random rnd = new Random(seed);
    long imageBytes = config.imageBytes();
    AdvancingClock clock = new AdvancingClock(Instant.parse("2026-01-01T00:00:00Z"));
    TrackingOptions options =
        config.options().withCursors(new TrackingOptions.Cursors(MAX_AGE, clock));
    TargetTruth truth = new TargetTruth(TARGETS.size());
    List<String> live = new ArrayList<>();
    TrackerStore store = TrackerStore.open(stateDir, options, io);
    TrackedImage image = store.image(NAME, config.fingerprint());
    for (int op = 0; op < 300; op++) {
      clock.advance(Duration.ofMinutes(rnd.nextInt(60)));
      int r = rnd.nextInt(100);
      if (r < 70) {
        long len = rnd.nextInt(40) == 0 ? 1 + rnd.nextInt(2 << 20) : 1 + rnd.nextInt(12_000);
        long off = (long) (rnd.nextDouble() * (imageBytes - len));
        image.beforeWrite(off, len);
        BitSet blocks = new BitSet();
        blocks.set((int) G.blockIndex(off), (int) G.blockIndex(off + len - 1) + 1);
        event(disk, truth, new TargetTruth.ImageWrite(blocks));
        if (rnd.nextInt(500) == 0) {
          image.requireVerifiedSync(); // an Error in the write path: its bit is not trusted
        }
        image.afterWrite(off, len);
      } else if (r < 88) {
        int t = rnd.nextInt(TARGETS.size());
        try (Drain drain = image.beginSync(TARGETS.get(t), truth.held(t))) {
          BitSet taken = new BitSet();
          drain.blocks().forEachBlock(taken::set);
          boolean incremental = drain.basis() == Drain.Basis.HISTORY;
          if (incremental) {
            BitSet missed = truth.changed(t);
            missed.andNot(taken);
            if (!missed.isEmpty()) {
              live.add(
                  "op "
                      + op
                      + ": a sync of target "
                      + t
                      + " from generation "
                      + truth.held(t)
                      + " misses blocks "
                      + missed);
            }
          }
          int outcome = rnd.nextInt(4); // 0: fails first; 1: fails after the target has it
          if (outcome >= 1) {
            // a compared (or first) sync leaves the target equal to the image
            event(
                disk,
                truth,
                new TargetTruth.Holds(t, drain.generation(), incremental ? taken : null));
          }
          if (outcome >= 2) {
            image.commit(drain, Long.MAX_VALUE);
          }
        }
      } else if (r < 91) {
        int t = rnd.nextInt(TARGETS.size());
        image.forget(TARGETS.get(t));
        if (rnd.nextBoolean()) {
          event(disk, truth, new TargetTruth.Wiped(t)); // removed, to be added again
        }
      } else if (r < 92) {
        clock.advance(MAX_AGE.plusHours(rnd.nextInt(24))); // a long pause: every cursor ages
      } else {
        store.closeClean(Map.of(NAME, config.fingerprint())); // clean unmount, then a new mount
        store = TrackerStore.open(stateDir, options, io);
        image = store.image(NAME, config.fingerprint());
        for (TrackedImage.TargetLag lag : image.targets()) {
          if (!TARGETS.contains(lag.cursor().target())) {
            live.add("op " + op + ": a cursor read back as " + lag.cursor().target());
          }
        }
      }
    }
    store.close();
    return live;
  }

  private static void event(SimulatedDisk disk, TargetTruth truth, Object e) {
    disk.event(e);
    truth.apply(e);
  }

  /**
   * The history mutants: every state file is rewritten on its way to disk with its history changed
   * by {@code mutation} (the tracker in memory stays right until it reads the file back).
   */
  private static final class RewritingHistory extends ForwardingStateIo {
    private final UnaryOperator<ChangeHistory.Saved> mutation;

    RewritingHistory(StateIo inner, UnaryOperator<ChangeHistory.Saved> mutation) {
      super(inner);
      this.mutation = mutation;
    }

    @Override
    public void write(Path file, byte[] bytes) throws IOException {
      if (file.toString().endsWith(".cbt.tmp")) {
        TrackerState s = TrackerState.decode(bytes, file.toString());
        bytes =
            new TrackerState(
                    s.lineage(),
                    s.geometry(),
                    s.imageSize(),
                    s.clean(),
                    s.fingerprint(),
                    s.dirty(),
                    mutation.apply(s.history()))
                .encode();
      }
      super.write(file, bytes);
    }
  }
}
