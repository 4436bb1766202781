package io.cbtfs.cli;

import io.cbtfs.fs.FuseOperation;
import io.cbtfs.fs.RequestObserver;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot.HistogramDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.concurrent.atomic.LongAdder;

/**
 * The FUSE request latency histogram, by operation: the mount's {@link RequestObserver}, and the
 * collector that turns it into a classic histogram at scrape time. An observation is a search of
 * eight bounds and two {@link LongAdder} increments: nothing allocated, no lock. (The client's own
 * {@code Histogram} allocates a lambda per observation wherever the JIT does not inline it away,
 * about 40 bytes a request.) An operation the mount never served is not listed.
 */
final class RequestLatency implements RequestObserver, MultiCollector {
  static final String NAME = "cbtfs_fuse_request_duration_seconds";

  /** From a page-cache hit to a request that waited on a slow disk: a handful of buckets. */
  static final double[] BUCKETS = {0.00005, 0.0002, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5};

  private static final long[] BOUNDS_NANOS = new long[BUCKETS.length];

  /** The bounds as the exposition has them: the buckets, then +Inf. */
  private static final double[] UPPER_BOUNDS = new double[BUCKETS.length + 1];

  static {
    for (int i = 0; i < BUCKETS.length; i++) {
      BOUNDS_NANOS[i] = Math.round(BUCKETS[i] * 1e9);
      UPPER_BOUNDS[i] = BUCKETS[i];
    }
    UPPER_BOUNDS[BUCKETS.length] = Double.POSITIVE_INFINITY;
  }

  /** By {@link FuseOperation#ordinal}, then bucket (the last: above every bound). */
  private final LongAdder[][] counts = new LongAdder[FuseOperation.values().length][];

  private final LongAdder[] sumNanos = new LongAdder[FuseOperation.values().length];

  RequestLatency(PrometheusRegistry registry) {
    for (int op = 0; op < counts.length; op++) {
      counts[op] = new LongAdder[UPPER_BOUNDS.length];
      for (int b = 0; b < UPPER_BOUNDS.length; b++) {
        counts[op][b] = new LongAdder();
      }
      sumNanos[op] = new LongAdder();
    }
    registry.register(this);
  }

  @Override
  public void answered(FuseOperation operation, long nanos) {
    int b = 0;
    while (b < BOUNDS_NANOS.length && nanos > BOUNDS_NANOS[b]) {
      b++;
    }
    counts[operation.ordinal()][b].increment();
    sumNanos[operation.ordinal()].add(nanos);
  }

  @Override
  public MetricSnapshots collect() {
    HistogramSnapshot.Builder histogram =
        HistogramSnapshot.builder()
            .name(NAME)
            .help("Time the mount took to answer a FUSE request, from reading it to its reply");
    boolean any = false;
    for (FuseOperation op : FuseOperation.values()) {
      long[] buckets = new long[UPPER_BOUNDS.length];
      long total = 0;
      for (int b = 0; b < buckets.length; b++) {
        buckets[b] = counts[op.ordinal()][b].sum();
        total += buckets[b];
      }
      if (total == 0) {
        continue;
      }
      any = true;
      histogram.dataPoint(
          HistogramDataPointSnapshot.builder()
              .classicHistogramBuckets(ClassicHistogramBuckets.of(UPPER_BOUNDS, buckets))
              .sum(sumNanos[op.ordinal()].sum() / 1e9)
              .labels(Labels.of("operation", op.label()))
              .build());
    }
    return any ? MetricSnapshots.of(histogram.build()) : MetricSnapshots.of();
  }
}
