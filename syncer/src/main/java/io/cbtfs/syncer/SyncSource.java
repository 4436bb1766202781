package io.cbtfs.syncer;

import io.cbtfs.tracker.TrackedImage;
import java.nio.file.Path;

/**
 * The image a sync reads: its tracking, which also saves the generations the sync issues and
 * commits, and its backing file (read directly, not through FUSE).
 *
 * @param pointInTime whether the sync sends the image as of its drain, protecting the blocks it has
 *     to read from later writes ({@link PointInTime#OFF} for an image nobody writes meanwhile, or
 *     {@code --no-snapshot})
 */
public record SyncSource(TrackedImage image, Path backingFile, PointInTime pointInTime) {
  /** A sync that reads each block as it is when read. */
  public SyncSource(TrackedImage image, Path backingFile) {
    this(image, backingFile, PointInTime.OFF);
  }
}
