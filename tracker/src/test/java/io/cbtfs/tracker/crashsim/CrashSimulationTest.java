package io.cbtfs.tracker.crashsim;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.ActivityLog;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.Drain;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.StateIo;
import io.cbtfs.tracker.StateRecovery;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerState;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.UUID;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Power loss, not only kill -9 (in the manner of ALICE and CrashMonkey): a seeded workload drives
 * the real tracker (image writes through its write path, failed and committed syncs, clean unmounts
 * and remounts) over a {@link SimulatedDisk}; every state a crash may leave at every moment is
 * rebuilt ({@link CrashStates}) and recovered, and checked: every block whose image write may have
 * reached the disk is dirty, unless a target had acknowledged it since, or recovery demands a
 * verified sync (which compares every block with the target). Each crash state is also checked with
 * one bit of its newest activity-log slot flipped (rot, which a torn write cannot be told from).
 * Deliberately broken variants show that the checker catches a wrong order or a damaged slot
 * ignored.
 */
class CrashSimulationTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);
  private static final String NAME = "vm.img";

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

  /** An image write whose intent is durable: from here its bytes may be on disk. */
  record ImageWrite(BitSet blocks) {}

  /** A target acknowledged these blocks (their data as of the drain). */
  record Commit(BitSet blocks, long generation) {}

  /**
   * @param verified states whose recovery demands a verified sync
   * @param flipped states with one bit of the newest activity-log slot flipped (rot after it was
   *     durable), beside the states a crash leaves
   * @param flippedViolations of those, the ones that lose a change
   */
  record Outcome(
      long states,
      long violations,
      String firstViolation,
      long verified,
      long flipped,
      long flippedViolations) {}

  @Test
  void everyCrashStateRecoversEveryChange() throws IOException {
    long states = 0;
    long violations = 0;
    long flipped = 0;
    long started = System.nanoTime();
    for (long seed = 1; seed <= 8; seed++) {
      Outcome o = explore(SMALL, seed, io -> io, crash -> crash);
      states += o.states();
      violations += o.violations();
      flipped += o.flipped();
      assertThat(o.firstViolation()).as("seed %d", seed).isNull();
      // slots here are never torn: only a flipped bit may ask for a verified sync
      assertThat(o.verified()).as("seed %d: verified syncs", seed).isLessThanOrEqualTo(o.flipped());
    }
    long wideVerified = 0;
    for (long seed = 1; seed <= 4; seed++) {
      Outcome o = explore(WIDE, seed, io -> io, crash -> crash);
      states += o.states();
      violations += o.violations();
      flipped += o.flipped();
      wideVerified += o.verified();
      assertThat(o.firstViolation()).as("wide, seed %d", seed).isNull();
    }
    System.out.printf(
        "crash simulation: %d crash states explored (%d with a bit of the newest activity-log slot"
            + " flipped; %d recoveries with large hot sets demanding a verified sync), %d"
            + " violations, %.1f s%n",
        states, flipped, wideVerified, violations, (System.nanoTime() - started) / 1e9);
    assertThat(states).isGreaterThan(3000);
    assertThat(flipped).isGreaterThan(1000);
    assertThat(violations).isZero();
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
                new Forwarding(io) {
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
                new Forwarding(io) {
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
    workload(config, seed, disk, io, stateDir);
    List<SimulatedDisk.Snapshot> snapshots = disk.snapshots();
    List<Object> events = disk.events();
    Random rnd = new Random(seed * 1_000_003);
    Random flips = new Random(seed * 7_919); // apart: the crash states stay those of before
    long[] counts = new long[5]; // states, violations, verified, flipped, flipped violations
    String[] first = {null};
    for (SimulatedDisk.Snapshot s : snapshots) {
      BitSet mustBeDirty = truth(events.subList(0, s.eventCount()));
      long held = held(events.subList(0, s.eventCount()));
      for (Map<String, byte[]> crash : CrashStates.of(s, 16, rnd)) {
        Map<String, byte[]> flippedCrash = flipNewestSlot(crash, stateDir, flips);
        for (Map<String, byte[]> state :
            flippedCrash == null ? List.of(crash) : List.of(crash, flippedCrash)) {
          boolean flipped = state == flippedCrash;
          counts[0]++;
          counts[3] += flipped ? 1 : 0;
          Check c = check(view.apply(state), stateDir, mustBeDirty, held);
          counts[2] += c.verified() ? 1 : 0;
          if (c.problem() != null) {
            counts[1]++;
            counts[4] += flipped ? 1 : 0;
            if (first[0] == null) {
              first[0] = (flipped ? "(a bit flipped) " : "") + c.problem();
            }
          }
        }
      }
    }
    return new Outcome(counts[0], counts[1], first[0], counts[2], counts[3], counts[4]);
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

  /** The generation the target holds: its last acknowledgement's (-1: nothing yet). */
  private static long held(List<Object> events) {
    long held = -1;
    for (Object e : events) {
      if (e instanceof Commit c) {
        held = c.generation();
      }
    }
    return held;
  }

  /** Blocks written (intent durable) and not acknowledged by a target since. */
  private static BitSet truth(List<Object> events) {
    BitSet dirty = new BitSet();
    for (Object e : events) {
      if (e instanceof ImageWrite w) {
        dirty.or(w.blocks());
      } else if (e instanceof Commit c) {
        dirty.andNot(c.blocks());
      }
    }
    return dirty;
  }

  /** What recovery of one crash state made: a problem (null if none), a verified sync asked. */
  record Check(String problem, boolean verified) {}

  /**
   * Recovers one crash state: every block that may have changed must be dirty, unless recovery
   * demands a verified sync (which compares every block with the target).
   */
  private static Check check(
      Map<String, byte[]> crash, Path stateDir, BitSet mustBeDirty, long held) throws IOException {
    Optional<StateRecovery.Recovered> recovered;
    try {
      recovered = StateRecovery.recover(CrashStates.reader(crash), stateDir, NAME);
    } catch (CbtfsException e) {
      return new Check("recovery refused: " + e.getMessage(), false);
    }
    if (recovered.isEmpty()) {
      return new Check(
          mustBeDirty.isEmpty()
              ? null
              : "no state file, but blocks " + mustBeDirty + " may have changed",
          false);
    }
    if (held < 0) {
      return new Check(null, false); // the target holds nothing: its first sync sends every block
    }
    io.cbtfs.tracker.DirtySet lacks = recovered.get().lacks(held);
    if (lacks == null) {
      return new Check(null, true);
    }
    BitSet lost = (BitSet) mustBeDirty.clone();
    lacks.forEachBlock(lost::clear);
    return new Check(
        lost.isEmpty() ? null : "blocks " + lost + " may have changed but are not dirty", false);
  }

  /**
   * The seeded workload: image writes through the tracker's write path (mostly small, sometimes
   * bulk like a truncate), syncs that fail or commit, clean unmounts and remounts.
   */
  private static void workload(
      Config config, long seed, SimulatedDisk disk, StateIo io, Path stateDir) throws IOException {
    Random rnd = new Random(seed);
    long imageBytes = config.imageBytes();
    TrackerStore store = TrackerStore.open(stateDir, config.options(), io);
    TrackedImage image = store.image(NAME, config.fingerprint());
    long held = -1; // the generation the target holds
    for (int op = 0; op < 200; op++) {
      int r = rnd.nextInt(100);
      if (r < 80) {
        long len = rnd.nextInt(40) == 0 ? 1 + rnd.nextInt(2 << 20) : 1 + rnd.nextInt(12_000);
        long off = (long) (rnd.nextDouble() * (imageBytes - len));
        image.beforeWrite(off, len);
        BitSet blocks = new BitSet();
        blocks.set((int) G.blockIndex(off), (int) G.blockIndex(off + len - 1) + 1);
        disk.event(new ImageWrite(blocks));
        image.afterWrite(off, len);
      } else if (r < 93) {
        try (Drain drain = image.beginSync("file:/target", held)) {
          if (rnd.nextBoolean()) {
            BitSet taken = new BitSet();
            drain.blocks().forEachBlock(taken::set);
            disk.event(new Commit(taken, drain.generation())); // the target acknowledged
            held = drain.generation();
            image.commit(drain, Long.MAX_VALUE);
          }
        }
      } else {
        store.closeClean(Map.of(NAME, config.fingerprint())); // clean unmount, then a new mount
        store = TrackerStore.open(stateDir, config.options(), io);
        image = store.image(NAME, config.fingerprint());
      }
    }
    store.close();
  }

  /** A {@link StateIo} that forwards everything; variants override what they break. */
  private static class Forwarding implements StateIo {
    private final StateIo inner;

    Forwarding(StateIo inner) {
      this.inner = inner;
    }

    @Override
    public byte[] read(Path file) throws IOException {
      return inner.read(file);
    }

    @Override
    public boolean exists(Path file) throws IOException {
      return inner.exists(file);
    }

    @Override
    public void write(Path file, byte[] bytes) throws IOException {
      inner.write(file, bytes);
    }

    @Override
    public void writeAt(Path file, long position, byte[] bytes) throws IOException {
      inner.writeAt(file, position, bytes);
    }

    @Override
    public void fsync(Path file, boolean dataOnly) throws IOException {
      inner.fsync(file, dataOnly);
    }

    @Override
    public void rename(Path from, Path to) throws IOException {
      inner.rename(from, to);
    }

    @Override
    public void delete(Path file) throws IOException {
      inner.delete(file);
    }

    @Override
    public void fsyncDirectory(Path dir) throws IOException {
      inner.fsyncDirectory(dir);
    }
  }
}
