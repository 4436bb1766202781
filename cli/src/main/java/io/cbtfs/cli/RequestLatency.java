package io.cbtfs.cli;

import io.cbtfs.fs.FuseOperation;
import io.cbtfs.fs.RequestObserver;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * The FUSE request latency histogram, by operation: the mount's {@link RequestObserver}. Each
 * operation's data point is looked up at its first request and kept, so an observation on the data
 * path is a few atomic adds and allocates nothing (no label lookup, no exemplar); an operation the
 * mount never served is not listed.
 */
final class RequestLatency implements RequestObserver {
  static final String NAME = "cbtfs_fuse_request_duration_seconds";

  /** From a page-cache hit to a request that waited on a slow disk: a handful of buckets. */
  static final double[] BUCKETS = {0.00005, 0.0002, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5};

  private final Histogram histogram;

  /** By {@link FuseOperation#ordinal}; a race fills a slot twice with the same data point. */
  private final DistributionDataPoint[] byOperation =
      new DistributionDataPoint[FuseOperation.values().length];

  RequestLatency(PrometheusRegistry registry) {
    histogram =
        Histogram.builder()
            .name(NAME)
            .help("Time the mount took to answer a FUSE request, from reading it to its reply")
            .labelNames("operation")
            .classicOnly()
            .classicUpperBounds(BUCKETS)
            .withoutExemplars()
            .register(registry);
  }

  @Override
  public void answered(FuseOperation operation, long nanos) {
    DistributionDataPoint point = byOperation[operation.ordinal()];
    if (point == null) {
      point = histogram.labelValues(operation.label());
      byOperation[operation.ordinal()] = point;
    }
    point.observe(nanos / 1e9);
  }
}
