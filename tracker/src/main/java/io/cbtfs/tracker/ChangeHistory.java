package io.cbtfs.tracker;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.TreeSet;
import org.roaringbitmap.RoaringBitmap;

/**
 * Which generation last changed each block, for every target of one image at once: what a target at
 * generation {@code g} lacks is the live dirty set plus {@link #since}{@code (g)}.
 *
 * <p>A drain seals the live set as generation {@code n} ({@link #seal}): its blocks leave the sets
 * of older generations and form set {@code n}, so the sets are disjoint and together hold each
 * block at most once, however many targets there are (a per-block stamp, stored as one compressed
 * bitmap per generation). A block's generation only ever goes up: merging two adjacent sets ({@link
 * #compact}) or dropping those no target needs widens what some target would be sent, never narrows
 * it. That is what keeps a failed sync harmless (its set stays, every target behind it still gets
 * its blocks) and a crash too (the saved history is at most older, so wider).
 *
 * <p>The history answers for generations from the {@link #horizon} (the oldest generation a target
 * that holds history is at) to the highest {@link #issued}; a target outside that range is compared
 * block by block ({@link #knows}). Cursors unused for longer than the policy's age stop holding
 * history. A change the tracker cannot bound (the image written while not served, an error in the
 * write path) asks every target below the next generation to be compared ({@link #requireVerify}).
 *
 * <p>Not thread-safe: its {@link TrackedImage} guards it.
 */
public final class ChangeHistory {
  /**
   * The highest generation a history issues or accepts from a target (2^62): far beyond any real
   * count of syncs, and room to add one without overflow.
   */
  public static final long MAX_GENERATION = 1L << 62;

  private final BlockGeometry geometry;
  private long issued;
  private long horizon;
  private long verifyBelow;
  private final TreeMap<Long, RoaringBitmap> changedIn = new TreeMap<>();
  private final Map<String, Cursor> cursors = new LinkedHashMap<>();

  /**
   * Per target, the generation of its newest sync that failed after the target took its delta's
   * start: kept apart (its set is not merged upward, nor pruned) so that the next sync to that
   * target can tell the blocks unchanged since that attempt ({@link #changedSince}), which the
   * target may have kept. Dropped when a sync to the target commits, or when it is forgotten.
   */
  private final Map<String, Cursor> attempts = new LinkedHashMap<>();

  /**
   * How an attempt is saved: as a cursor whose name is this prefix and its target's (no target's
   * canonical URI starts so), so the state file keeps its format and an older cbtfs reads it as one
   * more cursor, which holds the same history.
   */
  public static final String ATTEMPT_PREFIX = "resume-attempt ";

  /**
   * The numbers this history issued after the horizon, as ranges (first to last, inclusive): one
   * range per mount, since each load skips ahead ({@link #skipAhead}). A target at a number in
   * between was served by a history that is not this one (a state directory put back from a copy, a
   * host rolled back to a snapshot): what it holds cannot be told from the number.
   */
  private final TreeMap<Long, Long> issuedRanges = new TreeMap<>();

  /**
   * A history as saved.
   *
   * @param issued the highest generation a drain has taken, committed or not
   * @param horizon the oldest generation the history answers for
   * @param verifyBelow a target at a generation below this one is compared block by block
   * @param changedIn for each generation kept, the blocks it last changed (disjoint sets)
   * @param cursors the targets, in the order they first synced
   * @param issuedRanges the numbers issued after the horizon: ranges first to last (inclusive),
   *     ascending and apart
   */
  public record Saved(
      long issued,
      long horizon,
      long verifyBelow,
      NavigableMap<Long, DirtySet> changedIn,
      List<Cursor> cursors,
      NavigableMap<Long, Long> issuedRanges) {
    /** The cursors of targets, without the saved attempts ({@link #ATTEMPT_PREFIX}). */
    public List<Cursor> targetCursors() {
      return cursors.stream().filter(c -> !isAttempt(c)).toList();
    }

    public Saved {
      changedIn = new TreeMap<>(changedIn);
      cursors = List.copyOf(cursors);
      issuedRanges = new TreeMap<>(issuedRanges);
      if (horizon < 0
          || issued < horizon
          || issued > MAX_GENERATION
          || verifyBelow < 0
          || verifyBelow > issued + 1) {
        throw new IllegalArgumentException(
            "generations issued " + issued + ", horizon " + horizon + ", verify " + verifyBelow);
      }
      if (!changedIn.isEmpty()
          && (changedIn.firstKey() <= horizon || changedIn.lastKey() > issued)) {
        throw new IllegalArgumentException("a generation's changes outside the history");
      }
      long after = horizon;
      for (Map.Entry<Long, Long> r : issuedRanges.entrySet()) {
        if (r.getKey() <= after || r.getValue() < r.getKey() || r.getValue() > issued) {
          throw new IllegalArgumentException("issued generations out of order");
        }
        after = r.getValue() + 1; // apart: a range that touches the last one would be the same
      }
    }

    /** A history that issued every number from after the horizon to {@code issued}. */
    public Saved(
        long issued,
        long horizon,
        long verifyBelow,
        NavigableMap<Long, DirtySet> changedIn,
        List<Cursor> cursors) {
      this(issued, horizon, verifyBelow, changedIn, cursors, everyNumber(horizon, issued));
    }

    private static NavigableMap<Long, Long> everyNumber(long horizon, long issued) {
      TreeMap<Long, Long> all = new TreeMap<>();
      if (issued > horizon) {
        all.put(horizon + 1, issued);
      }
      return all;
    }

    /**
     * The history of a tracker that knew only one committed and one issued generation (format
     * versions 1 and 2: it issued every number in between).
     */
    public static Saved of(long committed, long issued, boolean verify) {
      return new Saved(issued, committed, verify ? issued + 1 : 0, new TreeMap<>(), List.of());
    }
  }

  public ChangeHistory(BlockGeometry geometry, Saved saved) {
    this.geometry = geometry;
    this.issued = saved.issued();
    this.horizon = saved.horizon();
    this.verifyBelow = saved.verifyBelow();
    saved.changedIn().forEach((g, set) -> changedIn.put(g, set.toBitmap()));
    for (Cursor c : saved.cursors()) {
      if (isAttempt(c)) {
        String target = c.target().substring(ATTEMPT_PREFIX.length());
        attempts.put(target, new Cursor(target, c.generation(), c.syncedAt()));
      } else {
        cursors.put(c.target(), c);
      }
    }
    issuedRanges.putAll(saved.issuedRanges());
  }

  /** A copy to save. */
  public Saved save() {
    TreeMap<Long, DirtySet> sets = new TreeMap<>();
    changedIn.forEach((g, set) -> sets.put(g, DirtySet.of(geometry, set.clone())));
    List<Cursor> saved = new ArrayList<>(cursors.values());
    for (Cursor a : attempts.values()) {
      saved.add(new Cursor(ATTEMPT_PREFIX + a.target(), a.generation(), a.syncedAt()));
    }
    return new Saved(issued, horizon, verifyBelow, sets, saved, issuedRanges);
  }

  private static boolean isAttempt(Cursor c) {
    return c.target().startsWith(ATTEMPT_PREFIX);
  }

  /**
   * Records that a sync to {@code target} issued {@code generation} and failed after the target
   * took its start: the target may keep what it verified of it. Replaces the target's earlier
   * attempt. Nothing for a name too long to save with the prefix.
   */
  public void attempted(String target, long generation, Instant now) {
    if (generation < 1 || generation > issued) {
      throw new IllegalArgumentException("generation " + generation + " was never issued");
    }
    if ((ATTEMPT_PREFIX + target).getBytes(java.nio.charset.StandardCharsets.UTF_8).length
        > TrackerState.MAX_TARGET_BYTES) {
      return;
    }
    attempts.put(target, new Cursor(target, generation, now));
    compact();
  }

  /** The generation of {@code target}'s failed attempt, if one is kept (-1: none). */
  public long attempt(String target) {
    Cursor a = attempts.get(target);
    return a == null ? -1 : a.generation();
  }

  /**
   * Every block that may have changed after generation {@code generation} was drained (the sets of
   * the later generations; the live set is the caller's), or null when the history cannot say: the
   * generation is behind the horizon or was never issued, or a change no dirty bit records happened
   * since.
   */
  public RoaringBitmap changedSince(long generation) {
    if (needsVerify(generation)) {
      return null;
    }
    return since(generation);
  }

  public long issued() {
    return issued;
  }

  public long horizon() {
    return horizon;
  }

  public long verifyBelow() {
    return verifyBelow;
  }

  /**
   * Whether the history says what a target at {@code generation} lacks: the horizon, or a number
   * this history issued after it.
   */
  public boolean knows(long generation) {
    return generation == horizon || (generation > horizon && wasIssued(generation));
  }

  /** How many numbers this history issued after {@code generation} (since its horizon). */
  public long issuedAfter(long generation) {
    long count = 0;
    for (Map.Entry<Long, Long> r : issuedRanges.tailMap(generation, true).entrySet()) {
      count += r.getValue() - Math.max(r.getKey(), generation + 1) + 1;
    }
    Map.Entry<Long, Long> straddling = issuedRanges.lowerEntry(generation);
    if (straddling != null && straddling.getValue() > generation) {
      count += straddling.getValue() - generation;
    }
    return count;
  }

  /** Whether this history issued {@code generation} after its horizon. */
  private boolean wasIssued(long generation) {
    Map.Entry<Long, Long> range = issuedRanges.floorEntry(generation);
    return range != null && range.getValue() >= generation;
  }

  /** Numbers the next {@link #seal} skips (not saved: each load of the state picks its own). */
  private long pendingSkip;

  /**
   * Makes the next {@link #seal} skip {@code by} numbers, issuing none of them: a mount does this
   * when it loads the state, so that the numbers it issues differ from those a run of the same
   * saved state issued before (the state put back from a copy, the host rolled back): a target that
   * holds one of those is then at a number this history never issued, and is compared instead of
   * sent a wrong delta. At the seal, not now: a load that syncs nothing changes nothing.
   */
  public void skipAheadAtNextSeal(long by) {
    if (by < 1 || issued + by >= MAX_GENERATION / 2) {
      throw new IllegalArgumentException("cannot skip " + by + " generations from " + issued);
    }
    pendingSkip = by;
  }

  /** Whether a target at {@code generation} must be compared block by block. */
  public boolean needsVerify(long generation) {
    return generation < verifyBelow || !knows(generation);
  }

  /**
   * Every target at a generation issued so far must be compared at its next sync: a change happened
   * that no dirty bit may record. A drain already taken counts as issued, so a sync that is running
   * does not clear it.
   */
  public void requireVerify() {
    verifyBelow = Math.max(verifyBelow, issued + 1);
  }

  /**
   * Issues numbers up to {@code generation}, which a target holds though this history never issued
   * it (its state was rolled back): no number a target may hold is issued again, and every target
   * at or below it is compared at its next sync (this history cannot say what those hold).
   */
  public void skipTo(long generation) {
    if (generation >= MAX_GENERATION) {
      throw new CbtfsException("generation " + generation + " is beyond any this tracker issues");
    }
    if (generation > issued) {
      issued = generation;
      verifyBelow = Math.max(verifyBelow, generation + 1);
    }
  }

  /**
   * Seals the blocks a drain took as the next generation.
   *
   * @return the generation issued
   */
  public long seal(RoaringBitmap taken) {
    if (issued + pendingSkip >= MAX_GENERATION) {
      throw new CbtfsException("no generation number is left to issue");
    }
    long generation = issued + pendingSkip + 1;
    pendingSkip = 0;
    if (!taken.isEmpty()) {
      List<Long> emptied = new ArrayList<>();
      for (Map.Entry<Long, RoaringBitmap> e : changedIn.entrySet()) {
        e.getValue().andNot(taken);
        if (e.getValue().isEmpty()) {
          emptied.add(e.getKey());
        }
      }
      emptied.forEach(changedIn::remove);
      changedIn.put(generation, taken.clone());
    }
    issued = generation;
    Map.Entry<Long, Long> last = issuedRanges.lastEntry();
    if (last != null && last.getValue() == generation - 1) {
      issuedRanges.put(last.getKey(), generation); // lastEntry() is a snapshot
    } else {
      issuedRanges.put(generation, generation);
    }
    compact();
    return generation;
  }

  /** The blocks changed after {@code generation} and sealed (a copy). */
  public RoaringBitmap since(long generation) {
    List<RoaringBitmap> sets = new ArrayList<>(changedIn.tailMap(generation, false).values());
    return RoaringBitmap.or(sets.iterator());
  }

  /** Every block the history holds: what the target furthest behind lacks beside the live set. */
  public RoaringBitmap all() {
    return RoaringBitmap.or(changedIn.values().iterator());
  }

  /**
   * The generations whose changes are kept: about the number of targets, never more than it + 1.
   */
  public int generationsKept() {
    return changedIn.size();
  }

  /** The targets, in the order they first synced. */
  public List<Cursor> cursors() {
    return List.copyOf(cursors.values());
  }

  /** The cursor of {@code target}, or null if it has none. */
  public Cursor cursor(String target) {
    return cursors.get(target);
  }

  /**
   * Records that {@code target} holds {@code generation}, then lets go of history no target needs.
   */
  public void commit(String target, long generation, Instant now, Duration maxAge) {
    if (generation < 1 || generation > issued) {
      throw new IllegalArgumentException("generation " + generation + " was never issued");
    }
    cursors.put(target, new Cursor(target, generation, now));
    attempts.remove(target); // the target holds a whole generation now: nothing kept to resume
    prune(now, maxAge);
  }

  /**
   * Drops the cursor of {@code target}, and its failed attempt if it has one.
   *
   * @return whether there was either
   */
  public boolean forget(String target, Instant now, Duration maxAge) {
    boolean had = cursors.remove(target) != null;
    had |= attempts.remove(target) != null; // a target whose first sync was cut has only this
    prune(now, maxAge);
    return had;
  }

  /** Whether {@code cursor} holds history: used within {@code maxAge} and not behind it already. */
  public boolean holdsHistory(Cursor cursor, Instant now, Duration maxAge) {
    return cursor.generation() >= horizon
        && cursor.generation() <= issued
        && !cursor.syncedAt().plus(maxAge).isBefore(now);
  }

  /**
   * Moves the horizon up to the oldest cursor that holds history (to the newest generation when
   * none does) and drops what no target at or after it needs.
   */
  private void prune(Instant now, Duration maxAge) {
    long oldest = issued;
    for (Cursor c : cursors.values()) {
      if (holdsHistory(c, now, maxAge)) {
        oldest = Math.min(oldest, c.generation());
      }
    }
    for (Cursor a : attempts.values()) { // an attempt holds its own set, within the same age
      if (holdsHistory(a, now, maxAge)) {
        oldest = Math.min(oldest, a.generation());
      }
    }
    horizon = Math.max(horizon, oldest);
    changedIn.headMap(horizon, true).clear();
    Map.Entry<Long, Long> straddling = issuedRanges.floorEntry(horizon);
    issuedRanges.headMap(horizon, true).clear();
    if (straddling != null && straddling.getValue() > horizon) {
      issuedRanges.put(horizon + 1, straddling.getValue());
    }
    compact();
  }

  /**
   * Merges each generation's set into the next kept one when no cursor sits between them: a target
   * at a generation in between would be sent the earlier set too (wider, never narrower), and no
   * known target is. Keeps the number of sets near the number of cursors.
   */
  private void compact() {
    TreeSet<Long> held = new TreeSet<>();
    cursors.values().forEach(c -> held.add(c.generation()));
    attempts.values().forEach(a -> held.add(a.generation()));
    Long k = changedIn.isEmpty() ? null : changedIn.firstKey();
    while (k != null) {
      Long next = changedIn.higherKey(k);
      if (next == null) {
        break;
      }
      Long cursorAt = held.ceiling(k);
      if (cursorAt == null || cursorAt >= next) {
        RoaringBitmap merged = changedIn.remove(k);
        merged.or(changedIn.get(next));
        changedIn.put(next, merged);
      }
      k = next;
    }
  }
}
