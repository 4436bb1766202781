package io.cbtfs.syncer;

import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The image a sync reads: its tracking, its backing file (read directly, not through FUSE), and how
 * to make a committed generation durable in the tracking state.
 */
public record SyncSource(TrackedImage image, Path backingFile, Persister persister) {
  /** Saves the tracking state after a commit (TrackerStore.persist). */
  @FunctionalInterface
  public interface Persister {
    void persist(TrackedImage image) throws IOException;
  }
}
