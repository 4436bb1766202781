package io.cbtfs.tracker;

/**
 * The blocks one sync took from a {@link DirtyTracker}. Exactly one of two endings: {@link
 * TrackedImage#commit} once the target holds every block (the blocks are then clean, the generation
 * recorded and saved), or {@link #close} without commit on any failure (the blocks are merged back
 * and stay dirty). {@code close} after {@code commit} is a no-op, so try-with-resources gives the
 * right behaviour on every path.
 */
public final class Drain implements AutoCloseable {
  private enum State {
    OPEN,
    COMMITTED,
    ABORTED
  }

  private final DirtyTracker tracker;
  private final long generation;
  private volatile DirtySet blocks;
  private State state = State.OPEN;

  Drain(DirtyTracker tracker, long generation) {
    this.tracker = tracker;
    this.generation = generation;
    this.blocks = DirtySet.empty(tracker.geometry());
  }

  void take(DirtySet taken) {
    this.blocks = taken;
  }

  /**
   * The generation this drain becomes when committed: a number no drain of this tracker had before
   * (the highest issued plus one), whether or not that one committed.
   */
  public long generation() {
    return generation;
  }

  /** The blocks taken. */
  public DirtySet blocks() {
    return blocks;
  }

  /**
   * Records that the target durably holds every taken block as generation {@link #generation()}.
   *
   * @throws IllegalStateException if already closed
   */
  synchronized void commit() {
    if (state != State.OPEN) {
      throw new IllegalStateException("drain already " + state.name().toLowerCase());
    }
    state = State.COMMITTED;
    tracker.finishDrain(this, true);
  }

  /** Merges the taken blocks back unless committed. Idempotent. */
  @Override
  public synchronized void close() {
    if (state == State.OPEN) {
      state = State.ABORTED;
      tracker.finishDrain(this, false);
    }
  }
}
