package io.cbtfs.syncer;

import io.cbtfs.tracker.TrackedImage;
import java.nio.file.Path;

/**
 * The image a sync reads: its tracking, which also saves the generations the sync issues and
 * commits, and its backing file (read directly, not through FUSE).
 */
public record SyncSource(TrackedImage image, Path backingFile) {}
