package io.cbtfs.tracker;

import java.util.concurrent.locks.ReentrantLock;

/**
 * Striped locks over the blocks of an image: block {@code b}'s stripe is {@code b} modulo the
 * stripe count. A run of blocks takes its stripes in ascending stripe order (a run that wraps past
 * the last stripe takes the low ones first), so two holders of runs never deadlock, and a run of as
 * many blocks as there are stripes takes them all.
 *
 * <p>Thread-safe.
 */
public final class BlockStripes {
  private final ReentrantLock[] locks;

  /** {@code count} stripes, a power of two. */
  public BlockStripes(int count) {
    if (count <= 0 || Integer.bitCount(count) != 1) {
      throw new IllegalArgumentException(count + " stripes: not a power of two");
    }
    locks = new ReentrantLock[count];
    for (int i = 0; i < count; i++) {
      locks[i] = new ReentrantLock();
    }
  }

  public int count() {
    return locks.length;
  }

  /** Locks the stripes of the blocks {@code [firstBlock, firstBlock + blockCount)}. */
  public Held lock(long firstBlock, long blockCount) {
    int n = (int) Math.min(Math.max(blockCount, 0), locks.length);
    int low = n == locks.length ? 0 : (int) (firstBlock & (locks.length - 1));
    Held held = new Held(low, n);
    held.forEach(true);
    return held;
  }

  /** The stripes of a run of blocks, held until closed (once; closing again does nothing). */
  public final class Held implements AutoCloseable {
    private final int low;
    private final int count;
    private boolean open = true;

    private Held(int low, int count) {
      this.low = low;
      this.count = count;
    }

    @Override
    public void close() {
      if (open) {
        open = false;
        forEach(false);
      }
    }

    private void forEach(boolean lock) {
      int end = low + count; // past the last stripe when the run wraps
      for (int s = 0; s < end - locks.length; s++) {
        act(s, lock); // the wrapped, low stripes: taken first, in ascending order
      }
      for (int s = low; s < Math.min(end, locks.length); s++) {
        act(s, lock);
      }
    }

    private void act(int stripe, boolean lock) {
      if (lock) {
        locks[stripe].lock();
      } else {
        locks[stripe].unlock();
      }
    }
  }
}
