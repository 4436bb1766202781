package io.cbtfs.syncer.target;

import io.cbtfs.syncer.CorruptDeltaException;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.NativeFile;
import io.cbtfs.syncer.StreamVerifier;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A delivery into a local staging file. Every byte is checked as it arrives ({@link
 * StreamVerifier}: header as announced, every record, the trailer) while it is written to the
 * staging file; {@link #commit} makes the file durable and, only if the whole delta verified, hands
 * it to the target's {@link Commit} step. {@link #close} without commit deletes the staging file.
 */
final class StagedDelivery implements Delivery {
  /** What a target does with a verified, durable staging file; returns the new generation. */
  @FunctionalInterface
  interface Commit {
    long apply(Path verifiedStaging) throws IOException;
  }

  private final Path staging;
  private final DeltaHeader announced;
  private final FileChannel channel;
  private final StreamVerifier verifier;
  private final OutputStream stream;
  private final Commit commit;
  private final NativeFile writeback;
  private final Object stagedFile;
  private final AutoCloseable owned;
  private long written;
  private long queued;
  private boolean done;

  /** Staged bytes are queued for writeback every this many, so the final fdatasync is short. */
  private static final long WRITEBACK_BYTES = 8 << 20;

  StagedDelivery(Path staging, DeltaHeader announced, Commit commit) throws IOException {
    this(staging, announced, commit, () -> {});
  }

  /** With {@code owned} closed when the delivery ends (a lock its target took for it). */
  StagedDelivery(Path staging, DeltaHeader announced, Commit commit, AutoCloseable owned)
      throws IOException {
    this.owned = owned;
    this.staging = staging;
    this.announced = announced;
    this.commit = commit;
    this.channel =
        FileChannel.open(
            staging,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING,
            LinkOption.NOFOLLOW_LINKS);
    try {
      this.stagedFile = fileKey(staging);
      this.stream = new StagingStream();
    } catch (IOException | RuntimeException | Error e) {
      channel.close();
      throw e;
    }
    this.writeback = NativeFile.open(staging);
    this.verifier = new StreamVerifier(staging.toString());
  }

  private static Object fileKey(Path file) throws IOException {
    return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
        .fileKey();
  }

  /**
   * Stages the delta through a few direct buffers: each full one is written to the file (no heap
   * copy on the way) and then lent to the verifier (no copy either), and comes back once read.
   */
  private final class StagingStream extends OutputStream {
    private static final int BUFFERS = 4;
    private static final int BUFFER_BYTES = 1 << 20;
    private final BlockingQueue<ByteBuffer> free = new ArrayBlockingQueue<>(BUFFERS);
    private ByteBuffer current;

    StagingStream() {
      for (int i = 0; i < BUFFERS; i++) {
        free.add(ByteBuffer.allocateDirect(BUFFER_BYTES));
      }
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      while (len > 0) {
        if (current == null) {
          current = takeFree();
        }
        int n = Math.min(len, current.remaining());
        current.put(b, off, n);
        off += n;
        len -= n;
        if (!current.hasRemaining()) {
          flush();
        }
      }
    }

    /** Writes the current buffer to the file and lends it to the verifier. */
    @Override
    public void flush() throws IOException {
      if (current == null || current.position() == 0) {
        return;
      }
      ByteBuffer full = current;
      current = null;
      full.flip();
      ByteBuffer forVerifier = full.duplicate();
      while (full.hasRemaining()) {
        channel.write(full);
      }
      written += forVerifier.remaining();
      if (written - queued >= WRITEBACK_BYTES) {
        writeback.startWriteback(queued, written - queued);
        queued = written;
      }
      verifier.handOver(forVerifier, () -> free.offer(full.clear()));
    }

    private ByteBuffer takeFree() throws IOException {
      try {
        while (true) {
          ByteBuffer b = free.poll(100, TimeUnit.MILLISECONDS);
          if (b != null) {
            return b;
          }
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

  @Override
  public OutputStream stream() {
    return stream;
  }

  @Override
  public long commit() throws IOException {
    if (done) {
      throw new IllegalStateException("delivery already ended");
    }
    stream.flush();
    channel.force(false); // fdatasync: the journal's bytes are durable before it can commit
    channel.close();
    writeback.close();
    DeltaHeader header = verifier.result().header();
    if (!header.equals(announced)) {
      throw new CorruptDeltaException(staging.toString(), "header differs from the one announced");
    }
    if (!stagedFile.equals(fileKey(staging))) { // what was verified is what gets committed
      throw new IOException(
          staging
              + " was replaced while this delta was staged: is another sync to this target"
              + " running?");
    }
    long generation = commit.apply(staging);
    done = true;
    release();
    return generation;
  }

  private void release() throws IOException {
    try {
      owned.close();
    } catch (IOException | RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IOException(e);
    }
  }

  @Override
  public void close() throws IOException {
    if (!done) {
      done = true;
      try {
        verifier.close();
      } finally {
        try {
          channel.close();
          writeback.close();
        } finally {
          try {
            Files.deleteIfExists(staging);
          } finally {
            release();
          }
        }
      }
    }
  }
}
