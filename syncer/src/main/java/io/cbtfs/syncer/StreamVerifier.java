package io.cbtfs.syncer;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;

/**
 * Verifies a delta while it is being received: an {@link OutputStream} whose bytes a {@link
 * DeltaReader} checks on its own thread, so a receiver knows the whole delta is sound the moment
 * the last byte arrived, without reading it back. Memory is bounded by a short queue of chunks.
 * Use: write every byte, {@link #close}, then {@link #result}.
 */
public final class StreamVerifier extends BorrowingStream {
  private static final int QUEUED_CHUNKS = 8;

  /** Bytes of the stream, and what to do once the verifier has read them. */
  private record Chunk(ByteBuffer bytes, Runnable consumed) {}

  private static final Runnable NOTHING = () -> {};
  private static final Chunk END = new Chunk(ByteBuffer.allocate(0), NOTHING);

  private final BlockingQueue<Chunk> chunks = new ArrayBlockingQueue<>(QUEUED_CHUNKS);
  private final CompletableFuture<DeltaReader.Summary> result = new CompletableFuture<>();
  private boolean closed;

  public StreamVerifier(String source) {
    this(source, DeltaReader.FRAMING_ONLY); // sealed records pass unopened: no key here
  }

  /**
   * Also hands every verified record to {@code sink}, on the verifier's thread, as it arrives. The
   * whole delta is sound only once {@link #result} returned: a sink must not make anything visible
   * before that.
   */
  public StreamVerifier(String source, DeltaReader.RecordSink sink) {
    ChunkInput input = new ChunkInput();
    Threads.daemon("cbtfs-verify")
        .newThread(
            () -> {
              try {
                result.complete(DeltaReader.read(input, source, sink));
              } catch (Throwable e) {
                result.completeExceptionally(e);
              }
              input.close();
              giveBackQueued(); // unblocks a writer still feeding a stream already rejected
            })
        .start();
  }

  @Override
  public void copy(ByteBuffer bytes) throws IOException {
    if (acceptsMore(bytes.remaining())) {
      put(new Chunk(ByteBuffer.allocate(bytes.remaining()).put(bytes.duplicate()).flip(), NOTHING));
    }
  }

  /**
   * Hands the verifier {@code bytes} (position to limit) without copying them: {@code whenRead}
   * runs once it has read them, or has given up on the stream, and until then the caller must leave
   * them alone. A writer that stages into a few reused buffers lends each one this way.
   */
  @Override
  public void borrow(ByteBuffer bytes, Runnable whenRead) throws IOException {
    Runnable consumed = once(whenRead);
    boolean queued = false;
    try {
      if (acceptsMore(bytes.remaining())) {
        queued = put(new Chunk(bytes, consumed));
      }
    } finally {
      if (!queued) {
        consumed.run();
      }
    }
  }

  /** {@code r}, run at most once however often it is called (a buffer goes back once). */
  private static Runnable once(Runnable r) {
    java.util.concurrent.atomic.AtomicBoolean ran = new java.util.concurrent.atomic.AtomicBoolean();
    return () -> {
      if (ran.compareAndSet(false, true)) {
        r.run();
      }
    };
  }

  /** Whether {@code len} more bytes are to be queued; throws if the stream was rejected. */
  private boolean acceptsMore(int len) throws IOException {
    if (result.isDone()) {
      if (result.isCompletedExceptionally()) {
        result(); // rejected: stop the sender now, not after it sent (and we stored) the rest
      }
      if (len > 0) {
        throw new CorruptDeltaException("stream", "bytes after the trailer");
      }
      return false;
    }
    return len > 0;
  }

  /**
   * Queues a chunk; false if the verifier ended first (the chunk was not queued). A chunk queued
   * just as the verifier ended, after it gave back what was queued, is given back here.
   */
  private boolean put(Chunk chunk) throws IOException {
    try {
      while (!result.isDone()) {
        if (chunks.offer(chunk, 100, java.util.concurrent.TimeUnit.MILLISECONDS)) {
          if (result.isDone()) {
            giveBackQueued();
          }
          return true;
        }
      }
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while verifying");
    }
  }

  /** Once the verifier has ended: gives back every chunk still queued, each once. */
  private void giveBackQueued() {
    for (Chunk c; (c = chunks.poll()) != null; ) {
      c.consumed().run();
    }
  }

  /** Whether the verifier has already rejected the stream. */
  public boolean failed() {
    return result.isCompletedExceptionally();
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
    private Chunk current = new Chunk(ByteBuffer.allocate(0), NOTHING);

    private boolean fill() throws IOException {
      while (current != END && !current.bytes().hasRemaining()) {
        current.consumed().run();
        try {
          current = chunks.take();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted");
        }
      }
      return current != END;
    }

    @Override
    public int read() throws IOException {
      return fill() ? current.bytes().get() & 0xff : -1;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      if (!fill()) {
        return -1;
      }
      int n = Math.min(len, current.bytes().remaining());
      current.bytes().get(b, off, n);
      return n;
    }

    /** Gives back the chunk being read (the reader stopped inside it). */
    @Override
    public void close() {
      current.consumed().run();
      current = END;
    }
  }
}
