package io.cbtfs.syncer.local;

import io.cbtfs.syncer.BorrowingStream;
import io.cbtfs.syncer.Futures;
import io.cbtfs.syncer.NativeFile;
import io.cbtfs.syncer.StreamVerifier;
import io.cbtfs.syncer.Threads;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Stages the delta through a few direct buffers. Each full one goes at once to a writer thread
 * (into the file at its place, no heap copy on the way) and to the verifier (lent, no copy either),
 * and comes back once both are done with it: the sync's thread only fills buffers, so a fast source
 * is not held up by the target's writes. A record's payload of {@value #BORROW_MIN_BYTES} bytes or
 * more is not copied at all: it is borrowed, and goes the same way ({@link BorrowingStream}). Each
 * record's header takes a staging buffer, which comes back about when its payload does: about
 * {@value #BUFFERS} borrowed payloads are held at most.
 */
final class StagingStream extends BorrowingStream {
  /** Staged bytes are queued for writeback every this many, so the final fdatasync is short. */
  private static final long WRITEBACK_BYTES = 8 << 20;

  private final Path staging;
  private final FileChannel channel;
  private final NativeFile writeback;
  private final StreamVerifier verifier;

  private static final int BUFFERS = 8;

  /**
   * Payloads shorter than this are copied, not borrowed: lending costs two hand-offs between
   * threads (a writer's and the verifier's), which measured no cheaper than copying 64 KiB.
   */
  private static final int BORROW_MIN_BYTES = 256 << 10;

  private static final int BUFFER_BYTES = 1 << 20;
  private final BlockingQueue<ByteBuffer> free = new ArrayBlockingQueue<>(BUFFERS);

  /**
   * Two writers measured faster than one (a 2 GiB full sync held in RAM: median 2.56 s against
   * 1.29), though the kernel copies into one file under its lock, one write at a time: the second
   * is not a second copy in parallel, and more would not help (docs/BENCHMARKS.md).
   */
  private static final int WRITERS = 2;

  private final ExecutorService writer =
      Executors.newFixedThreadPool(WRITERS, Threads.daemon("cbtfs-stage-write"));
  private final ArrayDeque<Future<?>> writes = new ArrayDeque<>(); // not known to be done
  private volatile IOException writeFailure;
  private volatile boolean stopped;
  private long handed; // where the next buffer handed over goes in the file
  private ByteBuffer current;

  /**
   * Writes into {@code channel}, the file {@code staging} (hinting {@code writeback}), and lends
   * every byte to {@code verifier}.
   */
  StagingStream(Path staging, FileChannel channel, NativeFile writeback, StreamVerifier verifier) {
    this.staging = staging;
    this.channel = channel;
    this.writeback = writeback;
    this.verifier = verifier;
    for (int i = 0; i < BUFFERS; i++) {
      free.add(ByteBuffer.allocateDirect(BUFFER_BYTES));
    }
  }

  @Override
  public void copy(ByteBuffer bytes) throws IOException {
    ByteBuffer from = bytes.duplicate();
    while (from.hasRemaining()) {
      if (current == null) {
        current = takeFree();
      }
      int n = Math.min(from.remaining(), current.remaining());
      current.put(current.position(), from, from.position(), n);
      current.position(current.position() + n);
      from.position(from.position() + n);
      if (!current.hasRemaining()) {
        flush();
      }
    }
  }

  /** Hands the current buffer to a writer thread and to the verifier. */
  @Override
  public void flush() throws IOException {
    if (current == null || current.position() == 0) {
      return;
    }
    ByteBuffer full = current;
    current = null;
    hand(full.flip(), () -> free.offer(full.clear()));
  }

  @Override
  public void borrow(ByteBuffer bytes, Runnable giveBack) throws IOException {
    if (bytes.remaining() < BORROW_MIN_BYTES) {
      try {
        copy(bytes);
      } finally {
        giveBack.run();
      }
      return;
    }
    try {
      flush(); // what came before (the record's header) goes first
    } catch (IOException | RuntimeException | Error e) {
      giveBack.run();
      throw e;
    }
    hand(bytes, giveBack);
  }

  /**
   * Queues {@code bytes} for a writer thread and lends them to the verifier; {@code whenDone} runs
   * once, when both are done with them (or gave up).
   */
  private void hand(ByteBuffer bytes, Runnable whenDone) throws IOException {
    try {
      throwIfFailed(); // a failed write fails the sync now, not after the whole image is read
    } catch (IOException e) {
      whenDone.run();
      throw e;
    }
    AtomicInteger users = new AtomicInteger(2);
    Runnable release =
        () -> {
          if (users.decrementAndGet() == 0) {
            whenDone.run();
          }
        };
    ByteBuffer forWriter = bytes.duplicate();
    long at = handed;
    handed += bytes.remaining();
    try {
      writes.add(writer.submit(() -> writeOut(forWriter, at, release)));
    } catch (RejectedExecutionException e) {
      release.run();
    }
    while (!writes.isEmpty() && writes.peek().isDone()) {
      writes.poll();
    }
    verifier.borrow(bytes.duplicate(), release); // runs release whatever it throws
  }

  /**
   * On a writer thread: writes {@code bytes} at {@code at}, unless a write failed before. A write
   * that ends in a new {@value #WRITEBACK_BYTES}-byte window queues the writeback of the window two
   * before that one, which the other writes in flight have left by then (a hint: a window skipped
   * is flushed by the final fdatasync).
   */
  private void writeOut(ByteBuffer bytes, long at, Runnable release) {
    try {
      if (writeFailure == null && !stopped) {
        long end = at;
        while (bytes.hasRemaining()) {
          end += channel.write(bytes, end);
        }
        long window = end / WRITEBACK_BYTES - 2;
        if (at / WRITEBACK_BYTES != end / WRITEBACK_BYTES && window >= 0) {
          writeback.startWriteback(window * WRITEBACK_BYTES, WRITEBACK_BYTES);
        }
      }
    } catch (IOException e) {
      writeFailure = e;
    } catch (RuntimeException | Error e) { // the futures are not asked: none may be lost
      writeFailure = new IOException(e.toString(), e);
    } finally {
      release.run();
    }
  }

  /** Waits until every buffer handed over is in the file; throws what a write met. */
  void drain() throws IOException {
    flush();
    for (Future<?> w; (w = writes.poll()) != null; ) {
      Futures.await(w, "staging");
    }
    throwIfFailed();
  }

  private void throwIfFailed() throws IOException {
    IOException e = writeFailure;
    if (e != null) {
      throw new IOException("cannot write " + staging + ": " + e.getMessage(), e);
    }
  }

  /**
   * Stops the writer threads and waits for them, so nothing touches the descriptors once they are
   * closed. Writes still queued are skipped but give their buffers back, borrowed ones included;
   * one stuck longer than the wait is cut short when the file is closed.
   */
  void stop() {
    stopped = true;
    writer.shutdown();
    Threads.uninterruptibly(() -> writer.awaitTermination(30, TimeUnit.SECONDS));
  }

  private ByteBuffer takeFree() throws IOException {
    try {
      while (true) {
        ByteBuffer b = free.poll(100, TimeUnit.MILLISECONDS);
        if (b != null) {
          return b;
        }
        throwIfFailed();
        if (verifier.failed()) {
          verifier.result(); // throws what it found
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while staging");
    }
  }
}
