package io.cbtfs.syncer;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What a sync did.
 *
 * @param blocks dirty blocks sent
 * @param dataBytes image bytes those blocks hold
 * @param wireBytes bytes of the delta stream (header, records, trailer)
 * @param zeroRecords records sent as zero (no payload)
 * @param seconds wall time of the sync itself (not of the JVM around it)
 * @param warning what went wrong after the target committed (empty if nothing): bookkeeping that
 *     failed once the data was synced, which does not fail the sync
 */
public record SyncReport(
    String target,
    long generation,
    boolean full,
    long blocks,
    long dataBytes,
    long wireBytes,
    long records,
    long zeroRecords,
    double seconds,
    String warning) {

  public SyncReport {
    warning = warning == null ? "" : warning;
  }

  /** This report with {@code text} added to its warning ("; " between two). */
  public SyncReport withWarning(String text) {
    return new SyncReport(
        target,
        generation,
        full,
        blocks,
        dataBytes,
        wireBytes,
        records,
        zeroRecords,
        seconds,
        warning.isEmpty() ? text : warning + "; " + text);
  }

  public double compressionRatio() {
    return wireBytes == 0 ? 1 : (double) dataBytes / wireBytes;
  }

  public Map<String, String> toFields() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("target", target);
    m.put("generation", Long.toString(generation));
    m.put("full", Boolean.toString(full));
    m.put("blocks", Long.toString(blocks));
    m.put("dataBytes", Long.toString(dataBytes));
    m.put("wireBytes", Long.toString(wireBytes));
    m.put("records", Long.toString(records));
    m.put("zeroRecords", Long.toString(zeroRecords));
    m.put("seconds", String.format(Locale.ROOT, "%.3f", seconds));
    m.put("warning", warning);
    return m;
  }

  public static SyncReport fromFields(Map<String, String> m) {
    return new SyncReport(
        m.get("target"),
        Long.parseLong(m.get("generation")),
        Boolean.parseBoolean(m.get("full")),
        Long.parseLong(m.get("blocks")),
        Long.parseLong(m.get("dataBytes")),
        Long.parseLong(m.get("wireBytes")),
        Long.parseLong(m.get("records")),
        Long.parseLong(m.get("zeroRecords")),
        Double.parseDouble(m.get("seconds")),
        m.getOrDefault("warning", ""));
  }
}
