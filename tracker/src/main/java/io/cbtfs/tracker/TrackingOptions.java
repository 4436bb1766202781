package io.cbtfs.tracker;

/**
 * How a mount tracks its images.
 *
 * @param geometry block size for images tracked for the first time
 * @param extentSize bytes per activity-log extent (power of two, at least the block size)
 * @param maxHotExtents bound of the activity log's hot set: the most a crash can cost to resync is
 *     {@code maxHotExtents * extentSize} bytes plus the saved bitmap
 * @param resetTracking replace corrupt state by "every block dirty" under a new lineage
 */
public record TrackingOptions(
    BlockGeometry geometry, int extentSize, int maxHotExtents, boolean resetTracking) {

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
    return new TrackingOptions(geometry, extentSize, maxHotExtents, reset);
  }
}
