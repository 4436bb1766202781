package io.cbtfs.syncer;

import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where each byte of a stored image lives: sorted, non-overlapping ranges {@code [start, end)} of
 * the image, each at {@code offset} inside piece {@code piece} (a delta record, a chunk). A byte no
 * range covers is zero. Immutable; built by laying pieces over one another ({@link Builder}), as a
 * chain of deltas is applied.
 */
public final class PieceMap {
  private final long imageSize;
  private final long[] starts;
  private final long[] ends;
  private final int[] pieces;
  private final int[] offsets;

  private PieceMap(long imageSize, long[] starts, long[] ends, int[] pieces, int[] offsets) {
    this.imageSize = imageSize;
    this.starts = starts;
    this.ends = ends;
    this.pieces = pieces;
    this.offsets = offsets;
  }

  public long imageSize() {
    return imageSize;
  }

  /** The ranges mapped. */
  public int rangeCount() {
    return starts.length;
  }

  public long start(int range) {
    return starts[range];
  }

  public long end(int range) {
    return ends[range];
  }

  public int piece(int range) {
    return pieces[range];
  }

  /** Where range {@code range} starts inside its piece. */
  public int offsetInPiece(int range) {
    return offsets[range];
  }

  /** The first range that ends after {@code byteOffset} ({@link #rangeCount} if none). */
  public int firstEndingAfter(long byteOffset) {
    int i = Arrays.binarySearch(ends, byteOffset);
    return i >= 0 ? i + 1 : -i - 1;
  }

  /** Lays ranges over one another: what is laid later wins. */
  public static final class Builder {
    private record Range(long end, int piece, int offset) {}

    private final TreeMap<Long, Range> ranges = new TreeMap<>();

    /** Maps {@code [start, end)} to {@code piece} from {@code offset} on, over what was there. */
    public void lay(long start, long end, int piece, int offset) {
      clear(start, end);
      ranges.put(start, new Range(end, piece, offset));
    }

    /** Makes {@code [start, end)} zero. */
    public void clear(long start, long end) {
      if (start >= end) {
        return;
      }
      Map.Entry<Long, Range> before = ranges.lowerEntry(start);
      if (before != null && before.getValue().end() > start) {
        Range r = before.getValue();
        ranges.put(before.getKey(), new Range(start, r.piece(), r.offset()));
        if (r.end() > end) { // the new range lies inside it: keep its tail
          ranges.put(
              end, new Range(r.end(), r.piece(), (int) (r.offset() + (end - before.getKey()))));
          return;
        }
      }
      Map.Entry<Long, Range> e;
      while ((e = ranges.ceilingEntry(start)) != null && e.getKey() < end) {
        ranges.remove(e.getKey());
        Range r = e.getValue();
        if (r.end() > end) {
          ranges.put(end, new Range(r.end(), r.piece(), (int) (r.offset() + (end - e.getKey()))));
        }
      }
    }

    /** The image as {@code imageSize} bytes: what lies beyond is gone (and zero if it grows). */
    public void resize(long imageSize) {
      clear(imageSize, Long.MAX_VALUE);
    }

    public PieceMap build(long imageSize) {
      resize(imageSize);
      int n = ranges.size();
      long[] starts = new long[n];
      long[] ends = new long[n];
      int[] pieces = new int[n];
      int[] offsets = new int[n];
      int i = 0;
      for (Map.Entry<Long, Range> e : ranges.entrySet()) {
        starts[i] = e.getKey();
        ends[i] = e.getValue().end();
        pieces[i] = e.getValue().piece();
        offsets[i] = e.getValue().offset();
        i++;
      }
      return new PieceMap(imageSize, starts, ends, pieces, offsets);
    }
  }
}
