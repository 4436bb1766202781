package io.cbtfs.tracker;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.roaringbitmap.RoaringBitmap;
import org.roaringbitmap.RoaringBitmapWriter;

/**
 * The live dirty set of one image: an array of 64-bit words, one bit a block, split into pages so
 * that growth never copies a word that a marker may be setting. A page is allocated by the first
 * mark inside it: a guest writes the start and the end of its disk (the GPT and its backup) long
 * before the rest, and an image's tracking should cost the regions written, not its size.
 *
 * <p>{@link #mark} is lock-free: a volatile read of the word, and one atomic OR only when a bit is
 * still clear. A sync's drain ({@link #take}) takes the bits word by word with an atomic swap to
 * zero; a mark that lands after its word was taken sets its bit again and belongs to the next
 * generation. This is why the FUSE layer must mark <em>after</em> the backing write returns: the
 * drain reads a block only after taking its bit, so either it sees the new data or the bit is set
 * again. What was taken lives on in the image's {@link ChangeHistory}.
 *
 * <p>Thread safety: any number of concurrent markers; takes are serialised by the caller.
 */
public final class DirtyTracker {
  private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
  private static final VarHandle PAGES = MethodHandles.arrayElementVarHandle(long[][].class);
  private static final int PAGE_SHIFT = 10;
  private static final int PAGE_WORDS = 1 << PAGE_SHIFT;

  /** Blocks covered by one page: 2^16 blocks, 4 GiB of image at 64 KiB. */
  private static final int PAGE_BLOCK_SHIFT = PAGE_SHIFT + 6;

  private final BlockGeometry geometry;

  /**
   * Guards growth and the allocation of a page: a page is installed only into the current pages
   * array and growth copies that array, so no array ever has a page that a later one lacks.
   */
  private final Object growLock = new Object();

  /** Orders snapshots against takes: a snapshot sees a word before or after a take. */
  private final Object drainLock = new Object();

  /** Null where no block of the page was ever marked. */
  private volatile long[][] pages = new long[0][];

  /** Ranges of bulk operations in progress: dirty in every snapshot until they finish. */
  private final List<long[]> pinned = new ArrayList<>();

  public DirtyTracker(BlockGeometry geometry) {
    this.geometry = geometry;
  }

  public BlockGeometry geometry() {
    return geometry;
  }

  /**
   * Marks every block that overlaps {@code [byteOffset, byteOffset + byteLength)}. A zero length
   * marks nothing.
   *
   * @throws IllegalArgumentException on a negative offset or length
   * @throws CbtfsException if the range lies beyond the largest trackable image for this block size
   */
  public void mark(long byteOffset, long byteLength) {
    if (byteOffset < 0 || byteLength < 0 || byteOffset + byteLength < 0) {
      throw new IllegalArgumentException("bad range " + byteOffset + "+" + byteLength);
    }
    if (byteLength == 0) {
      return;
    }
    int shift = geometry.blockShift();
    markBlocks(byteOffset >>> shift, (byteOffset + byteLength - 1) >>> shift);
  }

  /** Marks blocks {@code [firstBlock, lastBlock]}, both inclusive. */
  private void markBlocks(long firstBlock, long lastBlock) {
    if (lastBlock >= BlockGeometry.MAX_BLOCK_COUNT) {
      throw new CbtfsException(
          "offset beyond the largest image trackable with " + geometry + " blocks");
    }
    long[][] p = pages;
    if ((lastBlock >>> PAGE_BLOCK_SHIFT) >= p.length) {
      p = grow(lastBlock);
    }
    long firstWord = firstBlock >>> 6;
    long lastWord = lastBlock >>> 6;
    for (long word = firstWord; word <= lastWord; word++) {
      long mask = -1L;
      if (word == firstWord) {
        mask &= -1L << (firstBlock & 63);
      }
      if (word == lastWord) {
        mask &= -1L >>> (63 - (lastBlock & 63));
      }
      int pageIndex = (int) (word >>> PAGE_SHIFT);
      long[] page = (long[]) PAGES.getAcquire(p, pageIndex);
      if (page == null) {
        page = newPage(pageIndex);
      }
      int index = (int) (word & (PAGE_WORDS - 1));
      if (((long) WORDS.getVolatile(page, index) & mask) != mask) {
        WORDS.getAndBitwiseOr(page, index, mask);
      }
    }
  }

  /**
   * Makes room for pages up to {@code lastBlock}'s (none allocated). Existing pages are shared,
   * never copied.
   */
  private long[][] grow(long lastBlock) {
    synchronized (growLock) {
      long[][] old = pages;
      int needed = (int) (lastBlock >>> PAGE_BLOCK_SHIFT) + 1;
      if (needed <= old.length) {
        return old;
      }
      long[][] grown = Arrays.copyOf(old, Math.max(needed, old.length * 2));
      pages = grown;
      return grown;
    }
  }

  /**
   * The page {@code pageIndex}, allocated if no mark has yet: in the current array, which every
   * later one copies (a marker holding an older array finds null there and comes here too).
   */
  private long[] newPage(int pageIndex) {
    synchronized (growLock) {
      long[][] p = pages;
      long[] page = p[pageIndex];
      if (page == null) {
        page = new long[PAGE_WORDS];
        PAGES.setRelease(p, pageIndex, page);
      }
      return page;
    }
  }

  /** Whether the block was marked since the last {@link #take}. */
  public boolean isDirty(long blockIndex) {
    return isLive(blockIndex);
  }

  private boolean isLive(long blockIndex) {
    if (blockIndex < 0) {
      return false;
    }
    long[][] p = pages;
    long word = blockIndex >>> 6;
    int pageIndex = (int) (word >>> PAGE_SHIFT);
    if (pageIndex >= p.length) {
      return false;
    }
    long[] page = (long[]) PAGES.getAcquire(p, pageIndex);
    if (page == null) {
      return false;
    }
    long bits = (long) WORDS.getVolatile(page, (int) (word & (PAGE_WORDS - 1)));
    return (bits & (1L << (blockIndex & 63))) != 0;
  }

  /**
   * The blocks marked since the last {@link #take}, and the ranges of bulk operations in progress
   * ({@link #pin}). A copy.
   */
  public DirtySet snapshot() {
    synchronized (drainLock) {
      RoaringBitmap live = collect(false);
      synchronized (pinned) {
        for (long[] r : pinned) {
          long first = r[0] >>> geometry.blockShift();
          long end =
              Math.min(
                  (r[0] + r[1] - 1 >>> geometry.blockShift()) + 1, BlockGeometry.MAX_BLOCK_COUNT);
          live.add(first, end);
        }
      }
      return new DirtySet(geometry, live);
    }
  }

  /**
   * Keeps {@code [byteOffset, byteOffset + byteLength)} in every snapshot until {@link #unpin}: a
   * bulk operation (a big truncate or fallocate) whose range a concurrent sync may drain before the
   * operation has even run must stay in the saved state until it is done.
   */
  public void pin(long byteOffset, long byteLength) {
    if (byteLength > 0) {
      synchronized (pinned) {
        pinned.add(new long[] {byteOffset, byteLength});
      }
    }
  }

  /** Ends one {@link #pin} of the same range. */
  public void unpin(long byteOffset, long byteLength) {
    synchronized (pinned) {
      for (int i = 0; i < pinned.size(); i++) {
        if (pinned.get(i)[0] == byteOffset && pinned.get(i)[1] == byteLength) {
          pinned.remove(i);
          return;
        }
      }
    }
  }

  public long dirtyBlockCount() {
    return snapshot().blockCount();
  }

  /**
   * Takes the marked blocks and leaves none: each word is swapped to zero atomically, so a mark
   * that lands meanwhile is either taken here or stays for the next take. The caller (a sync's
   * drain) records the taken blocks before anything can save a state without them.
   */
  public RoaringBitmap take() {
    synchronized (drainLock) {
      return collect(true);
    }
  }

  /**
   * Reads the live words in ascending order into a bitmap; with {@code clear} each nonzero word is
   * swapped to zero atomically, so a concurrent mark is either taken here or stays live.
   */
  private RoaringBitmap collect(boolean clear) {
    RoaringBitmapWriter<RoaringBitmap> writer = RoaringBitmapWriter.writer().get();
    long[][] p = pages;
    for (int pageIndex = 0; pageIndex < p.length; pageIndex++) {
      // a page allocated after this read holds marks that land after the walk: the next drain's
      long[] page = (long[]) PAGES.getAcquire(p, pageIndex);
      if (page == null) {
        continue;
      }
      for (int i = 0; i < PAGE_WORDS; i++) {
        long bits = (long) WORDS.getVolatile(page, i);
        if (bits == 0) {
          continue;
        }
        if (clear) {
          bits = (long) WORDS.getAndSet(page, i, 0L);
        }
        int base = ((pageIndex << PAGE_SHIFT) + i) << 6;
        while (bits != 0) {
          writer.add(base + Long.numberOfTrailingZeros(bits));
          bits &= bits - 1;
        }
      }
    }
    RoaringBitmap result = writer.get();
    result.runOptimize();
    return result;
  }

  /**
   * Marks every block of {@code set} (to restore state, and blocks a sync read past the image's
   * end).
   */
  public void markAll(DirtySet set) {
    if (!set.geometry().equals(geometry)) {
      throw new IllegalArgumentException("block size " + set.geometry() + " is not " + geometry);
    }
    set.forEachRun(Integer.MAX_VALUE, (first, count) -> markBlocks(first, first + count - 1));
  }
}
