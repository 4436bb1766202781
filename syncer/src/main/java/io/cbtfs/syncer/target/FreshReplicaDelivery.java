package io.cbtfs.syncer.target;

import io.cbtfs.syncer.BorrowingStream;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.RecordKind;
import io.cbtfs.syncer.StreamVerifier;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A full delta into a replica that does not exist yet: each record is written, as soon as it
 * verified, into a new image file beside the replica's name, which becomes the replica at {@link
 * #commit} (fsync, rename). No staging file and no journal: with no replica to protect, the delta
 * is written once instead of twice, and an interrupted delivery leaves only the new file, which is
 * deleted. {@link #close} without commit deletes it.
 */
final class FreshReplicaDelivery implements Delivery {
  /**
   * What the target does with the complete, durable new image, {@code written} the identity of the
   * file that was written (the name must still point at it); returns the new generation.
   */
  @FunctionalInterface
  interface Commit {
    long apply(Path image, Object written, DeltaHeader header) throws IOException;
  }

  private final Path image;
  private final DeltaHeader announced;
  private final Commit commit;
  private final Closeable owned;
  private final FileChannel out;
  private final Object written;
  private final Stream stream;
  private boolean done;

  /** Writes into {@code image} (created, or emptied); {@code owned} closes when it ends. */
  FreshReplicaDelivery(Path image, DeltaHeader announced, Commit commit, Closeable owned)
      throws IOException {
    this.image = image;
    this.announced = announced;
    this.commit = commit;
    this.owned = owned;
    this.out =
        FileChannel.open(
            image,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING,
            LinkOption.NOFOLLOW_LINKS);
    try {
      this.written = StagedDelivery.fileKey(image);
      this.stream = new Stream(new StreamVerifier(image.toString(), this::write));
    } catch (IOException | RuntimeException | Error e) {
      out.close();
      throw e;
    }
  }

  /** On the verifier's thread: a verified record into the new image (a zero one is a hole). */
  private void write(RecordKind kind, long offset, byte[] data, int length) throws IOException {
    if (kind != RecordKind.ZERO) {
      RecordWrites.writeFully(out, ByteBuffer.wrap(data, 0, length), offset);
    }
  }

  /** The verifier, fed without copies where the sender lends its buffers. */
  private static final class Stream extends OutputStream implements BorrowingStream {
    private final StreamVerifier verifier;

    Stream(StreamVerifier verifier) {
      this.verifier = verifier;
    }

    @Override
    public void write(int b) throws IOException {
      verifier.write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      verifier.write(b, off, len);
    }

    @Override
    public void borrow(ByteBuffer bytes, Runnable giveBack) throws IOException {
      verifier.handOver(bytes, giveBack);
    }

    @Override
    public void copy(ByteBuffer bytes) throws IOException {
      byte[] b = new byte[bytes.remaining()];
      bytes.duplicate().get(b);
      verifier.write(b, 0, b.length);
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
    // once the verifier's result is in, so is every record it wrote into the file
    DeltaHeader header =
        StagedDelivery.requireAnnounced(stream.verifier.result().header(), announced, image);
    RecordWrites.resize(out, header.imageSize());
    out.force(true); // data and size durable before the file can become the replica
    out.close();
    long generation = commit.apply(image, written, header);
    done = true;
    owned.close();
    return generation;
  }

  @Override
  public void close() throws IOException {
    if (done) {
      return;
    }
    done = true;
    // the verifier first (it writes into the file), then the file, its removal, the lock
    try (Closeable lock = owned;
        Closeable discard = () -> Files.deleteIfExists(image);
        FileChannel file = out) {
      try {
        stream.verifier.result(); // waits: its thread may still be writing into the file
      } catch (IOException | RuntimeException e) {
        // an incomplete or rejected delta: what an abandoned delivery expects
      }
    }
  }
}
