package io.cbtfs.tracker;

import java.io.IOException;
import java.util.UUID;

/**
 * The tracking of one image while it is served: its live {@link DirtyTracker}, its {@link
 * ActivityLog}, its lineage, and what recovery found when it was loaded.
 *
 * <p>The write path calls {@link #beforeWrite} before the backing write (durable intent, for
 * crashes) and {@link #afterWrite} once it returned (the in-memory bit, for concurrent drains).
 * Every successful {@code beforeWrite} must be followed by exactly one {@code afterWrite} of the
 * same range.
 */
public final class TrackedImage {
  private final UUID lineage;
  private final DirtyTracker tracker;
  private final Recovery recovery;
  private volatile String name;
  private volatile long knownSize;
  private volatile ActivityLog log;
  private volatile ActivityLog.Evictions persister;
  private volatile boolean trackingOff;
  private volatile boolean detached;
  private volatile boolean verifyNextSync;

  TrackedImage(String name, UUID lineage, DirtyTracker tracker, Recovery recovery, long knownSize) {
    this.name = name;
    this.lineage = lineage;
    this.tracker = tracker;
    this.recovery = recovery;
    this.knownSize = knownSize;
  }

  public UUID lineage() {
    return lineage;
  }

  public DirtyTracker tracker() {
    return tracker;
  }

  /** What loading found: a clean state, a new image, or an unclean stop and what it cost. */
  public Recovery recovery() {
    return recovery;
  }

  public String name() {
    return name;
  }

  void rename(String newName) {
    this.name = newName;
  }

  /**
   * Whether the next sync must compare every block with its target: the image changed while not
   * mounted, or the activity log was damaged after an unclean stop, so the dirty set does not know
   * everything. Saved with the state until a sync clears it ({@link #verifiedSyncDone}).
   */
  public boolean verifyNextSync() {
    return verifyNextSync;
  }

  void requireVerifiedSync() {
    verifyNextSync = true;
  }

  /** A sync that compared every block with its target was committed. */
  public void verifiedSyncDone() {
    verifyNextSync = false;
  }

  /**
   * The image was deleted or replaced by a rename: its name now means another file, so writes
   * through handles still open on it need no tracking (and must not fail).
   */
  void detach() {
    trackingOff = true;
    detached = true;
  }

  boolean isDetached() {
    return detached;
  }

  void attach(ActivityLog activityLog, ActivityLog.Evictions durableBits) {
    this.persister = durableBits;
    this.log = activityLog;
  }

  ActivityLog log() {
    return log;
  }

  /** The image size last seen by the write path (for the saved state). */
  public long knownSize() {
    return knownSize;
  }

  /** Records the image's size after a truncate. */
  public void noteSize(long byteSize) {
    knownSize = byteSize;
  }

  /**
   * Before the backing write of {@code [byteOffset, byteOffset + byteLength)}: makes the extents it
   * touches durably hot in the activity log.
   *
   * @throws IOException if the intent cannot be made durable: the write must not happen
   */
  public void beforeWrite(long byteOffset, long byteLength) throws IOException {
    ActivityLog l = log;
    if (l == null || trackingOff) {
      return;
    }
    if (l.isBulk(byteOffset, byteLength)) {
      // Pinned: a sync that drains the range before the operation runs cannot clear it from the
      // saved state; the pin ends in afterWrite, after the mark that follows the operation.
      tracker.pin(byteOffset, byteLength);
      try {
        tracker.mark(byteOffset, byteLength);
        persister.persist(); // the bits are durable before the operation starts
      } catch (IOException | RuntimeException e) {
        tracker.unpin(byteOffset, byteLength);
        throw e;
      }
    } else {
      l.enter(byteOffset, byteLength);
    }
  }

  /** After the backing write of the range returned (or failed part way): marks its blocks. */
  public void afterWrite(long byteOffset, long byteLength) {
    if (trackingOff) {
      return;
    }
    try {
      tracker.mark(byteOffset, byteLength);
      long end = byteOffset + byteLength;
      if (end > knownSize) {
        knownSize = end; // a racing truncate corrects this in its noteSize, after its afterWrite
      }
    } finally {
      ActivityLog l = log;
      if (l != null) {
        if (l.isBulk(byteOffset, byteLength)) {
          tracker.unpin(byteOffset, byteLength);
        } else {
          l.exit(byteOffset, byteLength);
        }
      }
    }
  }

  /**
   * How the tracking of an image was loaded.
   *
   * @param kind what was found
   * @param resyncBlocks blocks marked dirty by recovery beyond the saved set
   * @param logExtents hot extents the activity log named (after an unclean stop)
   */
  public record Recovery(Kind kind, long resyncBlocks, long logExtents) {
    public enum Kind {
      NEW,
      CLEAN,
      UNCLEAN,
      /** Unclean, and a slot of the activity log was damaged (torn or rotten). */
      UNCLEAN_DAMAGED_LOG,
      CHANGED_OUTSIDE,
      RESET
    }

    /** Whether what was found leaves the dirty set unable to say what changed. */
    public boolean requiresVerifiedSync() {
      return kind == Kind.UNCLEAN_DAMAGED_LOG || kind == Kind.CHANGED_OUTSIDE;
    }

    public String describe() {
      return switch (kind) {
        case NEW -> "new image: tracking starts now";
        case CLEAN -> "clean";
        case UNCLEAN ->
            "recovered after an unclean stop: "
                + logExtents
                + " activity-log extents, "
                + resyncBlocks
                + " more blocks to resend";
        case UNCLEAN_DAMAGED_LOG ->
            "recovered after an unclean stop from a damaged activity log (a slot torn or "
                + "corrupt): "
                + logExtents
                + " extents of its other slot, "
                + resyncBlocks
                + " more blocks to resend, and the next sync compares every block with the "
                + "target and sends what differs";
        case CHANGED_OUTSIDE ->
            "the backing file changed while not mounted: the next sync "
                + "compares every block with the target and sends what differs";
        case RESET -> "tracking reset: " + resyncBlocks + " blocks to resend";
      };
    }
  }
}
