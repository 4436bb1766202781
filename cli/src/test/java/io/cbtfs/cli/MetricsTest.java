package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.Drain;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The collectors of a mount's metrics against what {@code status} says of the same tracking: per
 * image the dirty set and the writes, per target the generation, lag and last success; the syncs as
 * they end; label values escaped whatever bytes a name holds.
 */
class MetricsTest {
  private static final int BLOCK = 65536;
  private static final long SIZE = 16L * BLOCK;
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

  @TempDir Path tmp;
  final CursorsTest.SettableClock clock = new CursorsTest.SettableClock(T0);
  final TrackingOptions.Cursors policy = new TrackingOptions.Cursors(Duration.ofDays(30), clock);
  TrackerStore store;
  ImageFiles files;

  @AfterEach
  void close() throws IOException {
    if (store != null) {
      store.close();
    }
  }

  private TrackedImage open(String name) throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(tmp.resolve(name).toFile(), "rw")) {
      f.setLength(SIZE);
    }
    Path stateDir = tmp.resolve(".cbtfs");
    files = new ImageFiles(tmp, stateDir);
    if (store == null) {
      store =
          TrackerStore.open(
              stateDir, TrackingOptions.defaults(BlockGeometry.of(BLOCK)).withCursors(policy));
    }
    return store.image(name, () -> files.fingerprint(name));
  }

  /** A 4 KiB write into each block, as the mount's write path makes it. */
  private static void write(TrackedImage image, long... blocks) throws IOException {
    for (long b : blocks) {
      image.beforeWrite(b * BLOCK, 4096);
      image.countWrite(4096);
      image.afterWrite(b * BLOCK, 4096);
    }
  }

  private static void synced(TrackedImage image, String target) throws IOException {
    try (Drain d = image.beginSync(target, -1)) {
      image.commit(d, SIZE);
    }
  }

  /** Deletes {@code folder} and all it holds: a replica's, so that its next sync fails. */
  static void deleteFolder(Path folder) throws IOException {
    try (java.util.stream.Stream<Path> all = java.nio.file.Files.walk(folder)) {
      for (Path p : all.sorted(java.util.Comparator.reverseOrder()).toList()) {
        java.nio.file.Files.delete(p);
      }
    }
  }

  private PrometheusRegistry registry() {
    PrometheusRegistry registry = new PrometheusRegistry();
    registry.register(new ImageMetrics(store::images));
    registry.register(new TargetMetrics(store::images, clock));
    return registry;
  }

  private static String image(String name) {
    return "{image=\"" + name + "\"}";
  }

  private static String target(String image, String target) {
    return "{image=\"" + image + "\",target=\"" + target + "\"}";
  }

  @Test
  void imageAndTargetMetricsAreWhatStatusSays() throws IOException {
    TrackedImage img = open("disk.img");
    write(img, 0, 1);
    synced(img, "file:/a"); // generation 1
    write(img, 2);
    clock.advance(Duration.ofDays(20));
    synced(img, "file:/b"); // generation 2: a lacks block 2 from here
    write(img, 3, 4);
    clock.advance(Duration.ofHours(5));

    Exposition e = Exposition.of(registry());
    ImageStatus status =
        new SyncHost(store, files, tmp.resolve(".cbtfs"), null, 1, policy, SyncObserver.NONE)
            .status("disk.img", "kernel");

    assertThat(status.dirtyBlocks()).isEqualTo(3); // what a, furthest behind, lacks: 2, 3, 4
    assertThat(e.of(ImageMetrics.DIRTY_BLOCKS + image("disk.img"))).isEqualTo(status.dirtyBlocks());
    assertThat(e.of(ImageMetrics.DIRTY_BYTES + image("disk.img"))).isEqualTo(status.dirtyBytes());
    assertThat(e.of(ImageMetrics.SIZE_BYTES + image("disk.img"))).isEqualTo(SIZE);
    assertThat(e.of(ImageMetrics.GENERATION + image("disk.img"))).isEqualTo(2);
    assertThat(e.of(ImageMetrics.WRITE_REQUESTS + "_total" + image("disk.img"))).isEqualTo(5);
    assertThat(e.of(ImageMetrics.WRITTEN_BYTES + "_total" + image("disk.img"))).isEqualTo(5 * 4096);
    assertThat(status.targets()).hasSize(2);
    for (TargetStatus t : status.targets()) {
      String series = target("disk.img", t.target());
      assertThat(e.of(TargetMetrics.TARGET_GENERATION + series)).isEqualTo(t.generation());
      assertThat(e.of(TargetMetrics.LAG_GENERATIONS + series)).isEqualTo(2 - t.generation());
      assertThat(e.of(TargetMetrics.LAG_BLOCKS + series)).isEqualTo(t.lagBlocks());
      assertThat(e.of(TargetMetrics.LAG_BYTES + series)).isEqualTo(t.lagBytes());
      assertThat(e.of(TargetMetrics.LAST_SUCCESS + series))
          .isEqualTo(t.syncedAt().getEpochSecond());
      assertThat(e.of(TargetMetrics.LAST_SUCCESS_AGE + series)).isEqualTo(t.secondsSinceSync());
    }
    assertThat(e.of(TargetMetrics.LAST_SUCCESS_AGE + target("disk.img", "file:/a")))
        .isEqualTo(Duration.ofDays(20).plusHours(5).toSeconds());
    assertThat(e.of(TargetMetrics.LAG_BYTES + target("disk.img", "file:/a"))).isEqualTo(3 * BLOCK);
    assertThat(e.of(TargetMetrics.LAG_GENERATIONS + target("disk.img", "file:/a"))).isEqualTo(1);
    assertThat(e.of(TargetMetrics.LAG_BYTES + target("disk.img", "file:/b"))).isEqualTo(2 * BLOCK);
  }

  @Test
  void theAgeOfTheLastSuccessIsTakenAtEachScrape() throws IOException {
    TrackedImage img = open("disk.img");
    synced(img, "file:/a");
    PrometheusRegistry registry = registry();
    String series = TargetMetrics.LAST_SUCCESS_AGE + target("disk.img", "file:/a");
    assertThat(Exposition.of(registry).of(series)).isZero();
    clock.advance(Duration.ofSeconds(7200));
    assertThat(Exposition.of(registry).of(series)).isEqualTo(7200);
  }

  @Test
  void namesWithQuotesBackslashesAndNewlinesAreEscaped() throws IOException {
    String name = "d\"i\\sk\nx.img";
    String cursor = "file:/t\"a\\b\nc";
    TrackedImage img = open(name);
    synced(img, cursor);
    String text = Exposition.of(registry()).text();
    String escapedImage = "d\\\"i\\\\sk\\nx.img";
    String escapedTarget = "file:/t\\\"a\\\\b\\nc";
    assertThat(text)
        .contains(ImageMetrics.DIRTY_BLOCKS + "{image=\"" + escapedImage + "\"} 0")
        .contains(
            TargetMetrics.TARGET_GENERATION
                + "{image=\""
                + escapedImage
                + "\",target=\""
                + escapedTarget
                + "\"} 1");
    for (String line : text.split("\n")) { // no raw newline cut a sample in two
      assertThat(line).matches("(# (HELP|TYPE) )?cbtfs_\\w+.*");
    }
  }

  @Test
  void syncsAreCountedByResultWithTheirDurationAndBytes() throws IOException {
    open("disk.img");
    PrometheusRegistry registry = new PrometheusRegistry();
    SyncMetrics metrics = new SyncMetrics(registry);
    SyncHost host = new SyncHost(store, files, tmp.resolve(".cbtfs"), null, 1, policy, metrics);
    Path replica = tmp.resolve("replica").resolve("disk.img");
    java.nio.file.Files.createDirectories(replica.getParent());
    TargetAddress good = TargetAddress.parse("file:" + replica);
    SyncReport report = host.sync("disk.img", good, false, SyncProgress.NONE);
    String cursor = good.cursorName();
    String series = target("disk.img", cursor);

    Exposition e = Exposition.of(registry);
    assertThat(
            e.of(
                "cbtfs_syncs_total{image=\"disk.img\",result=\"success\",target=\""
                    + cursor
                    + "\"}"))
        .isEqualTo(1);
    assertThat(e.of(SyncMetrics.LAST_STATUS + series)).isEqualTo(1);
    assertThat(e.of(SyncMetrics.SENT_BYTES + series)).isEqualTo(report.wireBytes()).isPositive();
    assertThat(e.of(SyncMetrics.DURATION + "_count" + series)).isEqualTo(1);

    // the same target, now in a folder that is gone: the sync fails once the target is open
    deleteFolder(replica.getParent());
    assertThatThrownBy(() -> host.sync("disk.img", good, false, SyncProgress.NONE))
        .hasMessageContaining("not a directory");
    e = Exposition.of(registry);
    assertThat(
            e.of(
                "cbtfs_syncs_total{image=\"disk.img\",result=\"failure\",target=\""
                    + cursor
                    + "\"}"))
        .isEqualTo(1);
    assertThat(e.of(SyncMetrics.LAST_STATUS + series)).isZero();
    assertThat(e.of(SyncMetrics.DURATION + "_count" + series)).isEqualTo(2);
    assertThat(e.of(SyncMetrics.SENT_BYTES + series)).isEqualTo(report.wireBytes());
  }
}
