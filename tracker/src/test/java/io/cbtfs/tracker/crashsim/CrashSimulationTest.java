package io.cbtfs.tracker.crashsim;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.Drain;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.StateIo;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Power loss, not only kill -9 (in the manner of ALICE and CrashMonkey): a seeded workload drives
 * the real tracker (image writes through its write path, failed and committed syncs, clean unmounts
 * and remounts) over a {@link SimulatedDisk}; every state a crash may leave at every moment is
 * rebuilt ({@link CrashStates}) and recovered, and checked: every block whose image write may have
 * reached the disk is dirty, unless a target had acknowledged it since. Two deliberately broken
 * variants show that the checker catches a wrong order.
 */
class CrashSimulationTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);
  private static final long IMAGE = 8L << 20; // 128 extents of 64 KiB, 16 hot at most
  private static final TrackingOptions OPTIONS = new TrackingOptions(G, 64 << 10, 16, false);
  private static final Fingerprint FP = new Fingerprint(IMAGE, 1, 1, 1);
  private static final String NAME = "vm.img";

  @TempDir Path dir;

  /** An image write whose intent is durable: from here its bytes may be on disk. */
  record ImageWrite(BitSet blocks) {}

  /** A target acknowledged these blocks (their data as of the drain). */
  record Commit(BitSet blocks) {}

  record Outcome(long states, long violations, String firstViolation) {}

  @Test
  void everyCrashStateRecoversEveryChange() throws IOException {
    long states = 0;
    long violations = 0;
    long started = System.nanoTime();
    for (long seed = 1; seed <= 8; seed++) {
      Outcome o = explore(seed, io -> io);
      states += o.states();
      violations += o.violations();
      assertThat(o.firstViolation()).as("seed %d", seed).isNull();
    }
    System.out.printf(
        "crash simulation: %d crash states explored, %d violations, %.1f s%n",
        states, violations, (System.nanoTime() - started) / 1e9);
    assertThat(states).isGreaterThan(3000);
    assertThat(violations).isZero();
  }

  @Test
  void droppingTheActivityLogsFdatasyncIsCaught() throws IOException {
    Outcome o =
        explore(
            1,
            io ->
                new Forwarding(io) {
                  @Override
                  public void fsync(Path file, boolean dataOnly) throws IOException {
                    if (!file.toString().endsWith(".alog")) {
                      super.fsync(file, dataOnly);
                    }
                  }
                });
    System.out.printf(
        "mutant without the log's fdatasync: %d of %d crash states lose changes%n",
        o.violations(), o.states());
    assertThat(o.violations()).isPositive();
  }

  @Test
  void writingTheBitmapInPlaceIsCaught() throws IOException {
    Outcome o =
        explore(
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
                });
    System.out.printf(
        "mutant writing the bitmap in place: %d of %d crash states fail%n",
        o.violations(), o.states());
    assertThat(o.violations()).isPositive();
  }

  /** Runs the workload over a simulated disk (wrapped by {@code variant}), then checks. */
  private Outcome explore(long seed, UnaryOperator<StateIo> variant) throws IOException {
    SimulatedDisk disk = new SimulatedDisk();
    StateIo io = variant.apply(disk);
    Path stateDir = dir.resolve("state-" + seed + "-" + System.nanoTime());
    workload(seed, disk, io, stateDir);
    List<SimulatedDisk.Snapshot> snapshots = disk.snapshots();
    List<Object> events = disk.events();
    Random rnd = new Random(seed * 1_000_003);
    long states = 0;
    long violations = 0;
    String first = null;
    for (SimulatedDisk.Snapshot s : snapshots) {
      BitSet mustBeDirty = truth(events.subList(0, s.eventCount()));
      for (Map<String, byte[]> crash : CrashStates.of(s, 16, rnd)) {
        states++;
        String problem = check(crash, stateDir, mustBeDirty);
        if (problem != null) {
          violations++;
          if (first == null) {
            first = problem;
          }
        }
      }
    }
    return new Outcome(states, violations, first);
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

  private static String check(Map<String, byte[]> crash, Path stateDir, BitSet mustBeDirty)
      throws IOException {
    Optional<DirtySet> recovered;
    try {
      recovered = TrackerStore.recover(CrashStates.reader(crash), stateDir, NAME);
    } catch (CbtfsException e) {
      return "recovery refused: " + e.getMessage();
    }
    if (recovered.isEmpty()) {
      return mustBeDirty.isEmpty()
          ? null
          : "no state file, but blocks " + mustBeDirty + " may have changed";
    }
    BitSet lost = (BitSet) mustBeDirty.clone();
    recovered.get().forEachBlock(lost::clear);
    return lost.isEmpty() ? null : "blocks " + lost + " may have changed but are not dirty";
  }

  /**
   * The seeded workload: image writes through the tracker's write path (mostly small, sometimes
   * bulk like a truncate), syncs that fail or commit, clean unmounts and remounts.
   */
  private static void workload(long seed, SimulatedDisk disk, StateIo io, Path stateDir)
      throws IOException {
    Random rnd = new Random(seed);
    TrackerStore store = TrackerStore.open(stateDir, OPTIONS, io);
    TrackedImage image = store.image(NAME, FP);
    for (int op = 0; op < 200; op++) {
      int r = rnd.nextInt(100);
      if (r < 80) {
        long len = rnd.nextInt(40) == 0 ? 1 + rnd.nextInt(2 << 20) : 1 + rnd.nextInt(12_000);
        long off = (long) (rnd.nextDouble() * (IMAGE - len));
        image.beforeWrite(off, len);
        BitSet blocks = new BitSet();
        blocks.set((int) G.blockIndex(off), (int) G.blockIndex(off + len - 1) + 1);
        disk.event(new ImageWrite(blocks));
        image.afterWrite(off, len);
      } else if (r < 93) {
        try (Drain drain = image.tracker().beginDrain()) {
          if (rnd.nextBoolean()) {
            BitSet taken = new BitSet();
            drain.blocks().forEachBlock(taken::set);
            disk.event(new Commit(taken)); // the target acknowledged
            drain.commit();
            store.persist(image);
          }
        }
      } else {
        store.closeClean(Map.of(NAME, FP)); // clean unmount, then a new mount
        store = TrackerStore.open(stateDir, OPTIONS, io);
        image = store.image(NAME, FP);
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
