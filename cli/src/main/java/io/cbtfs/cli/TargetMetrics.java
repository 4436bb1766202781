package io.cbtfs.cli;

import io.cbtfs.tracker.TrackedImage;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.BiPredicate;
import java.util.function.Supplier;

/**
 * Where each target of each image stands (labels {@code image} and {@code target}, the cursor's
 * name), read from the image's cursors at scrape time: the last successful sync survives restarts
 * because the cursor is saved with the tracking. The age of that sync is the RPO an alert wants.
 */
final class TargetMetrics implements MultiCollector {
  static final String LAST_SUCCESS = "cbtfs_sync_last_success_timestamp_seconds";
  static final String LAST_SUCCESS_AGE = "cbtfs_sync_last_success_age_seconds";
  static final String TARGET_GENERATION = "cbtfs_sync_target_generation";
  static final String LAG_GENERATIONS = "cbtfs_sync_lag_generations";
  static final String LAG_BLOCKS = "cbtfs_sync_lag_blocks";
  static final String LAG_BYTES = "cbtfs_sync_lag_bytes";

  private final Supplier<List<TrackedImage>> images;
  private final Clock clock;
  private final BiPredicate<String, String> include;

  /**
   * @param clock the tracker's (its cursors' times come from it)
   * @param include which (image, target) pairs to report
   */
  TargetMetrics(
      Supplier<List<TrackedImage>> images, Clock clock, BiPredicate<String, String> include) {
    this.images = images;
    this.clock = clock;
    this.include = include;
  }

  /** Every target of every image. */
  TargetMetrics(Supplier<List<TrackedImage>> images, Clock clock) {
    this(images, clock, (image, target) -> true);
  }

  @Override
  public MetricSnapshots collect() {
    MetricFamilies f =
        new MetricFamilies()
            .gauge(
                LAST_SUCCESS, "When the last successful sync to the target committed (unix time)")
            .gauge(LAST_SUCCESS_AGE, "Seconds since the last successful sync to the target")
            .gauge(TARGET_GENERATION, "Generation the target holds")
            .gauge(
                LAG_GENERATIONS,
                "Syncs of the image (to any target) since the generation the target holds")
            .gauge(
                LAG_BLOCKS,
                "Blocks the target lacks; absent when its next sync compares every block")
            .gauge(LAG_BYTES, "Bytes of those blocks; absent likewise");
    Instant now = clock.instant();
    for (TrackedImage image : images.get()) {
      for (TrackedImage.TargetLag lag : image.targets()) {
        String name = image.name();
        String target = lag.cursor().target();
        if (!include.test(name, target)) {
          continue;
        }
        Instant synced = lag.cursor().syncedAt();
        String[] labels = {"image", name, "target", target};
        f.add(LAST_SUCCESS, synced.toEpochMilli() / 1000.0, labels);
        f.add(
            LAST_SUCCESS_AGE,
            Math.max(0, Duration.between(synced, now).toMillis()) / 1000.0,
            labels);
        f.add(TARGET_GENERATION, lag.cursor().generation(), labels);
        f.add(LAG_GENERATIONS, lag.generationsBehind(), labels);
        if (lag.lagBlocks() >= 0) {
          f.add(LAG_BLOCKS, lag.lagBlocks(), labels);
          f.add(LAG_BYTES, lag.lagBytes(), labels);
        }
      }
    }
    return f.build();
  }
}
