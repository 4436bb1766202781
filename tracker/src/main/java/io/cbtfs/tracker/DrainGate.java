package io.cbtfs.tracker;

import java.util.concurrent.CountDownLatch;

/**
 * Holds the writes that start while a point-in-time sync drains, from just before the dirty set is
 * taken until the sync's {@link ToReadSet} is published: without it, a write landing in between
 * would be neither in the drained set nor protected, and a target could get a later write without
 * an earlier one. The wait lasts the take and the building of the set (no I/O); the drain's instant
 * is the gate's closing.
 */
final class DrainGate implements WriteBarrier {
  private final CountDownLatch opened = new CountDownLatch(1);
  private volatile WriteBarrier next;

  @Override
  public void beforeWrite(long byteOffset, long byteLength) {
    boolean interrupted = false;
    while (true) {
      try {
        opened.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true; // a FUSE thread's write goes on; the interrupt stays for its owner
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    WriteBarrier n = next;
    if (n != null) {
      n.beforeWrite(byteOffset, byteLength);
    }
  }

  /** Lets the held writes go, through {@code after} (null: none, the sync did not start). */
  void open(WriteBarrier after) {
    next = after;
    opened.countDown();
  }
}
