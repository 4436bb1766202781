package io.cbtfs.tracker;

import java.time.Clock;
import java.time.Duration;

/**
 * How a mount tracks its images.
 *
 * @param geometry block size for images tracked for the first time
 * @param extentSize bytes per activity-log extent (power of two, at least the block size)
 * @param maxHotExtents bound of the activity log's hot set: the most a crash can cost to resync is
 *     {@code maxHotExtents * extentSize} bytes plus the saved bitmap
 * @param resetTracking replace corrupt state by "every block dirty" under a new lineage
 * @param cursors how long a target's cursor holds history, and the clock that says
 */
public record TrackingOptions(
    BlockGeometry geometry,
    int extentSize,
    int maxHotExtents,
    boolean resetTracking,
    Cursors cursors) {

  /** A cursor unused this long stops holding history: its target's next sync compares. */
  public static final Duration DEFAULT_CURSOR_MAX_AGE = Duration.ofDays(30);

  /**
   * @param maxAge a cursor unused for longer stops holding history
   * @param clock the time of a sync, for cursors (a test's own clock)
   */
  public record Cursors(Duration maxAge, Clock clock) {
    public static final Cursors DEFAULT = new Cursors(DEFAULT_CURSOR_MAX_AGE, Clock.systemUTC());

    public Cursors {
      if (maxAge.isNegative() || maxAge.isZero()) {
        throw new IllegalArgumentException("the cursor age must be positive");
      }
    }
  }

  public TrackingOptions(
      BlockGeometry geometry, int extentSize, int maxHotExtents, boolean resetTracking) {
    this(geometry, extentSize, maxHotExtents, resetTracking, Cursors.DEFAULT);
  }

  public TrackingOptions {
    if (Integer.bitCount(extentSize) != 1 || extentSize < geometry.blockSize()) {
      throw new IllegalArgumentException(
          "activity-log extent size must be a power of two and at least the block size ("
              + geometry
              + ")");
    }
    if (maxHotExtents < ActivityLog.MIN_MAX_HOT || maxHotExtents > 1 << 20) {
      throw new IllegalArgumentException("activity-log extents must be from 16 to 1048576");
    }
  }

  public static TrackingOptions defaults(BlockGeometry geometry) {
    return new TrackingOptions(
        geometry,
        Math.max(ActivityLog.DEFAULT_EXTENT_SIZE, geometry.blockSize()),
        ActivityLog.DEFAULT_MAX_HOT,
        false);
  }

  public TrackingOptions withReset(boolean reset) {
    return new TrackingOptions(geometry, extentSize, maxHotExtents, reset, cursors);
  }

  public TrackingOptions withCursors(Cursors policy) {
    return new TrackingOptions(geometry, extentSize, maxHotExtents, resetTracking, policy);
  }
}
