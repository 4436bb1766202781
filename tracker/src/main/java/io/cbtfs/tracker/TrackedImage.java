package io.cbtfs.tracker;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.LongAdder;
import org.roaringbitmap.RoaringBitmap;

/**
 * The tracking of one image while it is served: its live {@link DirtyTracker}, its {@link
 * ActivityLog}, its lineage, its saved state, and what recovery found when it was loaded.
 *
 * <p>The write path calls {@link #beforeWrite} before the backing write (the old bytes of blocks a
 * point-in-time sync still has to read, copied aside; durable intent, for crashes) and {@link
 * #afterWrite} once it returned (the in-memory bit, for concurrent drains). Every successful {@code
 * beforeWrite} must be followed by exactly one {@code afterWrite} of the same range.
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

  /** Guarded by this: every target's generation and what changed since (the live set aside). */
  private final ChangeHistory history;

  private final TrackingOptions.Cursors cursorPolicy;

  /** The sync running, if one is: one at a time. Guarded by this. */
  private Drain running;

  /**
   * The running point-in-time sync's blocks still to read ({@link ToReadSet}), its drain's gate
   * ({@link DrainGate}), or null: what a write checks first (one volatile read when no such sync
   * runs). Written under this.
   */
  private volatile WriteBarrier barrier;

  /** Writes through the mount since this image was loaded, for its metrics (no lock). */
  private final LongAdder writeRequests = new LongAdder();

  private final LongAdder writtenBytes = new LongAdder();

  TrackedImage(
      String name,
      UUID lineage,
      DirtyTracker tracker,
      ChangeHistory history,
      Recovery recovery,
      long knownSize,
      StateFiles files,
      TrackingOptions.Cursors cursorPolicy) {
    this.name = name;
    this.files = files;
    this.lineage = lineage;
    this.tracker = tracker;
    this.history = history;
    this.recovery = recovery;
    this.knownSize = knownSize;
    this.cursorPolicy = cursorPolicy;
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
   * Whether the next sync of some target must compare every block: the image changed while not
   * mounted, the activity log was damaged after an unclean stop, or an error struck the write path,
   * since that target's generation. Saved with the state until each target's next sync commits.
   */
  public synchronized boolean verifyNextSync() {
    long below = history.verifyBelow();
    if (below <= history.horizon()) {
      return false;
    }
    List<Cursor> cursors = history.cursors();
    return cursors.isEmpty() || cursors.stream().anyMatch(c -> c.generation() < below);
  }

  /**
   * From now on the dirty set is not trusted: every target at a generation issued so far is
   * compared block by block at its next sync ({@link #verifyNextSync}), including the target of a
   * sync that is running. For a change whose dirty bit may be lost (an Error struck part way
   * through the write path).
   */
  public synchronized void requireVerifiedSync() {
    history.requireVerify();
  }

  /** The highest generation a sync has taken, committed or not. */
  public synchronized long issuedGeneration() {
    return history.issued();
  }

  /** The oldest generation whose changes the tracker still knows. */
  public synchronized long horizon() {
    return history.horizon();
  }

  /**
   * The newest generation a target acknowledged (0 before the first sync, or the oldest the history
   * knows when no target is recorded).
   */
  public synchronized long committedGeneration() {
    return history.cursors().stream().mapToLong(Cursor::generation).max().orElse(history.horizon());
  }

  /** The number of generations whose changes are kept (for status and benchmarks). */
  public synchronized int generationsKept() {
    return history.generationsKept();
  }

  /**
   * The blocks the target furthest behind lacks, as far as the history knows: the live set and
   * every sealed generation (all of them dirty for someone).
   */
  public synchronized DirtySet dirtyBlocks() {
    RoaringBitmap all = history.all();
    all.or(tracker.snapshot().toBitmap());
    return DirtySet.of(tracker.geometry(), all);
  }

  /**
   * One target as status shows it.
   *
   * @param lagBlocks the blocks it lacks as far as the tracker knows; -1 when its next sync
   *     compares every block
   * @param holdsHistory false once unused for longer than the cursor age (or behind the history):
   *     its next sync compares every block
   * @param generationsBehind syncs of the image (to any target, committed or not) since the
   *     target's generation, as far as the history records them (generation numbers skip ahead at
   *     each mount: their difference is no count)
   */
  public record TargetLag(
      Cursor cursor, long lagBlocks, long lagBytes, boolean holdsHistory, long generationsBehind) {}

  /** Every target with a cursor, in the order they first synced. */
  public synchronized List<TargetLag> targets() {
    List<TargetLag> out = new ArrayList<>();
    RoaringBitmap live = tracker.snapshot().toBitmap();
    java.time.Instant now = cursorPolicy.clock().instant();
    for (Cursor c : history.cursors()) {
      boolean holds = history.holdsHistory(c, now, cursorPolicy.maxAge());
      DirtySet set = lacks(c, live);
      long issuedAfter = history.issuedAfter(c.generation());
      out.add(
          set == null
              ? new TargetLag(c, -1, -1, holds, issuedAfter)
              : new TargetLag(c, set.blockCount(), set.byteCount(knownSize), holds, issuedAfter));
    }
    return out;
  }

  /**
   * What the target whose cursor is named {@code target} lacks: what its next sync sends (the live
   * set and the history since its generation).
   *
   * @return empty if it has no cursor, or if its next sync compares every block (what it lacks is
   *     not known)
   */
  public synchronized Optional<DirtySet> lacks(String target) {
    Cursor c = history.cursor(target);
    return c == null
        ? Optional.empty()
        : Optional.ofNullable(lacks(c, tracker.snapshot().toBitmap()));
  }

  /** What {@code cursor} lacks beside the {@code live} set; null if its next sync compares all. */
  private DirtySet lacks(Cursor cursor, RoaringBitmap live) {
    RoaringBitmap lacks = history.changedSince(cursor.generation());
    if (lacks == null) {
      return null;
    }
    lacks.or(live);
    return new DirtySet(tracker.geometry(), lacks);
  }

  /**
   * Drops the cursor of {@code target}: it no longer holds history, and its next sync (if any)
   * compares every block unless its generation is still in the history.
   *
   * @return whether there was one
   */
  public synchronized boolean forget(String target) throws IOException {
    boolean had = history.forget(target, cursorPolicy.clock().instant(), cursorPolicy.maxAge());
    if (running != null && running.target().equals(target)) {
      had = true;
      running.forget(); // its commit must not record the cursor again
    }
    if (had) {
      save();
    }
    return had;
  }

  /**
   * Starts a sync to {@code target}, which holds {@code targetGeneration} (-1: nothing, or it is to
   * be overwritten): takes the live dirty set and seals it as the next generation ({@link
   * ChangeHistory#seal}; new writes go to the one after), works out what the target lacks, and
   * saves the state with the generation it issued, so that after a crash that number is never
   * issued again for other contents (a target may hold it before the source commits).
   *
   * @throws CbtfsException if a sync of this image is already running
   * @throws IOException if the state cannot be saved: nothing is lost (the taken blocks are in the
   *     history in memory, dirty for every target), the sync does not start
   */
  public synchronized Drain beginSync(String target, long targetGeneration) throws IOException {
    return beginSync(target, targetGeneration, null);
  }

  /**
   * {@link #beginSync(String, long)}, point-in-time when {@code copyBeforeWrite} is not null: at
   * the drain, every block the sync may read (what the target lacks; every block of the image when
   * it sends or compares them all) becomes {@link ToReadSet pending}, and from then on a write
   * copies a pending block's old bytes to the copy-before-write's saver before it lands. The drain
   * is the instant the set is published: a write that starts later is not in the sync.
   */
  public synchronized Drain beginSync(
      String target, long targetGeneration, CopyBeforeWrite copyBeforeWrite) throws IOException {
    return begin(target, targetGeneration, copyBeforeWrite, false);
  }

  /**
   * Starts a pull backup for the cursor {@code cursor}: a point-in-time drain whose consumer holds
   * the cursor's generation (nothing, for a cursor this image does not have: it lacks every block).
   * Unlike a sync's, every block of the image is protected until the drain ends, since the consumer
   * may read any block, and more than once ({@link Drain#lacking} is what it is told it lacks).
   * {@link #commit} moves the cursor; closing the drain without one leaves it where it was.
   *
   * @throws CbtfsException if a sync or another backup of this image runs (one drain at a time)
   */
  public synchronized Drain beginBackup(String cursor, CopyBeforeWrite copyBeforeWrite)
      throws IOException {
    Cursor held = history.cursor(cursor);
    return begin(cursor, held == null ? -1 : held.generation(), copyBeforeWrite, true);
  }

  private Drain begin(
      String target, long targetGeneration, CopyBeforeWrite copyBeforeWrite, boolean backup)
      throws IOException {
    Drain.Basis basis = admit(target, targetGeneration);
    DrainGate gate = copyBeforeWrite == null ? null : closeGate();
    Drain drain;
    try {
      drain = take(target, targetGeneration, basis, copyBeforeWrite, gate, backup);
    } finally {
      reopen(gate);
    }
    return started(drain);
  }

  /**
   * The first step of a sync's start, under this: refuses a second sync of the image and a target
   * generation no tracker issues, and says how the tracker knows what the target lacks.
   */
  Drain.Basis admit(String target, long targetGeneration) {
    if (running != null) {
      throw new CbtfsException(
          running.isBackup()
              ? "a pull backup of this image is open (cursor "
                  + running.target()
                  + "): one drain at a time, end it first"
              : "a sync of this image is already running");
    }
    new Cursor(target, 0, java.time.Instant.EPOCH); // a name its commit can record, checked now
    Drain.Basis basis;
    if (targetGeneration >= ChangeHistory.MAX_GENERATION / 2) {
      throw new CbtfsException(
          target
              + " says it holds generation "
              + targetGeneration
              + ", beyond any a tracker issues: refusing (sync with --full to overwrite it)");
    }
    if (targetGeneration < 0) {
      basis = Drain.Basis.EMPTY;
    } else if (targetGeneration < history.horizon()) {
      basis = Drain.Basis.BEHIND;
    } else if (!history.knows(targetGeneration)) {
      basis = Drain.Basis.UNKNOWN; // never issued by this history: another run's, or the future
    } else if (history.needsVerify(targetGeneration)) {
      basis = Drain.Basis.VERIFY;
    } else {
      basis = Drain.Basis.HISTORY;
    }
    if (basis == Drain.Basis.UNKNOWN) {
      // A rolled-back state: other targets may hold what this history never saw (the image may
      // have moved on with the lost run), so every one of them is compared too
      if (targetGeneration > history.issued()) {
        history.skipTo(targetGeneration);
      } else {
        history.requireVerify();
      }
    }
    return basis;
  }

  /**
   * The drain's instant, under this: a write that starts from now on waits at the returned gate
   * until {@link #take} publishes the set it passes (or {@link #reopen} lets it go).
   */
  DrainGate closeGate() {
    DrainGate gate = new DrainGate();
    barrier = gate;
    return gate;
  }

  /**
   * Lets the writes held at {@code gate} go if {@link #take} did not publish a set: the sync did
   * not start. Nothing for a null gate or one already open.
   */
  void reopen(DrainGate gate) {
    if (gate != null && barrier == gate) {
      barrier = null;
      gate.open(null);
    }
  }

  /**
   * The take, under this: the live set sealed as the next generation, what the target lacks worked
   * out, and for a point-in-time sync its {@link ToReadSet} published through {@code gate} (the
   * held writes go on through it). No I/O but the fleece's size of the image: the writes wait.
   */
  Drain take(
      String target,
      long targetGeneration,
      Drain.Basis basis,
      CopyBeforeWrite copyBeforeWrite,
      DrainGate gate,
      boolean backup) {
    long generation = history.seal(tracker.take());
    long from =
        basis == Drain.Basis.HISTORY || basis == Drain.Basis.VERIFY
            ? targetGeneration
            : history.horizon();
    DirtySet blocks = new DirtySet(tracker.geometry(), history.since(from)); // since's own bitmap
    Drain drain =
        new Drain(
            this,
            target,
            generation,
            targetGeneration,
            basis,
            history.horizon(),
            blocks,
            copyBeforeWrite == null
                ? null
                : protect(backup || basis != Drain.Basis.HISTORY, blocks, copyBeforeWrite),
            backup,
            attemptBefore(target));
    if (gate != null) {
      barrier = drain.toRead();
      gate.open(barrier); // before the save: the writes wait for no I/O
    }
    return drain;
  }

  /**
   * The last step, under this: the state saved with the generation the drain issued, and the sync
   * running. If the save fails the sync does not start (its taken blocks stay in the history).
   */
  Drain started(Drain drain) throws IOException {
    try {
      save();
    } catch (IOException | RuntimeException e) {
      abandon(drain);
      throw e;
    }
    running = drain;
    return drain;
  }

  /** A drain taken that will not run (a save failed, or another of its group's did). */
  void abandon(Drain drain) {
    if (running == drain) {
      running = null;
    }
    if (barrier == drain.toRead()) {
      barrier = null; // no sync: writes need no copy
    }
  }

  /**
   * The target's earlier failed attempt and the blocks changed since its drain, as of this drain
   * (whose blocks are sealed already: the live set is empty); null when there is none or the
   * history cannot say.
   */
  private Drain.Attempt attemptBefore(String target) {
    long attempt = history.attempt(target);
    RoaringBitmap changed = attempt < 0 ? null : history.changedSince(attempt);
    return changed == null
        ? null
        : new Drain.Attempt(attempt, new DirtySet(tracker.geometry(), changed));
  }

  /**
   * Records that the target of {@code drain}, still open, took its delta's start: if the sync fails
   * from here on, the target may keep a verified part of it, and the next sync to it needs to know
   * which blocks did not change since this drain ({@link Drain#attempt}). Saves the state, so that
   * a sender killed meanwhile still knows it.
   */
  public synchronized void attempted(Drain drain) throws IOException {
    if (!drain.isOpen() || drain.forgotten()) {
      return;
    }
    history.attempted(drain.target(), drain.generation(), cursorPolicy.clock().instant());
    save();
  }

  /**
   * The blocks a point-in-time drain's consumer may read: the drain's {@code blocks}, and with
   * {@code everyBlock} every block of the image too (a sync that sends or compares them all, or a
   * pull backup, whose consumer may read any block). Built while the writes wait at the gate: from
   * the drain's set, not from the history again.
   */
  private ToReadSet protect(boolean everyBlock, DirtySet blocks, CopyBeforeWrite cbw) {
    // the file's size too: a growing write in flight at the drain may have extended the file
    // before its afterWrite raised knownSize, and the sync sends the file's size
    long size = Math.max(knownSize, cbw.saver().imageBytesAtDrain());
    DirtySet read = everyBlock ? DirtySet.allOf(tracker.geometry(), size).union(blocks) : blocks;
    return ToReadSet.of(
        tracker.geometry(), read.alignedTo(cbw.granuleBlocks()).toBitmap(), cbw.saver());
  }

  /**
   * Commits a generation: the target durably holds every block of {@code drain}. Its cursor moves
   * to the drain's generation, history no target needs any more goes, and the state is saved.
   *
   * @param drain from {@link #beginSync}, still open
   * @param imageByteSize the image size the sync shipped: blocks of the drain past it but inside
   *     the image's known size (a write that grew the image after the sync read its size) stay
   *     dirty for the next sync
   * @throws IOException only if the state could not be saved: the commit stands (the target holds
   *     the generation), and the saved state lags behind it, which a crash turns into blocks sent
   *     again, never into a lost one
   */
  public synchronized void commit(Drain drain, long imageByteSize) throws IOException {
    drain.commit();
    running = null;
    barrier = null;
    // inside the image as the write path knows it: past a shrink's end they would stay dirty
    tracker.markAll(drain.blocks().beyond(imageByteSize).within(knownSize));
    if (!drain.forgotten()) { // forgotten while it ran: the operator's word stands
      history.commit(
          drain.target(),
          drain.generation(),
          cursorPolicy.clock().instant(),
          cursorPolicy.maxAge());
    }
    save();
  }

  /** A sync ended without a commit. */
  synchronized void endSync(Drain drain) {
    if (running == drain) {
      running = null;
      barrier = null;
    }
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
      DirtySet dirty = tracker.snapshot();
      long size = fingerprint.size() >= 0 ? fingerprint.size() : knownSize;
      TrackerState state =
          new TrackerState(
              lineage, tracker.geometry(), size, clean, fingerprint, dirty, history.save());
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

  /**
   * Counts a write request of {@code byteLength} bytes that reached the backing file (for metrics;
   * not a tracking step: the dirty bits are {@link #afterWrite}'s).
   */
  public void countWrite(long byteLength) {
    writeRequests.increment();
    writtenBytes.add(byteLength);
  }

  /** Write requests counted by {@link #countWrite} since the image was loaded. */
  public long writeRequests() {
    return writeRequests.sum();
  }

  /** Bytes of the write requests counted by {@link #countWrite} since the image was loaded. */
  public long writtenBytes() {
    return writtenBytes.sum();
  }

  /**
   * The activity log's durable writes (each an fdatasync) since the image was loaded: the cost of
   * writes into cold extents. 0 before the log is attached.
   */
  public long activityLogFsyncs() {
    ActivityLog l = log;
    return l == null ? 0 : l.durableWrites();
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
    WriteBarrier b = barrier;
    if (b != null) { // a point-in-time sync runs: its blocks' old bytes go aside first
      b.beforeWrite(byteOffset, byteLength);
    }
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
