package io.cbtfs.syncer.target;

import java.io.IOException;
import java.io.OutputStream;

/**
 * One delta on its way into a target. The sender writes the whole stream to {@link #stream}, then
 * calls {@link #commit}: the target verifies the delta, makes it durable, applies it and returns
 * only once the generation is acknowledged. {@link #close} without commit discards everything the
 * target received and leaves it as it was.
 */
public interface Delivery extends AutoCloseable {
  OutputStream stream();

  /**
   * Verifies, makes durable, applies; returns the generation the target now holds.
   *
   * @throws io.cbtfs.syncer.CorruptDeltaException if the delta fails verification (nothing changed)
   */
  long commit() throws IOException;

  /** Discards an uncommitted delivery. Idempotent. */
  @Override
  void close() throws IOException;
}
