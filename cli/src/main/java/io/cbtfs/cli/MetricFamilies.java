package io.cbtfs.cli;

import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Builds one scrape's metric families from values read at scrape time: gauges and counters by name,
 * each with its help and the data points added in turn. A family with no data point is left out.
 * Not thread-safe: one per scrape.
 */
final class MetricFamilies {
  /** Each family's builder by name, in the order of the exposition. */
  private final Map<String, MetricSnapshot.Builder<?>> declared = new LinkedHashMap<>();

  private final Set<String> present = new HashSet<>();

  /** Declares a gauge (in the order of the exposition). */
  MetricFamilies gauge(String name, String text) {
    declared.put(name, GaugeSnapshot.builder().name(name).help(text));
    return this;
  }

  /** Declares a counter; {@code name} without the {@code _total} the exposition adds. */
  MetricFamilies counter(String name, String text) {
    declared.put(name, CounterSnapshot.builder().name(name).help(text));
    return this;
  }

  /** A value of a declared family, labelled {@code nameValuePairs} (name, value, ...). */
  void add(String name, double value, String... nameValuePairs) {
    Labels labels = Labels.of(nameValuePairs);
    MetricSnapshot.Builder<?> family = declared.get(name);
    if (family instanceof GaugeSnapshot.Builder g) {
      g.dataPoint(GaugeDataPointSnapshot.builder().value(value).labels(labels).build());
    } else if (family instanceof CounterSnapshot.Builder c) {
      c.dataPoint(CounterDataPointSnapshot.builder().value(value).labels(labels).build());
    } else {
      throw new IllegalArgumentException("undeclared metric " + name);
    }
    present.add(name);
  }

  MetricSnapshots build() {
    MetricSnapshots.Builder out = MetricSnapshots.builder();
    declared.forEach(
        (name, family) -> {
          if (present.contains(name)) {
            out.metricSnapshot(family.build());
          }
        });
    return out.build();
  }
}
