package io.cbtfs.syncer;

/**
 * Whether a sync of a served image is point-in-time, and where its fleece goes.
 *
 * @param store opens the fleece of a sync; null for a sync that reads the image as it is
 * @param limit how much the fleece may hold
 */
public record PointInTime(FleeceStore.Opener store, FleeceLimit limit) {
  /** No snapshot: the sync reads each block as it is when read ({@code --no-snapshot}). */
  public static final PointInTime OFF = new PointInTime(null, FleeceLimit.DEFAULT);

  public boolean on() {
    return store != null;
  }
}
