package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.roaringbitmap.RoaringBitmap;

/**
 * The history against a per-block stamp model: every block remembers the generation of its last
 * change. A target at generation g lacks exactly the blocks stamped after g; the history must send
 * a target with a cursor exactly those, any other target it still knows at least those, and never
 * answer for one it does not know.
 */
class ChangeHistoryTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);
  private static final Duration AGE = Duration.ofDays(30);
  private static final int BLOCKS = 4000;

  private static ChangeHistory empty() {
    return new ChangeHistory(G, ChangeHistory.Saved.of(0, 0, false));
  }

  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
  void everyTargetIsSentWhatChangedSinceItsGeneration(long seed) {
    Random rnd = new Random(seed);
    ChangeHistory h = empty();
    long[] stamp = new long[BLOCKS]; // the generation that last changed each block (0: never)
    RoaringBitmap live = new RoaringBitmap();
    Map<String, Long> held = new HashMap<>(); // what each target holds
    List<String> names = List.of("file:/a", "archive:/b", "s3://c/d/e", "cbtfs://f:1/g");
    Instant now = Instant.EPOCH;
    for (int op = 0; op < 3000; op++) {
      int r = rnd.nextInt(100);
      if (r < 70) {
        int first = rnd.nextInt(BLOCKS);
        int count = 1 + rnd.nextInt(rnd.nextInt(10) == 0 ? 400 : 8);
        live.add((long) first, (long) Math.min(BLOCKS, first + count));
      } else if (r < 97) {
        String target = names.get(rnd.nextInt(names.size()));
        long g = held.getOrDefault(target, -1L);
        boolean known = g >= 0 && h.knows(g);
        long n = h.seal(live.clone());
        live.forEach((int b) -> stamp[b] = n);
        live.clear();
        if (g >= 0 && known) {
          RoaringBitmap sent = h.since(g);
          RoaringBitmap exact = new RoaringBitmap();
          for (int b = 0; b < BLOCKS; b++) {
            if (stamp[b] > g) {
              exact.add(b);
            }
          }
          assertThat(RoaringBitmap.andNot(exact, sent).isEmpty())
              .as("seed %d op %d: %s at %d misses a change", seed, op, target, g)
              .isTrue();
          if (h.cursors().stream()
              .anyMatch(c -> c.target().equals(target) && c.generation() == g)) {
            assertThat(sent)
                .as("seed %d op %d: %s at %d, exactly", seed, op, target, g)
                .isEqualTo(exact);
          }
        }
        if (rnd.nextInt(5) > 0) { // the sync commits; otherwise it failed
          now = now.plus(Duration.ofHours(1));
          h.commit(target, n, now, AGE);
          held.put(target, n);
        } else if (rnd.nextBoolean()) {
          held.put(target, n); // failed after the target had it: an acknowledgement lost
        }
      } else if (r < 99) {
        h.forget(names.get(rnd.nextInt(names.size())), now, AGE);
      } else {
        now = now.plus(Duration.ofDays(20)); // some cursors age past 30 days
      }
      // the sets stay disjoint: one per block at most, whatever the number of targets
      long total = 0;
      RoaringBitmap union = h.all();
      for (long gen = h.horizon() + 1; gen <= h.issued(); gen++) {
        total += h.since(gen - 1).getLongCardinality() - h.since(gen).getLongCardinality();
      }
      assertThat(total).isEqualTo(union.getLongCardinality());
      assertThat(h.generationsKept()).isLessThanOrEqualTo(h.cursors().size() + 1);
    }
  }

  @Test
  void aFailedSyncsBlocksReachEveryTargetBehindIt() {
    ChangeHistory h = empty();
    long g1 = h.seal(RoaringBitmap.bitmapOf(1));
    h.commit("file:/a", g1, Instant.EPOCH, AGE);
    h.commit("file:/b", g1, Instant.EPOCH, AGE);
    long failed = h.seal(RoaringBitmap.bitmapOf(2)); // a sync of a that did not commit
    long g3 = h.seal(RoaringBitmap.bitmapOf(3));
    h.commit("file:/a", g3, Instant.EPOCH, AGE);
    assertThat(h.since(g1).toArray()).containsExactly(2, 3);
    // a target that holds the failed generation all the same (its acknowledgement lost) gets 2
    // again: no cursor sits at 2, so its set merged into 3's (wider, never narrower)
    assertThat(h.since(failed).toArray()).containsExactly(2, 3);
    assertThat(h.generationsKept()).isEqualTo(1);
  }

  @Test
  void aCursorPastItsAgeStopsHoldingHistory() {
    ChangeHistory h = empty();
    Instant t0 = Instant.EPOCH;
    long g1 = h.seal(RoaringBitmap.bitmapOf(1));
    h.commit("archive:/old", g1, t0, AGE);
    long g2 = h.seal(RoaringBitmap.bitmapOf(2));
    h.commit("file:/daily", g2, t0.plus(Duration.ofDays(31)), AGE);
    assertThat(h.knows(g1)).as("31 days unused: no longer held").isFalse();
    assertThat(h.needsVerify(g1)).isTrue();
    assertThat(h.cursors()).hasSize(2); // still listed, for status and forget
  }

  @Test
  void forgettingTheOldestTargetLetsItsHistoryGo() {
    ChangeHistory h = empty();
    long g1 = h.seal(RoaringBitmap.bitmapOf(1));
    h.commit("file:/a", g1, Instant.EPOCH, AGE);
    long g2 = h.seal(RoaringBitmap.bitmapOf(2));
    h.commit("file:/b", g2, Instant.EPOCH, AGE);
    h.seal(RoaringBitmap.bitmapOf(3));
    assertThat(h.all().toArray()).containsExactly(2, 3);
    assertThat(h.forget("file:/a", Instant.EPOCH, AGE)).isTrue();
    assertThat(h.all().toArray()).containsExactly(3);
    assertThat(h.knows(g1)).isFalse();
    assertThat(h.forget("file:/a", Instant.EPOCH, AGE)).isFalse();
  }

  @Test
  void aVerifyRequestCoversEveryGenerationIssuedSoFar() {
    ChangeHistory h = empty();
    long g1 = h.seal(RoaringBitmap.bitmapOf(1));
    h.commit("file:/a", g1, Instant.EPOCH, AGE);
    long running = h.seal(new RoaringBitmap()); // a sync has drained
    h.requireVerify(); // an error in the write path while it runs
    assertThat(h.needsVerify(g1)).isTrue();
    assertThat(h.needsVerify(running)).as("the running sync's generation too").isTrue();
    long next = h.seal(new RoaringBitmap());
    assertThat(h.needsVerify(next)).isFalse();
  }

  @Test
  void aGenerationNeverIssuedIsSkippedAndEveryTargetCompared() {
    ChangeHistory h = empty();
    long g1 = h.seal(RoaringBitmap.bitmapOf(1));
    h.commit("file:/a", g1, Instant.EPOCH, AGE);
    h.skipTo(9); // a target holds 9: this state is an older copy
    assertThat(h.seal(new RoaringBitmap())).isEqualTo(10);
    assertThat(h.needsVerify(g1)).isTrue();
    assertThat(h.needsVerify(9)).isTrue();
    assertThat(h.needsVerify(10)).isFalse();
  }

  @Test
  void savedAndLoadedItAnswersTheSame() {
    ChangeHistory h = empty();
    List<Long> gens = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      long g = h.seal(RoaringBitmap.bitmapOf(i, 100 + i));
      gens.add(g);
      if (i % 2 == 0) {
        h.commit("file:/" + i, g, Instant.ofEpochMilli(i), AGE);
      }
    }
    ChangeHistory back = new ChangeHistory(G, h.save());
    for (long g = 0; g <= h.issued(); g++) {
      assertThat(back.knows(g)).isEqualTo(h.knows(g));
      if (h.knows(g)) {
        assertThat(back.since(g)).isEqualTo(h.since(g));
      }
    }
    assertThat(back.cursors()).isEqualTo(h.cursors());
  }

  /**
   * A failed attempt's set is kept apart: the next sync to its target can tell the blocks changed
   * since that attempt's drain (sent again) from those it did not change (reusable), whatever other
   * targets commit meanwhile; a commit to the target drops it.
   */
  @Test
  void aFailedAttemptKeepsItsSetApartUntilItsTargetCommits() {
    ChangeHistory h = empty();
    Instant now = Instant.EPOCH;
    long a = h.seal(RoaringBitmap.bitmapOf(1, 2, 3));
    h.attempted("cbtfs://r:1/vm", a, now);
    long b = h.seal(RoaringBitmap.bitmapOf(2, 9)); // block 2 written again after the attempt
    h.commit("file:/other", b, now, AGE); // another target: the horizon would pass the attempt
    long c = h.seal(RoaringBitmap.bitmapOf(7));
    assertThat(h.attempt("cbtfs://r:1/vm")).isEqualTo(a);
    assertThat(h.changedSince(a)).isEqualTo(RoaringBitmap.bitmapOf(2, 7, 9));
    assertThat(h.cursors()).extracting(Cursor::target).containsExactly("file:/other");
    ChangeHistory back =
        new ChangeHistory(
            G, TrackerState.decode(state(h).encode(), "test").history()); // saved and read back
    assertThat(back.attempt("cbtfs://r:1/vm")).isEqualTo(a);
    assertThat(back.changedSince(a)).isEqualTo(RoaringBitmap.bitmapOf(2, 7, 9));
    assertThat(back.cursors()).extracting(Cursor::target).containsExactly("file:/other");
    h.commit("cbtfs://r:1/vm", c, now, AGE);
    assertThat(h.attempt("cbtfs://r:1/vm")).isEqualTo(-1);
  }

  /** Forgetting a target whose only trace is a failed attempt says it had one, and drops it. */
  @Test
  void forgettingATargetKnownOnlyByItsAttemptDropsItAndSaysSo() {
    ChangeHistory h = empty();
    long a = h.seal(RoaringBitmap.bitmapOf(1));
    h.attempted("cbtfs://r:1/vm", a, Instant.EPOCH);
    assertThat(h.forget("cbtfs://r:1/vm", Instant.EPOCH, AGE)).isTrue();
    assertThat(h.attempt("cbtfs://r:1/vm")).isEqualTo(-1);
    assertThat(h.forget("cbtfs://r:1/vm", Instant.EPOCH, AGE)).isFalse();
  }

  /** What changed since an attempt is never narrower than the blocks stamped after it. */
  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3, 4})
  void whatChangedSinceAnAttemptCoversEveryLaterChange(long seed) {
    Random rnd = new Random(seed);
    ChangeHistory h = empty();
    long[] stamp = new long[BLOCKS];
    List<String> names = List.of("file:/a", "cbtfs://f:1/g", "cbtfs://f:1/h");
    Instant now = Instant.EPOCH;
    for (int op = 0; op < 2000; op++) {
      RoaringBitmap live = new RoaringBitmap();
      int first = rnd.nextInt(BLOCKS);
      live.add((long) first, (long) Math.min(BLOCKS, first + 1 + rnd.nextInt(50)));
      long n = h.seal(live.clone());
      live.forEach((int b) -> stamp[b] = n);
      String target = names.get(rnd.nextInt(names.size()));
      int r = rnd.nextInt(3);
      if (r == 0) {
        h.commit(target, n, now, AGE);
      } else if (r == 1) {
        h.attempted(target, n, now);
      }
      for (String t : names) {
        long a = h.attempt(t);
        RoaringBitmap changed = a < 0 ? null : h.changedSince(a);
        if (a >= 0) {
          assertThat(changed).as("an attempt the history still answers for").isNotNull();
          for (int b = 0; b < BLOCKS; b++) {
            if (stamp[b] > a) {
              assertThat(changed.contains(b)).as("block %d changed after %d", b, a).isTrue();
            }
          }
          assertThat(changed.getCardinality())
              .as("kept apart, not merged upward")
              .isEqualTo(countAfter(stamp, a));
        }
      }
    }
  }

  private static long countAfter(long[] stamp, long generation) {
    long count = 0;
    for (long s : stamp) {
      count += s > generation ? 1 : 0;
    }
    return count;
  }

  private static TrackerState state(ChangeHistory h) {
    return new TrackerState(
        java.util.UUID.randomUUID(),
        G,
        1 << 20,
        false,
        Fingerprint.UNKNOWN,
        DirtySet.empty(G),
        h.save());
  }
}
