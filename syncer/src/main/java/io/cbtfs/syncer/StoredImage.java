package io.cbtfs.syncer;

import java.io.Closeable;
import java.io.IOException;

/**
 * One stored generation of an image, read in place: any range, fetched and verified piece by piece,
 * through a shared {@link PieceCache}. Thread-safe.
 */
public final class StoredImage implements Closeable {
  /** Fetches, decodes and verifies one piece; throws naming the damaged object. */
  @FunctionalInterface
  public interface PieceSource {
    byte[] load(int piece) throws IOException;
  }

  /** Pieces loaded ahead of a sequential reader. */
  private static final int AHEAD_PIECES = 4;

  /** How far a read may start from where the last one ended and still count as sequential. */
  private static final long SEQUENTIAL_SLACK = 1 << 20;

  private final PieceMap map;
  private volatile long lastEnd = -1;
  private final PieceSource source;
  private final PieceCache cache;
  private final Closeable resources;

  /** {@code resources}: closed with the image (an open file, a client). */
  public StoredImage(PieceMap map, PieceSource source, PieceCache cache, Closeable resources) {
    this.map = map;
    this.source = source;
    this.cache = cache;
    this.resources = resources;
  }

  public long imageSize() {
    return map.imageSize();
  }

  /**
   * Reads {@code [byteOffset, byteOffset + byteLength)}, which lies inside the image, into {@code
   * into[0, byteLength)}: zeros where nothing is stored (no I/O), else the verified bytes of the
   * pieces that hold it.
   */
  public void read(long byteOffset, byte[] into, int byteLength) throws IOException {
    long end = byteOffset + byteLength;
    if (byteOffset < 0 || byteLength < 0 || end > map.imageSize()) {
      throw new IllegalArgumentException(
          "bytes " + byteOffset + "+" + byteLength + " outside the image of " + map.imageSize());
    }
    long at = byteOffset;
    for (int r = map.firstEndingAfter(byteOffset); at < end && r < map.rangeCount(); r++) {
      long start = map.start(r);
      if (start >= end) {
        break;
      }
      if (start > at) {
        java.util.Arrays.fill(into, (int) (at - byteOffset), (int) (start - byteOffset), (byte) 0);
        at = start;
      }
      int piece = map.piece(r);
      byte[] bytes = cache.get(new PieceCache.Key(this, piece), () -> source.load(piece));
      int from = (int) (map.offsetInPiece(r) + (at - start));
      int n = (int) (Math.min(end, map.end(r)) - at);
      if (from + n > bytes.length) {
        throw new IOException("piece " + piece + " is shorter than its index says");
      }
      System.arraycopy(bytes, from, into, (int) (at - byteOffset), n);
      at += n;
    }
    java.util.Arrays.fill(into, (int) (at - byteOffset), byteLength, (byte) 0);
    long last = lastEnd;
    lastEnd = end;
    if (last >= 0 && Math.abs(byteOffset - last) <= SEQUENTIAL_SLACK) {
      readAhead(end);
    }
  }

  /** Starts loading the pieces after {@code byteOffset}: one request per piece, not per read. */
  private void readAhead(long byteOffset) {
    int previous = -1;
    int queued = 0;
    for (int r = map.firstEndingAfter(byteOffset);
        r < map.rangeCount() && queued < AHEAD_PIECES;
        r++) {
      int piece = map.piece(r);
      if (piece != previous) {
        cache.prefetch(new PieceCache.Key(this, piece), () -> source.load(piece));
        previous = piece;
        queued++;
      }
    }
  }

  /**
   * The first offset at or after {@code byteOffset} where stored data ({@code hole} false) or a
   * zero range ({@code hole} true) starts; the image size if none.
   */
  public long next(long byteOffset, boolean hole) {
    int r = map.firstEndingAfter(byteOffset);
    if (!hole) {
      return r < map.rangeCount() ? Math.max(byteOffset, map.start(r)) : map.imageSize();
    }
    long at = byteOffset;
    for (; r < map.rangeCount() && map.start(r) <= at; r++) {
      at = Math.max(at, map.end(r));
    }
    return Math.min(at, map.imageSize());
  }

  @Override
  public void close() throws IOException {
    cache.dropAll(this);
    resources.close();
  }
}
