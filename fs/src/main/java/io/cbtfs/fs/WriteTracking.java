package io.cbtfs.fs;

import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;

/**
 * How {@link TrackingWrites} tells an image's tracking about a change: before the backing call and
 * after it. Every mount tracks with {@link #TRACKED}; a benchmark injects another one ({@link
 * io.cbtfs.fs.mount.Mount#start(io.cbtfs.fs.mount.MountOptions, WriteTracking)}) to measure what
 * the tracking costs, losing its guarantees.
 */
public interface WriteTracking {
  /** Intent before the change ({@link TrackedImage#beforeWrite}); throws to refuse it. */
  void beforeWrite(TrackedImage image, long byteOffset, long byteLength) throws IOException;

  /** The dirty bits once the backing call returned ({@link TrackedImage#afterWrite}). */
  void afterWrite(TrackedImage image, long byteOffset, long byteLength);

  /** The tracking: durable intent in the activity log, then the dirty bit. */
  WriteTracking TRACKED =
      new WriteTracking() {
        @Override
        public void beforeWrite(TrackedImage image, long byteOffset, long byteLength)
            throws IOException {
          image.beforeWrite(byteOffset, byteLength);
        }

        @Override
        public void afterWrite(TrackedImage image, long byteOffset, long byteLength) {
          image.afterWrite(byteOffset, byteLength);
        }
      };
}
