package io.cbtfs.cli;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.OptionalDouble;

/** The Prometheus text exposition of a registry, and the value of one sample in it. */
record Exposition(String text) {
  static Exposition of(PrometheusRegistry registry) {
    return new Exposition(PrometheusTextFormatWriter.create().toDebugString(registry.scrape()));
  }

  /**
   * The value of the sample written exactly as {@code series} (name and labels as the exposition
   * spells them, e.g. {@code cbtfs_image_dirty_blocks{image="disk.img"}}), if there is one.
   */
  OptionalDouble value(String series) {
    for (String line : text.split("\n")) {
      if (line.startsWith(series + " ")) {
        return OptionalDouble.of(Double.parseDouble(line.substring(series.length() + 1).trim()));
      }
    }
    return OptionalDouble.empty();
  }

  /** {@link #value}, which must be there. */
  double of(String series) {
    return value(series)
        .orElseThrow(() -> new AssertionError("no sample " + series + " in:\n" + text));
  }
}
