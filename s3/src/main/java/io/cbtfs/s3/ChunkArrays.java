package io.cbtfs.s3;

import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The chunk-sized arrays of one delivery, reused: a chunk's bytes, or its sealed form, take one
 * from here and give it back once uploaded. Why: a mount's sync runs in a 64 MiB heap, and a fresh
 * 1 MiB array per chunk (two when sealed) kept every in-flight chunk surviving young collections
 * into the old generation, which then filled every few chunks: a 2 GiB sync to S3 spent most of its
 * time in full collections. Made only when none is free, so there are about as many as chunks in
 * flight ({@link S3Store#CONNECTIONS}, and one more for each chunk being sealed). Thread-safe.
 */
final class ChunkArrays {
  private final int capacity;
  private final Queue<byte[]> free = new ConcurrentLinkedQueue<>();
  private final AtomicInteger made = new AtomicInteger();

  /**
   * @param capacity each array's length
   */
  ChunkArrays(int capacity) {
    this.capacity = capacity;
  }

  int capacity() {
    return capacity;
  }

  /** A free array of {@link #capacity} bytes (its content is left over from an earlier use). */
  byte[] take() {
    byte[] a = free.poll();
    if (a == null) {
      made.incrementAndGet();
      a = new byte[capacity];
    }
    return a;
  }

  /** Gives back {@code array} (null: nothing), which its taker no longer uses. */
  void giveBack(byte[] array) {
    if (array != null && array.length == capacity) {
      free.add(array);
    }
  }

  /** How many arrays were made: bounded by how many were in use at once, not by chunks. */
  int made() {
    return made.get();
  }
}
