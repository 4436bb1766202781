package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Property: whatever moment the process dies, recovery from the files on disk marks a superset of
 * the blocks that may differ from the target. A seeded workload of writes (small, and bulk ones
 * like a truncate), evictions, failed and committed drains runs against a real store; at random
 * moments, including while a write is in flight (its intent logged, its bits not yet set), the
 * state and log files are copied as a crash would leave them. Each copy is then recovered.
 */
class RecoveryPropertyTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);
  private static final long IMAGE = 32L << 20;

  private static final TrackingOptions OPTIONS = new TrackingOptions(G, 64 << 10, 16, false);

  @TempDir Path dir;

  /** A crash: the files, the blocks the target may lack, the generation the target holds. */
  private record Crash(byte[] state, byte[] log, BitSet mustBeDirty, long held) {}

  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
  void everyCrashPointRecoversASuperset(long seed) throws IOException {
    List<Crash> crashes = run(seed, dir.resolve("state"));
    long totalRecovered = 0;
    long totalTrue = 0;
    for (int i = 0; i < crashes.size(); i++) {
      Crash c = crashes.get(i);
      Path copy = Files.createDirectories(dir.resolve("crash-" + i));
      Files.write(copy.resolve("a.img.cbt"), c.state());
      Files.write(copy.resolve("a.img.alog"), c.log());
      try (TrackerStore recovered = TrackerStore.open(copy, OPTIONS)) {
        DirtySet dirty = recovered.image("a.img", new Fingerprint(IMAGE, 1, 1, 1)).dirtyBlocks();
        BitSet lost = (BitSet) c.mustBeDirty().clone();
        dirty.forEachBlock(lost::clear);
        assertThat(lost.cardinality())
            .as("crash %d of seed %d loses blocks %s", i, seed, lost)
            .isZero();
        totalRecovered += dirty.blockCount();
        totalTrue += c.mustBeDirty().cardinality();
      }
    }
    assertThat(crashes).hasSizeGreaterThan(20);
    // Bounded: recovery resends far less than the whole image on average.
    long allBlocks = crashes.size() * G.blockCount(IMAGE);
    assertThat(totalRecovered).isGreaterThanOrEqualTo(totalTrue).isLessThan(allBlocks);
  }

  /**
   * The seeded workload against a store in {@code state}, with the files as a crash would leave
   * them copied at random moments.
   */
  private static List<Crash> run(long seed, Path state) throws IOException {
    Random rnd = new Random(seed);
    List<Crash> crashes = new ArrayList<>();
    BitSet mustBeDirty = new BitSet();
    TrackerStore store = TrackerStore.open(state, OPTIONS);
    TrackedImage img = store.image("a.img", new Fingerprint(IMAGE, 1, 1, 1));
    long[] held = {0}; // the target starts as the empty image does
    for (int op = 0; op < 300; op++) {
      double r = rnd.nextDouble();
      if (r < 0.85) {
        long len = rnd.nextInt(20) == 0 ? 1 + rnd.nextInt(4 << 20) : 1 + rnd.nextInt(20_000);
        long off = (long) (rnd.nextDouble() * (IMAGE - len));
        img.beforeWrite(off, len);
        // from here the write may reach the disk at any moment
        mustBeDirty.set((int) G.blockIndex(off), (int) G.blockIndex(off + len - 1) + 1);
        if (rnd.nextInt(4) == 0) {
          crashes.add(crash(state, mustBeDirty, held[0]));
        }
        img.afterWrite(off, len);
      } else {
        try (Drain drain = img.beginSync("file:/target", held[0])) {
          if (rnd.nextBoolean()) {
            drain.blocks().forEachBlock(b -> mustBeDirty.clear(b)); // the target holds them now
            held[0] = drain.generation();
            if (rnd.nextBoolean()) {
              crashes.add(crash(state, mustBeDirty, held[0])); // acknowledged but not yet committed
            }
            img.commit(drain, Long.MAX_VALUE);
          }
        }
      }
      if (rnd.nextInt(10) == 0) {
        crashes.add(crash(state, mustBeDirty, held[0]));
      }
    }
    store.close();
    return crashes;
  }

  /**
   * The same crash points with the state file as a version-2 mount would have left it: one dirty
   * set (the live one and every drain not committed), the committed and the issued generation.
   * Loading it saves version 3 before anything is served; the target at the committed generation is
   * sent exactly what recovery makes of the saved set (with the activity log's extents), which
   * covers every change it may lack; a target below it is compared.
   */
  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3})
  void aVersionTwoStateLeftByACrashMigrates(long seed) throws IOException {
    List<Crash> crashes = run(seed, dir.resolve("state"));
    int behind = 0;
    for (int i = 0; i < crashes.size(); i++) {
      Crash c = crashes.get(i);
      TrackerState v3 = TrackerState.decode(c.state(), "crash " + i);
      long committed = v3.committedGeneration();
      ChangeHistory h = new ChangeHistory(G, v3.history());
      TrackerState asV2 =
          new TrackerState(
              v3.lineage(),
              G,
              v3.imageSize(),
              v3.clean(),
              v3.fingerprint(),
              v3.dirty().union(DirtySet.of(G, h.since(committed))),
              ChangeHistory.Saved.of(committed, v3.issuedGeneration(), false));
      byte[] v2 =
          TrackerStateTest.legacy(2, asV2, committed, v3.issuedGeneration(), v3.clean() ? 1 : 0);
      Path copy = Files.createDirectories(dir.resolve("v2-crash-" + i));
      Files.write(copy.resolve("a.img.cbt"), v2);
      Files.write(copy.resolve("a.img.alog"), c.log());
      DirtySet recovered =
          StateRecovery.recover(copy, "a.img", TrackerState.decode(v2, "v2")).lacks(committed);
      assertThat(recovered).as("crash %d: the target at %d", i, committed).isNotNull();
      BitSet lost = (BitSet) c.mustBeDirty().clone();
      recovered.forEachBlock(lost::clear);
      assertThat(lost.cardinality()).as("crash %d of seed %d loses %s", i, seed, lost).isZero();

      try (TrackerStore store = TrackerStore.open(copy, OPTIONS)) {
        TrackedImage img = store.image("a.img", new Fingerprint(IMAGE, 1, 1, 1));
        assertThat(ByteBuffer.wrap(Files.readAllBytes(copy.resolve("a.img.cbt"))).getInt(8))
            .as("crash %d: saved as version 3", i)
            .isEqualTo(3);
        try (Drain d = img.beginSync("file:/target", committed)) {
          assertThat(d.basis()).as("crash %d", i).isEqualTo(Drain.Basis.HISTORY);
          assertThat(d.blocks()).as("crash %d: exactly the migrated set", i).isEqualTo(recovered);
        }
        if (committed > 0) {
          behind++;
          try (Drain d = img.beginSync("file:/target", committed - 1)) {
            assertThat(d.basis()).as("crash %d", i).isEqualTo(Drain.Basis.BEHIND);
          }
        }
      }
    }
    assertThat(crashes).hasSizeGreaterThan(20);
    assertThat(behind).as("crash points after a commit").isPositive();
  }

  private static Crash crash(Path state, BitSet mustBeDirty, long held) throws IOException {
    return new Crash(
        Files.readAllBytes(state.resolve("a.img.cbt")),
        Files.readAllBytes(state.resolve("a.img.alog")),
        (BitSet) mustBeDirty.clone(),
        held);
  }
}
