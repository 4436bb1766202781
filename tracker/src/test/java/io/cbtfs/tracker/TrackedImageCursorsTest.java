package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.roaringbitmap.RoaringBitmap;

/**
 * Several targets of one image through the tracker as a mount runs it (TrackerStore, saved state,
 * reopened between syncs): each is sent exactly what changed since its own generation, and told why
 * when the tracker cannot say.
 */
class TrackedImageCursorsTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);
  private static final long IMAGE = 64L << 20;

  @TempDir Path dir;

  /** A clock a test moves. */
  private static final class MovingClock extends Clock {
    Instant now = Instant.parse("2026-12-01T00:00:00Z");

    @Override
    public java.time.ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  }

  private final MovingClock clock = new MovingClock();

  private TrackingOptions options() {
    return new TrackingOptions(G, 65536, 16, false)
        .withCursors(new TrackingOptions.Cursors(Duration.ofDays(30), clock));
  }

  private static Fingerprint fp() {
    return new Fingerprint(IMAGE, 1, 1, 1);
  }

  private static void write(TrackedImage img, long off, long len) throws IOException {
    img.beforeWrite(off, len);
    img.afterWrite(off, len);
  }

  @Test
  void threeTargetsInterleavedEachGetExactlyTheirChanges() throws IOException {
    Random rnd = new Random(18);
    String[] targets = {"file:/r/vm.img", "archive:/a/vm", "s3://b/s/vm"};
    Map<String, Long> held = new HashMap<>();
    Map<String, RoaringBitmap> written = new HashMap<>(); // blocks written since its last sync
    for (String t : targets) {
      written.put(t, new RoaringBitmap());
    }
    TrackerStore store = TrackerStore.open(dir.resolve("state"), options());
    TrackedImage img = store.image("vm.img", fp());
    for (int round = 0; round < 60; round++) {
      for (int w = rnd.nextInt(6); w > 0; w--) {
        long block = rnd.nextInt((int) (IMAGE / 4096) - 4);
        int count = 1 + rnd.nextInt(3);
        write(img, block * 4096, count * 4096L);
        for (RoaringBitmap b : written.values()) {
          b.add(block, block + count);
        }
      }
      String t = targets[rnd.nextInt(targets.length)];
      long g = held.getOrDefault(t, -1L);
      try (Drain d = img.beginSync(t, g)) {
        if (g < 0) {
          assertThat(d.basis()).isEqualTo(Drain.Basis.EMPTY);
        } else {
          assertThat(d.basis()).as("round %d, %s", round, t).isEqualTo(Drain.Basis.HISTORY);
          assertThat(d.blocks().toBitmap()).as("round %d, %s", round, t).isEqualTo(written.get(t));
          assertThat(d.why()).contains("since the target's generation " + g);
        }
        img.commit(d, IMAGE);
        held.put(t, d.generation());
        written.get(t).clear();
      }
      if (round % 7 == 3) { // a clean remount between syncs: the cursors and sets survive
        store.closeClean(Map.of("vm.img", fp()));
        store = TrackerStore.open(dir.resolve("state"), options());
        img = store.image("vm.img", fp());
      }
      assertThat(img.generationsKept()).isLessThanOrEqualTo(targets.length + 1);
    }
    write(img, 4096 * 7, 4096 * 2); // live, not yet drained: every target lacks it too
    for (RoaringBitmap b : written.values()) {
      b.add(7L, 9L);
    }
    assertThat(img.targets()).hasSize(3);
    for (TrackedImage.TargetLag lag : img.targets()) {
      assertThat(lag.lagBlocks())
          .as(lag.cursor().target())
          .isEqualTo(written.get(lag.cursor().target()).getLongCardinality());
      assertThat(img.lacks(lag.cursor().target()).orElseThrow().toBitmap())
          .as("what %s lacks, block by block", lag.cursor().target())
          .isEqualTo(written.get(lag.cursor().target()));
    }
    assertThat(img.lacks("file:/never/synced")).isEmpty();
    store.close();
  }

  @Test
  void aCursorPastItsAgeIsComparedOnceAnotherTargetMovesOn() throws IOException {
    try (TrackerStore store = TrackerStore.open(dir.resolve("state"), options())) {
      TrackedImage img = store.image("vm.img", fp());
      write(img, 0, 4096);
      long old;
      try (Drain d = img.beginSync("archive:/monthly", -1)) {
        img.commit(d, IMAGE);
        old = d.generation();
      }
      clock.now = clock.now.plus(Duration.ofDays(31));
      write(img, 8192, 4096);
      try (Drain d = img.beginSync("file:/daily", -1)) {
        img.commit(d, IMAGE);
      }
      assertThat(img.targets().get(0).holdsHistory()).isFalse();
      try (Drain d = img.beginSync("archive:/monthly", old)) {
        assertThat(d.basis()).isEqualTo(Drain.Basis.BEHIND);
        assertThat(d.mustCompare()).isTrue();
        assertThat(d.why()).contains("older than the tracker's history");
      }
    }
  }

  @Test
  void aForgottenTargetIsNotRecordedByTheSyncThatWasRunning() throws IOException {
    try (TrackerStore store = TrackerStore.open(dir.resolve("state"), options())) {
      TrackedImage img = store.image("vm.img", fp());
      try (Drain d = img.beginSync("file:/r", -1)) {
        img.commit(d, IMAGE);
      }
      try (Drain d = img.beginSync("file:/r", 1)) {
        assertThat(img.forget("file:/r")).isTrue();
        img.commit(d, IMAGE);
      }
      assertThat(img.targets()).isEmpty();
      assertThat(img.forget("file:/r")).isFalse();
    }
  }

  @Test
  void aGenerationNeverIssuedIsComparedAndSkippedOver() throws IOException {
    try (TrackerStore store = TrackerStore.open(dir.resolve("state"), options())) {
      TrackedImage img = store.image("vm.img", fp());
      try (Drain d = img.beginSync("file:/r", -1)) {
        img.commit(d, IMAGE);
      }
      try (Drain d = img.beginSync("file:/other", 40)) { // its state is newer than ours
        assertThat(d.basis()).isEqualTo(Drain.Basis.UNKNOWN);
        assertThat(d.generation()).as("never reuses a number a target holds").isEqualTo(41);
        img.commit(d, IMAGE);
      }
      assertThat(img.lacks("file:/r"))
          .as("its next sync compares: what it lacks is unknown")
          .isEmpty();
      assertThat(img.lacks("file:/other")).isPresent();
      try (Drain d = img.beginSync("file:/r", 1)) {
        assertThat(d.basis()).as("every other target compares too").isEqualTo(Drain.Basis.VERIFY);
      }
    }
  }

  @Test
  void anAbsurdGenerationIsRefusedAndTrackingGoesOn() throws IOException {
    try (TrackerStore store = TrackerStore.open(dir.resolve("state"), options())) {
      TrackedImage img = store.image("vm.img", fp());
      assertThatThrownBy(() -> img.beginSync("cbtfs://h:1/vm", Long.MAX_VALUE - 1))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("--full");
      write(img, 0, 4096);
      img.save(); // the state is still saveable
      try (Drain d = img.beginSync("cbtfs://h:1/vm", -1)) {
        assertThat(d.generation()).isEqualTo(1);
        img.commit(d, IMAGE);
      }
    }
  }

  /**
   * The state directory put back from a copy (or the host rolled back to a snapshot): a target
   * synced by the lost run holds a number the restored history may issue again for other contents.
   */
  @Test
  void aTargetSyncedByARunThatWasRolledBackIsCompared() throws IOException {
    Path state = dir.resolve("state");
    Path copy = dir.resolve("copy");
    long a;
    try (TrackerStore store = TrackerStore.open(state, options())) {
      TrackedImage img = store.image("vm.img", fp());
      write(img, 0, 4096);
      try (Drain d = img.beginSync("file:/a", -1)) {
        img.commit(d, IMAGE);
      }
      try (Drain d = img.beginSync("file:/b", -1)) {
        img.commit(d, IMAGE);
      }
      store.closeClean(Map.of("vm.img", fp()));
    }
    copyTree(state, copy);
    try (TrackerStore store = TrackerStore.open(state, options())) { // the run that is lost
      TrackedImage img = store.image("vm.img", fp());
      write(img, 8192, 4096);
      try (Drain d = img.beginSync("file:/a", img.targets().get(0).cursor().generation())) {
        img.commit(d, IMAGE);
        a = d.generation();
      }
      store.closeClean(Map.of("vm.img", fp()));
    }
    deleteTree(state);
    copyTree(copy, state);
    try (TrackerStore store = TrackerStore.open(state, options())) {
      TrackedImage img = store.image("vm.img", fp());
      write(img, 16384, 4096);
      try (Drain d = img.beginSync("file:/b", img.targets().get(1).cursor().generation())) {
        assertThat(d.generation()).as("not a number the lost run issued").isNotEqualTo(a);
        img.commit(d, IMAGE);
      }
      try (Drain d = img.beginSync("file:/a", a)) {
        assertThat(d.basis()).isEqualTo(Drain.Basis.UNKNOWN);
        assertThat(d.mustCompare()).isTrue();
        assertThat(d.why()).contains("never issued");
      }
    }
  }

  private static void copyTree(Path from, Path to) throws IOException {
    java.nio.file.Files.createDirectories(to);
    try (var files = java.nio.file.Files.list(from)) {
      for (Path f : files.toList()) {
        java.nio.file.Files.copy(f, to.resolve(f.getFileName()));
      }
    }
    java.nio.file.Files.setPosixFilePermissions(
        to, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
  }

  private static void deleteTree(Path dir) throws IOException {
    try (var files = java.nio.file.Files.list(dir)) {
      for (Path f : files.toList()) {
        java.nio.file.Files.delete(f);
      }
    }
    java.nio.file.Files.delete(dir);
  }
}
