package io.cbtfs.syncer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;

/**
 * Verifies a delta while it is being received: an {@link OutputStream} whose bytes a {@link
 * DeltaReader} checks on its own thread, so a receiver knows the whole delta is sound the moment
 * the last byte arrived, without reading it back. Memory is bounded by a short queue of chunks.
 * Use: write every byte, {@link #close}, then {@link #result}.
 */
public final class StreamVerifier extends OutputStream {
  private static final byte[] END = new byte[0];
  private static final int QUEUED_CHUNKS = 8;

  private final BlockingQueue<byte[]> chunks = new ArrayBlockingQueue<>(QUEUED_CHUNKS);
  private final CompletableFuture<DeltaReader.Summary> result = new CompletableFuture<>();
  private boolean closed;

  public StreamVerifier(String source) {
    this(source, (kind, off, bytes, len) -> {});
  }

  /**
   * Also hands every verified record to {@code sink}, on the verifier's thread, as it arrives. The
   * whole delta is sound only once {@link #result} returned: a sink must not make anything visible
   * before that.
   */
  public StreamVerifier(String source, DeltaReader.RecordSink sink) {
    Thread t =
        new Thread(
            () -> {
              try {
                result.complete(DeltaReader.read(new ChunkInput(), source, sink));
              } catch (Throwable e) {
                result.completeExceptionally(e);
              }
              chunks.clear(); // unblock a writer still feeding a stream already rejected
            },
            "cbtfs-verify");
    t.setDaemon(true);
    t.start();
  }

  @Override
  public void write(int b) throws IOException {
    write(new byte[] {(byte) b}, 0, 1);
  }

  @Override
  public void write(byte[] b, int off, int len) throws IOException {
    if (result.isDone()) {
      if (result.isCompletedExceptionally()) {
        result(); // rejected: stop the sender now, not after it sent (and we stored) the rest
      }
      if (len > 0) {
        throw new CorruptDeltaException("stream", "bytes after the trailer");
      }
      return;
    }
    if (len == 0) {
      return;
    }
    put(Arrays.copyOfRange(b, off, off + len));
  }

  private void put(byte[] chunk) throws IOException {
    try {
      while (!result.isDone()) {
        if (chunks.offer(chunk, 100, java.util.concurrent.TimeUnit.MILLISECONDS)) {
          return;
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while verifying");
    }
  }

  /** Marks the end of the stream. */
  @Override
  public void close() throws IOException {
    if (!closed) {
      closed = true;
      put(END);
    }
  }

  /**
   * What the verified delta held; waits for the verifier to finish.
   *
   * @throws CorruptDeltaException if any check failed
   */
  public DeltaReader.Summary result() throws IOException {
    close();
    return Futures.await(result, "verifying");
  }

  /** The verifier's side: the queued chunks as one stream. */
  private final class ChunkInput extends InputStream {
    private byte[] current = new byte[0];
    private int pos;

    private boolean fill() throws IOException {
      while (current != END && pos == current.length) {
        try {
          current = chunks.take();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted");
        }
        pos = 0;
      }
      return current != END;
    }

    @Override
    public int read() throws IOException {
      return fill() ? current[pos++] & 0xff : -1;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      if (!fill()) {
        return -1;
      }
      int n = Math.min(len, current.length - pos);
      System.arraycopy(current, pos, b, off, n);
      pos += n;
      return n;
    }
  }
}
