package io.cbtfs.tracker;

/**
 * One sync's start: the generation it issued and what its target lacks as far as the tracker knows.
 * Exactly one of two endings: {@link TrackedImage#commit} once the target holds every block (its
 * cursor moves to the generation, the state is saved), or {@link #close} without commit on any
 * failure. Nothing is merged back on failure: the taken blocks were sealed into the image's {@link
 * ChangeHistory} as this generation, and every target behind it is sent them. {@code close} after
 * {@code commit} is a no-op, so try-with-resources gives the right behaviour on every path.
 */
public final class Drain implements AutoCloseable {
  /** How the tracker knows what the target lacks. */
  public enum Basis {
    /** The target holds nothing (or the caller asked for everything): every block. */
    EMPTY,
    /** Its generation is in the history: exactly the blocks changed since. */
    HISTORY,
    /** In the history, but a change no dirty bit records happened since: compare every block. */
    VERIFY,
    /** Behind the oldest generation the history still knows: compare every block. */
    BEHIND,
    /** At a generation this tracker never issued: compare every block. */
    UNKNOWN
  }

  private enum State {
    OPEN,
    COMMITTED,
    ABORTED
  }

  private final TrackedImage image;
  private final String target;
  private final long generation;
  private final long base;
  private final Basis basis;
  private final long horizon;
  private final DirtySet blocks;
  private final ToReadSet toRead;
  private final boolean backup;
  private final Attempt attempt;
  private State state = State.OPEN;

  /**
   * The target's earlier sync that failed after the target took its start ({@link
   * TrackedImage#attempted}).
   *
   * @param generation the generation that attempt issued
   * @param changedSince every block that may have changed after that attempt's drain, up to this
   *     drain: the others hold what that attempt read
   */
  public record Attempt(long generation, DirtySet changedSince) {}

  /** Its target's cursor was forgotten while it ran (guarded by the image). */
  private boolean forgotten;

  Drain(
      TrackedImage image,
      String target,
      long generation,
      long base,
      Basis basis,
      long horizon,
      DirtySet blocks,
      ToReadSet toRead,
      boolean backup,
      Attempt attempt) {
    this.attempt = attempt;
    this.image = image;
    this.target = target;
    this.generation = generation;
    this.base = base;
    this.basis = basis;
    this.horizon = horizon;
    this.blocks = blocks;
    this.toRead = toRead;
    this.backup = backup;
  }

  /** Whether this is a pull backup's drain ({@link TrackedImage#beginBackup}), not a sync's. */
  public boolean isBackup() {
    return backup;
  }

  /**
   * What a consumer that cannot compare lacks: {@link #blocks} when the history vouches for its
   * generation, else every block of the image (of {@code imageByteSize} bytes at the drain). A pull
   * backup's dirty bitmap.
   */
  public DirtySet lacking(long imageByteSize) {
    return basis == Basis.HISTORY
        ? blocks.within(imageByteSize)
        : DirtySet.allOf(blocks.geometry(), imageByteSize);
  }

  /**
   * A point-in-time sync's blocks still to read, copied aside before a write changes them; null for
   * a sync that reads the image as it is ({@code --no-snapshot}).
   */
  public ToReadSet toRead() {
    return toRead;
  }

  /**
   * The target's earlier failed attempt, whose verified part it may have kept, and what changed
   * since; null when there is none or the history cannot say what changed since.
   */
  public Attempt attempt() {
    return attempt;
  }

  /** The target's name (its cursor). */
  public String target() {
    return target;
  }

  /**
   * The generation this sync makes of its target: a number no drain of this image had before (the
   * highest issued plus one), whether or not that one committed.
   */
  public long generation() {
    return generation;
  }

  /** The generation the target held when the sync started; -1 if it held nothing. */
  public long base() {
    return base;
  }

  public Basis basis() {
    return basis;
  }

  /** Whether the sync must compare every block with the target: the history cannot say. */
  public boolean mustCompare() {
    return basis == Basis.VERIFY || basis == Basis.BEHIND || basis == Basis.UNKNOWN;
  }

  /**
   * What the target lacks as far as the tracker knows: the blocks changed after its generation
   * (with {@link #mustCompare}, every block the tracker knows changed, to which the sync adds what
   * differs).
   */
  public DirtySet blocks() {
    return blocks;
  }

  /** Why this much is sent, for the sync report. */
  public String why() {
    return switch (basis) {
      case EMPTY -> "the target holds nothing of this image: every block";
      case HISTORY -> "the blocks changed since the target's generation " + base;
      case VERIFY ->
          "the image changed in a way no dirty bit records since the target's generation "
              + base
              + ": every block compared";
      case BEHIND ->
          "the target's generation "
              + base
              + " is older than the tracker's history (from "
              + horizon
              + "): every block compared";
      case UNKNOWN ->
          "the target's generation "
              + base
              + " was never issued by this tracker's history (its state put back from an"
              + " older copy, or the host rolled back?): every block compared, and every other"
              + " target's next sync compares too";
    };
  }

  void forget() {
    forgotten = true;
  }

  boolean forgotten() {
    return forgotten;
  }

  synchronized void commit() {
    if (state != State.OPEN) {
      throw new IllegalStateException("drain already " + state.name().toLowerCase());
    }
    state = State.COMMITTED;
  }

  synchronized boolean isOpen() {
    return state == State.OPEN;
  }

  /** Ends the sync without a commit: the target's cursor stays. Idempotent. */
  @Override
  public void close() {
    synchronized (this) {
      if (state != State.OPEN) {
        return;
      }
      state = State.ABORTED;
    }
    image.endSync(this);
  }
}
