package io.cbtfs.tracker;

import java.util.UUID;

/**
 * The tracking of one image while it is served: its live {@link DirtyTracker}, its lineage, and
 * what recovery found when it was loaded.
 *
 * <p>The write path calls {@link #beforeWrite} before the backing write (durable intent, for
 * crashes) and {@link #afterWrite} once it returned (the in-memory bit, for concurrent drains).
 */
public final class TrackedImage {
  private final UUID lineage;
  private final DirtyTracker tracker;
  private final Recovery recovery;

  TrackedImage(UUID lineage, DirtyTracker tracker, Recovery recovery) {
    this.lineage = lineage;
    this.tracker = tracker;
    this.recovery = recovery;
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

  /** Called before the backing write of {@code [byteOffset, byteOffset + byteLength)}. */
  public void beforeWrite(long byteOffset, long byteLength) {
    // The activity log hooks in here; without it an unclean stop resyncs the whole image.
  }

  /** Called after the backing write of the range returned (or failed part way). */
  public void afterWrite(long byteOffset, long byteLength) {
    tracker.mark(byteOffset, byteLength);
  }

  /**
   * How the tracking of an image was loaded.
   *
   * @param kind what was found
   * @param resyncBlocks blocks marked dirty by recovery beyond the persisted set
   */
  public record Recovery(Kind kind, long resyncBlocks) {
    public enum Kind {
      NEW,
      CLEAN,
      UNCLEAN,
      RESET
    }

    public String describe() {
      return switch (kind) {
        case NEW -> "new image: tracking starts now";
        case CLEAN -> "clean";
        case UNCLEAN -> "recovered after an unclean stop: " + resyncBlocks + " blocks to resend";
        case RESET -> "tracking reset: " + resyncBlocks + " blocks to resend";
      };
    }
  }
}
