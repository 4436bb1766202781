package io.cbtfs.syncer.target;

import io.cbtfs.syncer.CommitPoint;
import io.cbtfs.syncer.Delivery;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.StreamVerifier;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A full delta into a replica that does not exist yet: each record is written, as soon as it
 * verified, into a new image file beside the replica's name, which becomes the replica at {@link
 * #commit} (fsync, rename). No staging file and no journal: with no replica to protect, the delta
 * is written once instead of twice, and an interrupted delivery leaves only the new file, which is
 * deleted. {@link #close} without commit deletes it.
 */
final class FreshReplicaDelivery implements Delivery {
  private static final Logger log = LoggerFactory.getLogger(FreshReplicaDelivery.class);
  private final Path image;
  private final DeltaHeader announced;
  private final StagedDelivery.Commit commit;
  private final Closeable owned;
  private final FileChannel out;
  private final Object written;
  private final StreamVerifier verifier;
  private boolean done;

  /**
   * Writes into {@code image} (created, or emptied); at commit hands the complete, durable file to
   * {@code commit}; {@code owned} closes when it ends.
   */
  FreshReplicaDelivery(
      Path image, DeltaHeader announced, StagedDelivery.Commit commit, Closeable owned)
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
      // on the verifier's thread, each record as it verified; a zero one (past the end of this
      // new file, records ascending) stays a hole, so no hole is ever punched here
      this.verifier =
          new StreamVerifier(
              image.toString(),
              (k, o, d, l) -> RecordWrites.apply(out, RecordWrites.NO_HOLES, k, o, d, l));
    } catch (IOException | RuntimeException | Error e) {
      out.close();
      throw e;
    }
  }

  /** The verifier itself: it borrows the sender's buffers where the sender lends them. */
  @Override
  public OutputStream stream() {
    return verifier;
  }

  @Override
  public long commit() throws IOException {
    if (done) {
      throw new IllegalStateException("delivery already ended");
    }
    // once the verifier's result is in, so is every record it wrote into the file
    DeltaHeader header = verifier.result().header().requireSame(announced, image.toString());
    RecordWrites.resize(out, header.imageSize());
    out.force(true); // data and size durable before the file can become the replica
    out.close();
    StagedDelivery.requireSameFile(image, written, "the replica was written");
    long generation = commit.apply(image).generation();
    done = true; // committed: what is left may not fail the delivery
    CommitPoint.closeAfter(owned, log);
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
        verifier.result(); // waits: its thread may still be writing into the file
      } catch (IOException | RuntimeException e) {
        // an incomplete or rejected delta: what an abandoned delivery expects
      }
    }
  }
}
