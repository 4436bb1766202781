package io.cbtfs.syncer;

/**
 * What a sync did.
 *
 * @param blocks dirty blocks sent
 * @param dataBytes image bytes those blocks hold
 * @param wireBytes bytes of the delta stream (header, records, trailer)
 * @param zeroRecords records sent as zero (no payload)
 * @param seconds wall time of the sync itself (not of the JVM around it)
 * @param base the generation the target held (-1: a full sync)
 * @param why what decided the blocks sent (the target empty, its generation in the history, or
 *     compared block by block and why)
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
    String warning,
    long base,
    String why) {

  public SyncReport {
    warning = warning == null ? "" : warning;
    why = why == null ? "" : why;
  }

  /** A report that does not say what the target held or why (base -1). */
  public SyncReport(
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
    this(
        target,
        generation,
        full,
        blocks,
        dataBytes,
        wireBytes,
        records,
        zeroRecords,
        seconds,
        warning,
        -1,
        "");
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
        warning.isEmpty() ? text : warning + "; " + text,
        base,
        why);
  }

  public double compressionRatio() {
    return wireBytes == 0 ? 1 : (double) dataBytes / wireBytes;
  }
}
