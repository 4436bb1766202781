package io.cbtfs.fs;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The table of open handles. A handle number ({@code fh}) is a slot index, so the read and write
 * paths find their {@link OpenImage} with one array read: no map, no boxing, no lock. Adding and
 * removing take the table lock; the slot array only grows.
 */
public final class OpenFiles {
  private static final VarHandle SLOTS = MethodHandles.arrayElementVarHandle(OpenImage[].class);

  private volatile OpenImage[] slots = new OpenImage[64];
  private int nextFree;
  private int openCount;

  /** Stores {@code image} and returns its handle number. */
  public synchronized long add(OpenImage image) {
    OpenImage[] s = slots;
    int slot = nextFree;
    while (slot < s.length && s[slot] != null) {
      slot++;
    }
    if (slot == s.length) {
      s = Arrays.copyOf(s, s.length * 2);
      slots = s;
    }
    SLOTS.setRelease(s, slot, image);
    nextFree = slot + 1;
    openCount++;
    return slot;
  }

  /**
   * The open image of handle {@code fh}.
   *
   * @throws ErrnoException EBADF for a handle that is not open
   */
  public OpenImage get(long fh) throws ErrnoException {
    OpenImage[] s = slots;
    OpenImage image = fh >= 0 && fh < s.length ? (OpenImage) SLOTS.getAcquire(s, (int) fh) : null;
    if (image == null) {
      throw new ErrnoException(Posix.EBADF, "handle " + fh + " is not open");
    }
    return image;
  }

  /** Removes and returns handle {@code fh}. */
  public synchronized OpenImage remove(long fh) throws ErrnoException {
    OpenImage image = get(fh);
    SLOTS.setRelease(slots, (int) fh, null);
    nextFree = Math.min(nextFree, (int) fh);
    if (--openCount == 0) {
      notifyAll();
    }
    return image;
  }

  /** Removes and returns every open handle (at unmount). */
  public synchronized List<OpenImage> removeAll() {
    List<OpenImage> all = new ArrayList<>();
    OpenImage[] s = slots;
    for (int i = 0; i < s.length; i++) {
      if (s[i] != null) {
        all.add(s[i]);
        SLOTS.setRelease(s, i, null);
      }
    }
    nextFree = 0;
    openCount = 0;
    notifyAll();
    return all;
  }

  /** How many handles are open. */
  public synchronized int openCount() {
    return openCount;
  }

  /**
   * Waits until no handle is open, or until {@code deadlineNanos} ({@link System#nanoTime}).
   *
   * @return whether none is open
   */
  public synchronized boolean awaitNoneOpen(long deadlineNanos) throws InterruptedException {
    while (openCount > 0) {
      long left = deadlineNanos - System.nanoTime();
      if (left <= 0) {
        return false;
      }
      TimeUnit.NANOSECONDS.timedWait(this, left);
    }
    return true;
  }
}
