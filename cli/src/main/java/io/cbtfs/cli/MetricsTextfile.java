package io.cbtfs.cli;

import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.AtomicFile;
import io.cbtfs.tracker.TrackedImage;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;

/**
 * The metrics of one offline sync ({@code cbtfs sync --metrics-textfile FILE}) for node_exporter's
 * textfile collector: the same sync metrics a mount serves ({@link SyncMetrics}, {@link
 * TargetMetrics}), for that image and target only, so files of other images and targets in the same
 * folder never repeat a series. The counters count this sync alone. Written whether the sync
 * succeeded or failed, atomically (a temp file renamed over FILE in its folder), so the collector
 * never reads half a file.
 */
final class MetricsTextfile implements SyncObserver {
  private final Path file;
  private final Clock clock;
  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final SyncMetrics syncs = new SyncMetrics(registry);
  private MetricSnapshots target = MetricSnapshots.of();
  private boolean observed;

  /**
   * @param clock the tracker's: its cursors' times come from it
   */
  MetricsTextfile(Path file, Clock clock) {
    this.file = file;
    this.clock = clock;
  }

  Path file() {
    return file;
  }

  /** Takes what the sync did and where its target stands now, while the tracking is loaded. */
  @Override
  public void ended(TrackedImage image, String targetName, SyncReport report, long nanos) {
    observed = true;
    syncs.ended(image, targetName, report, nanos);
    target =
        new TargetMetrics(
                () -> List.of(image),
                clock,
                (i, t) -> i.equals(image.name()) && t.equals(targetName))
            .collect();
  }

  /**
   * Whether a sync ended here: one that failed before its target was open (no image, a target
   * unreadable) has no target to name, and leaves the file as it was.
   */
  boolean observed() {
    return observed;
  }

  /** The exposition: the sync's metrics, then where its target stands. */
  byte[] exposition() throws IOException {
    MetricSnapshots.Builder all = MetricSnapshots.builder();
    for (MetricSnapshot s : registry.scrape()) {
      all.metricSnapshot(s);
    }
    for (MetricSnapshot s : target) {
      if (!s.getMetadata().getName().equals(TargetMetrics.LAST_SUCCESS_AGE)) {
        all.metricSnapshot(s); // an age in a file would stand still: Prometheus takes time() - it
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(out, all.build());
    return out.toByteArray();
  }

  /** Replaces the file with {@link #exposition}. */
  void write() throws IOException {
    AtomicFile.replace(file, exposition());
  }
}
