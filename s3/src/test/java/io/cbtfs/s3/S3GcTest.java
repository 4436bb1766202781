package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.SyncFixture;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.syncer.local.Targets;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** {@code gc}: retention, the sweep, the grace period and its race with syncs. */
class S3GcTest extends S3ServerTest {
  S3Target target(String image) {
    return (S3Target) Targets.parse(server.uri(bucket + "/store/" + image), tmp);
  }

  S3Gc gc() {
    return new S3Gc(server.uri(bucket + "/store"));
  }

  long chunks() throws IOException {
    return objects("store/chunks");
  }

  void rewriteEverything(long seed) throws IOException {
    fx.write(0, random(4 << 20, seed));
  }

  @Test
  void keepsTheLastGenerationsAndRemovesWhatNoneNames() throws IOException {
    S3Target t = target("vm1");
    for (int gen = 1; gen <= 3; gen++) {
      rewriteEverything(gen);
      syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    }
    long before = chunks();
    assertThat(before).isEqualTo(12); // 3 generations x 4 grid cells, nothing shared

    S3Gc.Report dry = gc().run(1, Duration.ZERO, true, Duration.ZERO);
    assertThat(dry.removedGenerations()).isEqualTo(2);
    assertThat(dry.removedChunks()).isEqualTo(8);
    assertThat(chunks()).isEqualTo(before);
    assertThat(t.generations()).hasSize(3);

    S3Gc.Report r = gc().run(1, Duration.ZERO, false, Duration.ZERO);
    assertThat(r.removedGenerations()).isEqualTo(2);
    assertThat(r.removedChunks()).isEqualTo(8);
    assertThat(r.referencedChunks()).isEqualTo(4);
    assertThat(chunks()).isEqualTo(4);
    assertThat(t.generations()).extracting(Restorable.Generation::generation).containsExactly(3L);
    Path out = tmp.resolve("out");
    t.restore(3, out, Restorable.RestoreProgress.NONE);
    assertThat(Files.mismatch(out, fx.image)).isEqualTo(-1L);

    assertThat(gc().run(1, Duration.ZERO, false, Duration.ZERO).removedChunks()).isZero();
  }

  @Test
  void chunksYoungerThanTheGraceAreKeptEvenUnnamed() throws IOException {
    S3Target t = target("vm1");
    syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    rewriteEverything(9);
    syncer.sync(fx.source(), t, false, SyncProgress.NONE);
    S3Gc.Report r = gc().run(1, Duration.ofHours(1), false, Duration.ZERO);
    assertThat(r.removedGenerations()).isEqualTo(1);
    assertThat(r.removedChunks()).isZero();
    assertThat(r.youngUnreferenced()).isEqualTo(4); // generation 1: one chunk per grid cell
  }

  @Test
  void aSweepAndASyncExcludeEachOther() throws IOException {
    try (S3Store store = new S3Store(S3Location.parse(server.uri(bucket + "/store"), false))) {
      try (StoreLock sync = StoreLock.acquire(store, StoreLock.Kind.SYNC, "vm1", Duration.ZERO)) {
        assertThatThrownBy(() -> gc().run(1, Duration.ZERO, false, Duration.ZERO))
            .isInstanceOf(CbtfsException.class)
            .hasMessageContaining("busy")
            .hasMessageContaining("a sync");
        // syncs of other images go on; a second sync of the same image waits
        StoreLock.acquire(store, StoreLock.Kind.SYNC, "vm2", Duration.ZERO).close();
        assertThatThrownBy(
                () -> StoreLock.acquire(store, StoreLock.Kind.SYNC, "vm1", Duration.ZERO))
            .hasMessageContaining("another sync of vm1");
      }
      try (StoreLock sweep = StoreLock.acquire(store, StoreLock.Kind.GC, null, Duration.ZERO)) {
        assertThatThrownBy(
                () -> StoreLock.acquire(store, StoreLock.Kind.SYNC, "vm1", Duration.ZERO))
            .hasMessageContaining("a gc");
      }
      // every lock was released: both go ahead now
      StoreLock.acquire(store, StoreLock.Kind.GC, null, Duration.ZERO).close();
      StoreLock.acquire(store, StoreLock.Kind.SYNC, "vm1", Duration.ZERO).close();
    }
  }

  /**
   * Syncs of two images and sweeps (keep 1, no grace) run at the same time. Each generation is
   * restored right after its sync, while sweeps go on, and must equal the image it was taken from.
   */
  @Test
  void gcRacingSyncsNeverRemovesWhatAGenerationNeeds() throws Exception {
    AtomicBoolean syncing = new AtomicBoolean(true);
    CountDownLatch firstSync = new CountDownLatch(1);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try (SyncFixture clone =
        new SyncFixture(Files.createDirectory(tmp.resolve("clone")), 4 << 20, 5)) {
      Future<Integer> syncs =
          pool.submit(
              () -> {
                Random r = new Random(11);
                int checked = 0;
                try {
                  for (int round = 1; round <= 8; round++) {
                    for (SyncFixture f : new SyncFixture[] {fx, clone}) {
                      f.write(r.nextInt(3 << 20), random(1 + r.nextInt(1 << 20), r.nextLong()));
                      S3Target t = target(f == fx ? "vm1" : "vm2");
                      long gen = syncer.sync(f.source(), t, false, SyncProgress.NONE).generation();
                      firstSync.countDown();
                      Path out = tmp.resolve("restored-" + gen + "-" + checked);
                      t.restore(gen, out, Restorable.RestoreProgress.NONE);
                      assertThat(Files.mismatch(out, f.image))
                          .as("%s generation %d", t.describe(), gen)
                          .isEqualTo(-1L);
                      checked++;
                    }
                  }
                } finally {
                  syncing.set(false);
                }
                return checked;
              });
      Future<Long> sweeps =
          pool.submit(
              () -> {
                firstSync.await();
                long removed = 0;
                while (syncing.get()) {
                  removed +=
                      gc().run(1, Duration.ZERO, false, Duration.ofMinutes(2)).removedChunks();
                }
                return removed;
              });
      assertThat(syncs.get()).isEqualTo(16);
      assertThat(sweeps.get()).as("chunks the sweeps removed while syncs ran").isPositive();
    } finally {
      pool.shutdownNow();
    }
  }
}
