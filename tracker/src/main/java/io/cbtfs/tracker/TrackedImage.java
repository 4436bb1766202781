package io.cbtfs.tracker;

import java.io.IOException;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The tracking of one image while it is served: its live {@link DirtyTracker}, its {@link
 * ActivityLog}, its lineage, its saved state, and what recovery found when it was loaded.
 *
 * <p>The write path calls {@link #beforeWrite} before the backing write (durable intent, for
 * crashes) and {@link #afterWrite} once it returned (the in-memory bit, for concurrent drains).
 * Every successful {@code beforeWrite} must be followed by exactly one {@code afterWrite} of the
 * same range.
 *
 * <p>A sync calls {@link #beginSync} (the drain, with its generation saved before anything ships)
 * and, once its target durably holds the drained blocks, {@link #commit}: the tracker's one step
 * that makes them clean, records the generation and saves the state.
 */
public final class TrackedImage {
  private final UUID lineage;
  private final DirtyTracker tracker;
  private final Recovery recovery;
  private volatile String name;
  private volatile long knownSize;
  private final StateFiles files;
  private volatile ActivityLog log;
  private volatile boolean trackingOff;
  private volatile boolean detached;
  private volatile boolean verifyNextSync;

  /** Counts {@link #requireVerifiedSync} calls: one made during a sync survives its commit. */
  private final AtomicLong verifyRequests = new AtomicLong();

  /** {@link #verifyRequests} when the running sync drained. */
  private volatile long verifyRequestsAtDrain;

  TrackedImage(
      String name,
      UUID lineage,
      DirtyTracker tracker,
      Recovery recovery,
      long knownSize,
      StateFiles files) {
    this.name = name;
    this.files = files;
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
   * everything. Saved with the state until a sync that compared commits ({@link #commit}).
   */
  public boolean verifyNextSync() {
    return verifyNextSync;
  }

  /**
   * From now on the dirty set is not trusted: the next sync compares every block ({@link
   * #verifyNextSync}). For a change whose dirty bit may be lost (an Error struck part way through
   * the write path).
   */
  public void requireVerifiedSync() {
    verifyRequests.incrementAndGet();
    verifyNextSync = true;
  }

  /**
   * Starts a sync: takes the dirty set ({@link DirtyTracker#beginDrain}; new writes go to the next
   * generation) and saves the state with the generation it issues, so that after a crash that
   * number is never issued again for other contents (a target may hold it before the source
   * commits).
   *
   * @throws IOException if the state cannot be saved: the drain is closed, its blocks stay dirty
   */
  public Drain beginSync() throws IOException {
    verifyRequestsAtDrain = verifyRequests.get(); // before the drain: a later request is kept
    Drain drain = tracker.beginDrain();
    try {
      save();
    } catch (IOException | RuntimeException e) {
      drain.close();
      throw e;
    }
    return drain;
  }

  /**
   * Commits a generation: the target durably holds every block of {@code drain}. Its blocks become
   * clean, its generation the committed one, a sync that {@code compared} clears {@link
   * #verifyNextSync}, and the state is saved.
   *
   * @param drain from {@link #beginSync}, still open
   * @param imageByteSize the image size the sync shipped: blocks of the drain past it but inside
   *     the image's known size (a write that grew the image after the sync read its size) stay
   *     dirty for the next sync
   * @param compared whether the sync sent every block that differs from its target (a full or a
   *     verified sync)
   * @throws IOException only if the state could not be saved: the commit stands (the target holds
   *     the generation), and the saved state lags behind it, which a crash turns into blocks sent
   *     again, never into a lost one
   */
  public void commit(Drain drain, long imageByteSize, boolean compared) throws IOException {
    // inside the image as the write path knows it: past a shrink's end they would stay dirty
    tracker.markAll(drain.blocks().beyond(imageByteSize).within(knownSize));
    drain.commit();
    if (compared && verifyRequests.get() == verifyRequestsAtDrain) {
      verifyNextSync = false; // unless the dirty set lost a bit since this sync drained
    }
    save();
  }

  /** Saves the current dirty set, unclean: after a commit, to bound a crash, before an eviction. */
  void save() throws IOException {
    save(false, Fingerprint.UNKNOWN);
  }

  /**
   * Saves the state; {@code clean} with the backing file's {@code fingerprint} at a clean stop or
   * before serving. Nothing once detached: the name belongs to another file now.
   */
  void save(boolean clean, Fingerprint fingerprint) throws IOException {
    synchronized (this) {
      if (detached) {
        return;
      }
      // Snapshot before generation: a commit in between leaves the new generation with a
      // superset of its dirty set; the other order could pair an old generation with blocks a
      // commit already cleared, and a target still at that generation would miss them.
      DirtySet dirty = tracker.snapshot();
      long generation = tracker.committedGeneration();
      long issued = tracker.issuedGeneration();
      long size = fingerprint.size() >= 0 ? fingerprint.size() : knownSize;
      TrackerState state =
          new TrackerState(
              lineage,
              tracker.geometry(),
              size,
              generation,
              issued,
              clean,
              verifyNextSync,
              fingerprint,
              dirty);
      files.write(name, state);
    }
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

  void attach(ActivityLog activityLog) {
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
        save(); // the bits are durable before the operation starts
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
