package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.CopyBeforeWrite;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.Drain;
import io.cbtfs.tracker.SnapshotBrokenException;
import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * A pull backup's frozen view of a served image (docs/ARCHITECTURE.md, "Pull backups"): a
 * point-in-time drain for a cursor whose consumer reads the image as it was at the drain, then says
 * done ({@link #commit}: the cursor moves to the drain's generation) or gives up ({@link #close}
 * alone: the cursor stays, the drained blocks stay lacking for it).
 *
 * <p>Every block of the image stays protected until the end: a write copies a block's old bytes to
 * the {@link Fleece} once, and no read clears a block's protection (a consumer may read a block
 * twice). A reader reads the image first and lays the copied blocks over it after ({@link
 * #overlay}): a write sets a block's copied bit before its bytes land, so a read that saw them sees
 * the bit. A copy that fails breaks the view: reads fail from then on, and so does the commit; the
 * guest's writes go on.
 *
 * <p>Thread safety: {@link #overlay} from any number of readers; {@link #commit} and {@link #close}
 * once each, from any thread.
 */
public final class PullBackup implements AutoCloseable {
  private enum State {
    OPEN,
    COMMITTED,
    ENDED
  }

  private final TrackedImage image;
  private final Fleece fleece;
  private final Drain drain;
  private final long size;
  private final DirtySet lacking;
  private volatile State state = State.OPEN;

  private PullBackup(TrackedImage image, Fleece fleece, Drain drain, long size) {
    this.image = image;
    this.fleece = fleece;
    this.drain = drain;
    this.size = size;
    this.lacking = drain.lacking(size);
  }

  /**
   * Takes the drain for {@code cursor} and protects the image from then on.
   *
   * @param backingFile the image's backing file, which the fleece copies from
   * @param pointInTime where the fleece goes and how much it may hold
   * @throws CbtfsException if a sync or another backup of the image runs
   */
  public static PullBackup begin(
      TrackedImage image, Path backingFile, String cursor, PointInTime pointInTime)
      throws IOException {
    BlockGeometry geometry = image.tracker().geometry();
    Fleece fleece = Fleece.open(backingFile, image.name(), geometry, pointInTime);
    try {
      Drain drain = image.beginBackup(cursor, new CopyBeforeWrite(fleece, 1));
      long size = fleece.sizeAtDrain() >= 0 ? fleece.sizeAtDrain() : image.knownSize();
      return new PullBackup(image, fleece, drain, size);
    } catch (IOException | RuntimeException e) {
      fleece.close();
      throw e;
    }
  }

  /** The cursor the consumer holds. */
  public String cursor() {
    return drain.target();
  }

  /** The generation the drain issued: the cursor's once committed. */
  public long generation() {
    return drain.generation();
  }

  /** The generation the cursor held at the drain; -1 if none. */
  public long base() {
    return drain.base();
  }

  /** Why the dirty bitmap holds what it holds. */
  public String why() {
    return switch (drain.basis()) {
      case HISTORY -> "the blocks changed since generation " + drain.base();
      case EMPTY -> "a new cursor: every block";
      default ->
          "what changed since generation "
              + drain.base()
              + " is not known (docs/OPERATIONS.md, \"Targets and their cursors\"): every block";
    };
  }

  /** The image's size at the drain: the view's size. */
  public long size() {
    return size;
  }

  public BlockGeometry geometry() {
    return lacking.geometry();
  }

  /**
   * What the consumer lacks at the drain: the blocks changed since its cursor's generation, or
   * every block when the history cannot say (a new cursor, one behind the history, a change no bit
   * records).
   */
  public DirtySet lacking() {
    return lacking;
  }

  /** Whether the old bytes of block {@code blockIndex} were copied aside (written since). */
  public boolean copied(long blockIndex) {
    return drain.toRead().copied(blockIndex);
  }

  /**
   * The first block of {@code [from, to)} copied aside, or -1 ({@link
   * io.cbtfs.tracker.ToReadSet#nextCopied}).
   */
  public long nextCopied(long from, long to) {
    return drain.toRead().nextCopied(from, to);
  }

  /**
   * Puts the drain's bytes over {@code data} (position 0 to its limit), which the caller has just
   * read from the image at {@code byteOffset}: the blocks written since come from the fleece.
   *
   * @throws SnapshotBrokenException if the view broke (a block may hold a newer write)
   * @throws EndedException if the backup ended (a write may have landed uncopied)
   */
  public void overlay(ByteBuffer data, long byteOffset) throws IOException {
    requireOpen();
    fleece.overlay(drain.toRead()::copied, byteOffset, data);
    requireIntact(); // after the read: a write that landed uncopied broke the view before it
    requireOpen();
  }

  /**
   * Fails if the view is gone: ended (the writes no longer copy) or broken.
   *
   * @throws EndedException once the backup ended
   * @throws SnapshotBrokenException once a copy failed
   */
  public void requireReadable() throws IOException {
    requireOpen();
    requireIntact();
  }

  private void requireOpen() throws EndedException {
    if (state != State.OPEN) {
      throw new EndedException(drain.target());
    }
  }

  private void requireIntact() throws SnapshotBrokenException {
    SnapshotBrokenException broken = drain.toRead().broken();
    if (broken != null) {
      throw broken;
    }
  }

  /**
   * The consumer holds the view: the cursor moves to the drain's generation and the state is saved;
   * the fleece goes.
   *
   * @throws SnapshotBrokenException if the view broke: nothing is committed (the backup is ended)
   * @throws IOException if the state could not be saved: the commit stands (as a sync's)
   */
  public void commit() throws IOException {
    synchronized (this) {
      if (state != State.OPEN) {
        throw new EndedException(drain.target());
      }
      state = State.ENDED; // reads fail from now on: the writes stop copying below
    }
    try (this) {
      requireIntact();
      image.commit(drain, size);
      state = State.COMMITTED;
    }
  }

  /** Whether the backup is still open (not ended, committed or not). */
  public boolean isOpen() {
    return state == State.OPEN;
  }

  /** Whether {@link #commit} succeeded. */
  public boolean committed() {
    return state == State.COMMITTED;
  }

  /** Ends the backup; without a commit the cursor stays. Idempotent. */
  @Override
  public void close() throws IOException {
    synchronized (this) {
      if (state == State.OPEN) {
        state = State.ENDED; // before the drain ends: a read that saw an uncopied write fails
      }
    }
    try (fleece) {
      drain.close(); // no-op after a commit
    }
  }

  /** A read of a backup that ended. */
  public static final class EndedException extends IOException {
    private static final long serialVersionUID = 1L;

    EndedException(String cursor) {
      super("the backup for " + cursor + " has ended");
    }
  }
}
