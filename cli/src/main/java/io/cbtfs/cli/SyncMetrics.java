package io.cbtfs.cli;

import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.TrackedImage;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * What each sync did, per image and target, counted as it ends: a sync is rare next to a scrape, so
 * these are pushed (where the target stands is {@link TargetMetrics}'s, read at scrape time).
 */
final class SyncMetrics implements SyncObserver {
  static final String SYNCS = "cbtfs_syncs_total";
  static final String LAST_STATUS = "cbtfs_sync_last_status";
  static final String DURATION = "cbtfs_sync_duration_seconds";
  static final String SENT_BYTES = "cbtfs_sync_sent_bytes_total";

  /** From a few changed blocks to a first full copy of a large image. */
  static final double[] BUCKETS = {1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600};

  private final Counter syncs;
  private final Gauge lastStatus;
  private final Histogram duration;
  private final Counter sentBytes;

  SyncMetrics(PrometheusRegistry registry) {
    syncs =
        Counter.builder()
            .name(SYNCS)
            .help("Syncs that ended, by result (success or failure)")
            .labelNames("image", "target", "result")
            .withoutExemplars()
            .register(registry);
    lastStatus =
        Gauge.builder()
            .name(LAST_STATUS)
            .help("Whether the last sync to the target succeeded (1) or failed (0)")
            .labelNames("image", "target")
            .withoutExemplars()
            .register(registry);
    duration =
        Histogram.builder()
            .name(DURATION)
            .help("How long syncs ran, successful or not")
            .labelNames("image", "target")
            .classicOnly()
            .classicUpperBounds(BUCKETS)
            .withoutExemplars()
            .register(registry);
    sentBytes =
        Counter.builder()
            .name(SENT_BYTES)
            .help("Bytes of the delta streams successful syncs sent (compressed, with framing)")
            .labelNames("image", "target")
            .withoutExemplars()
            .register(registry);
  }

  @Override
  public void ended(TrackedImage image, String target, SyncReport report, long nanos) {
    String name = image.name();
    boolean ok = report != null;
    syncs.labelValues(name, target, ok ? "success" : "failure").inc();
    lastStatus.labelValues(name, target).set(ok ? 1 : 0);
    duration.labelValues(name, target).observe(nanos / 1e9);
    sentBytes.labelValues(name, target).inc(ok ? report.wireBytes() : 0);
  }
}
