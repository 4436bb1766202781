package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.Drain;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.roaringbitmap.RoaringBitmap;

/**
 * The records a target kept of an earlier failed attempt that a resumed sync may send as references
 * (docs/FORMAT.md, "Resume"): those of the attempt the tracker remembers for the target, lying in
 * what this sync sends and inside the image, none of whose blocks changed after that attempt's
 * drain (so they hold what the image holds at this sync's drain). Everything else is read and sent.
 */
final class ReusableRecords {
  private final KeptAttempt kept;

  /** The reusable records: each one's byte offset, and its index in {@code kept.records()}. */
  private final TreeMap<Long, Integer> byOffset;

  private final DirtySet notReused;

  private ReusableRecords(KeptAttempt kept, TreeMap<Long, Integer> byOffset, DirtySet notReused) {
    this.kept = kept;
    this.byOffset = byOffset;
    this.notReused = notReused;
  }

  /**
   * The kept records of {@code kept} this sync may reuse, or null when none: the target kept
   * nothing, or an attempt other than the one the tracker knows ({@code attempt}, null when it
   * knows none or cannot say what changed since).
   *
   * @param sent the blocks this sync sends
   * @param imageSize the image's size at this sync's drain
   */
  static ReusableRecords of(
      KeptAttempt kept, Drain.Attempt attempt, DirtySet sent, long imageSize) {
    if (kept == null || attempt == null || kept.generation() != attempt.generation()) {
      return null;
    }
    DirtySet changed = attempt.changedSince();
    BlockGeometry geometry = sent.geometry();
    TreeMap<Long, Integer> byOffset = new TreeMap<>();
    RoaringBitmap reused = new RoaringBitmap();
    List<KeptAttempt.KeptRecord> records = kept.records();
    for (int i = 0; i < records.size(); i++) {
      KeptAttempt.KeptRecord k = records.get(i);
      if (k.byteOffset() % geometry.blockSize() != 0 || k.end() > imageSize) {
        continue;
      }
      long first = geometry.blockIndex(k.byteOffset());
      long end = first + geometry.blockCount(k.byteLength());
      boolean unchanged = true;
      for (long b = first; b < end && unchanged; b++) {
        unchanged = sent.contains(b) && !changed.contains(b);
      }
      if (unchanged) {
        byOffset.put(k.byteOffset(), i);
        reused.add(first, end);
      }
    }
    return byOffset.isEmpty()
        ? null
        : new ReusableRecords(
            kept, byOffset, DirtySet.of(geometry, RoaringBitmap.andNot(sent.toBitmap(), reused)));
  }

  KeptAttempt kept() {
    return kept;
  }

  /** The blocks this sync sends that the reused records do not cover: those it reads. */
  DirtySet notReused() {
    return notReused;
  }

  /**
   * The index in {@code kept().records()} of the first reusable record at or after {@code from}
   * that ends by {@code to}; -1 if none.
   */
  int next(long from, long to) {
    Map.Entry<Long, Integer> e = byOffset.ceilingEntry(from);
    return e == null || kept.records().get(e.getValue()).end() > to ? -1 : e.getValue();
  }
}
