package io.cbtfs.s3;

import io.cbtfs.syncer.BorrowingStream;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The stream an S3 delivery takes its delta through, into a {@link BorrowingStream} (the verifier):
 * a payload the sender lends (a sync's records) is lent on at once, no copy on the heap; bytes
 * written are gathered first into one reused batch of {@value #BATCH_BYTES} bytes, so a sender of
 * small pieces (a receiver reading a socket) hands over few. Why: a sync in a mount's 64 MiB heap
 * copied every 1 MiB of the delta into a new array, up to eight of them queued for the verifier,
 * beside the chunks in flight; the old generation filled and a 2 GiB sync spent most of its time in
 * full collections (docs/BENCHMARKS.md). Not thread-safe: one sender.
 */
final class BatchingStream extends BorrowingStream {
  static final int BATCH_BYTES = 1 << 20;

  private final BorrowingStream into;
  private final ByteBuffer batch = ByteBuffer.allocate(BATCH_BYTES);

  BatchingStream(BorrowingStream into) {
    this.into = into;
  }

  @Override
  public void copy(ByteBuffer bytes) throws IOException {
    ByteBuffer from = bytes.duplicate();
    while (from.hasRemaining()) {
      if (!batch.hasRemaining()) {
        flush();
      }
      int n = Math.min(from.remaining(), batch.remaining());
      batch.put(batch.position(), from, from.position(), n);
      batch.position(batch.position() + n);
      from.position(from.position() + n);
    }
  }

  @Override
  public void borrow(ByteBuffer bytes, Runnable giveBack) throws IOException {
    try {
      flush(); // what came before (the record's header) goes first
    } catch (IOException | RuntimeException | Error e) {
      giveBack.run();
      throw e;
    }
    into.borrow(bytes, giveBack);
  }

  /** Hands over what is gathered (a copy: the batch is reused at once). */
  @Override
  public void flush() throws IOException {
    if (batch.position() > 0) {
      into.copy(batch.flip());
      batch.clear();
    }
  }
}
