package io.cbtfs.cli;

import io.cbtfs.syncer.Printable;
import io.cbtfs.tracker.ChangeHistory;
import io.cbtfs.tracker.Cursor;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.StateRecovery;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackingOptions;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;

/**
 * One target of an image as {@code status} shows it: its cursor, and how far behind the image it
 * is. The JSON names are a contract for scripts.
 *
 * @param target the target's canonical URI, the name of its cursor
 * @param generation the generation it last acknowledged
 * @param syncedAt when that sync committed (milliseconds, as the state keeps it)
 * @param lagBlocks the blocks it lacks as far as the tracker knows; -1 when its next sync compares
 *     every block
 * @param lagBytes the bytes of those blocks; -1 likewise
 * @param secondsSinceSync since {@code syncedAt}
 * @param holdsHistory false once unused for longer than the cursor age (or behind the history):
 *     stale, the history it needs may go, and then its next sync compares every block
 */
record TargetStatus(
    String target,
    long generation,
    Instant syncedAt,
    long lagBlocks,
    long lagBytes,
    long secondsSinceSync,
    boolean holdsHistory) {

  TargetStatus {
    syncedAt = syncedAt.truncatedTo(ChronoUnit.MILLIS);
  }

  /** The targets of an image being served, as its tracker sees them at {@code now}. */
  static List<TargetStatus> of(List<TrackedImage.TargetLag> lags, Instant now) {
    List<TargetStatus> out = new ArrayList<>();
    for (TrackedImage.TargetLag lag : lags) {
      out.add(of(lag.cursor(), lag.lagBlocks(), lag.lagBytes(), now, lag.holdsHistory()));
    }
    return out;
  }

  /**
   * The targets of an image that is not served, from its saved state as recovery finds it: what a
   * target lacks is the recovered dirty set plus the history since its generation ({@link
   * StateRecovery.Recovered#lacks}).
   */
  static List<TargetStatus> saved(
      StateRecovery.Recovered recovered, long imageSize, TrackingOptions.Cursors policy) {
    ChangeHistory history = new ChangeHistory(recovered.dirty().geometry(), recovered.history());
    Instant now = policy.clock().instant();
    List<TargetStatus> out = new ArrayList<>();
    for (Cursor c : history.cursors()) {
      DirtySet lacks = recovered.lacks(c.generation());
      out.add(
          of(
              c,
              lacks == null ? -1 : lacks.within(imageSize).blockCount(),
              lacks == null ? -1 : lacks.byteCount(imageSize),
              now,
              history.holdsHistory(c, now, policy.maxAge())));
    }
    return out;
  }

  private static TargetStatus of(
      Cursor c, long lagBlocks, long lagBytes, Instant now, boolean holdsHistory) {
    long seconds = Math.max(0, Duration.between(c.syncedAt(), now).getSeconds());
    return new TargetStatus(
        c.target(), c.generation(), c.syncedAt(), lagBlocks, lagBytes, seconds, holdsHistory);
  }

  String toJson() {
    return "{\"target\":"
        + Json.quote(target)
        + ",\"generation\":"
        + generation
        + ",\"syncedAt\":"
        + Json.quote(syncedAt.toString())
        + ",\"lagBlocks\":"
        + lagBlocks
        + ",\"lagBytes\":"
        + lagBytes
        + ",\"secondsSinceSync\":"
        + secondsSinceSync
        + ",\"holdsHistory\":"
        + holdsHistory
        + "}";
  }

  /** One line: where it stands, what it lacks, and whether it is stale. */
  String toText() {
    return String.format(
        Json.NUMBERS,
        "target       %s: generation %d, synced %s (%s ago), %s%s",
        Printable.escaped(target),
        generation,
        syncedAt,
        Json.humanSeconds(secondsSinceSync),
        lagBlocks < 0
            ? "lacks unknown: next sync compares every block"
            : "lacks " + lagBlocks + " blocks, " + Json.humanBytes(lagBytes),
        holdsHistory
            ? ""
            : lagBlocks < 0
                ? "; holds no history (behind the history, or unused for longer than the cursor"
                    + " age)"
                : "; stale: holds no history (unused for longer than the cursor age), its next"
                    + " sync may compare every block");
  }
}
