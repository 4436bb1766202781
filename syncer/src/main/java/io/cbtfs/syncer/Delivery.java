package io.cbtfs.syncer;

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

  /**
   * The bytes that went to the target's storage, given the {@code streamed} bytes of the delta;
   * after {@link #commit}. The same for a replica, an archive or a receiver; the S3 target sends
   * only the chunks its store did not have, and its manifest.
   */
  default long wireBytes(long streamed) {
    return streamed;
  }

  /**
   * After {@link #commit}: what the target still has to finish (a journal it could not apply yet,
   * finished at its next use), for the sync's report; empty when nothing is.
   */
  default String warning() {
    return "";
  }

  /**
   * What the target kept of an earlier attempt that it may reuse in this delta, when the delivery
   * was begun with {@link Target#beginResuming}; null when nothing is kept (or asked).
   */
  default KeptAttempt kept() {
    return null;
  }

  /** Discards an uncommitted delivery. Idempotent. */
  @Override
  void close() throws IOException;
}
