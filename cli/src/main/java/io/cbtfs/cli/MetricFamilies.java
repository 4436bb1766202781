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
  private final Map<String, GaugeSnapshot.Builder> gauges = new LinkedHashMap<>();
  private final Map<String, CounterSnapshot.Builder> counters = new LinkedHashMap<>();
  private final Map<String, String> help = new LinkedHashMap<>();
  private final Set<String> present = new HashSet<>();

  /** Declares a gauge (in the order of the exposition). */
  MetricFamilies gauge(String name, String text) {
    gauges.put(name, GaugeSnapshot.builder().name(name).help(text));
    help.put(name, text);
    return this;
  }

  /** Declares a counter; {@code name} without the {@code _total} the exposition adds. */
  MetricFamilies counter(String name, String text) {
    counters.put(name, CounterSnapshot.builder().name(name).help(text));
    help.put(name, text);
    return this;
  }

  /** A value of a declared family, labelled {@code nameValuePairs} (name, value, ...). */
  void add(String name, double value, String... nameValuePairs) {
    Labels labels = Labels.of(nameValuePairs);
    GaugeSnapshot.Builder g = gauges.get(name);
    if (g != null) {
      g.dataPoint(GaugeDataPointSnapshot.builder().value(value).labels(labels).build());
      present.add(name);
      return;
    }
    CounterSnapshot.Builder c = counters.get(name);
    if (c == null) {
      throw new IllegalArgumentException("undeclared metric " + name);
    }
    c.dataPoint(CounterDataPointSnapshot.builder().value(value).labels(labels).build());
    present.add(name);
  }

  MetricSnapshots build() {
    MetricSnapshots.Builder out = MetricSnapshots.builder();
    for (String name : help.keySet()) {
      if (!present.contains(name)) {
        continue;
      }
      MetricSnapshot s =
          gauges.containsKey(name) ? gauges.get(name).build() : counters.get(name).build();
      out.metricSnapshot(s);
    }
    return out.build();
  }
}
