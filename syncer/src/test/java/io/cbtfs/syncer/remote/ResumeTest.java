package io.cbtfs.syncer.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncSource;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Resume of a cut transfer to a receiver (docs/FORMAT.md, "Resume"): a sync cut part way, then the
 * next one, counted on the wire; the replica must equal the image at the resumed sync's drain.
 */
class ResumeTest {
  static final BlockGeometry G = BlockGeometry.of(65536);
  static final int RECORD_BYTES = 256 << 10;
  static final int IMAGE_BYTES = 24 << 20;

  /**
   * What a cut may cost beyond the part the receiver never got: the record cut in two, the sender's
   * frame buffer (1 MiB), and the handshake and framing of the second connection.
   */
  static final long WINDOW = RECORD_BYTES + (1 << 20) + (64 << 10);

  @TempDir Path tmp;
  @RegisterExtension final LoopbackReceiver receiver = new LoopbackReceiver();
  Path root;
  CuttingProxy proxy;
  Path image;
  TrackerStore store;
  TrackedImage tracked;
  final Syncer syncer = new Syncer(RECORD_BYTES, 2);

  @BeforeEach
  void start() throws IOException {
    root = receiver.root();
    proxy = new CuttingProxy(receiver.port());
    image = tmp.resolve("disk.img");
    byte[] data = new byte[IMAGE_BYTES];
    new Random(1).nextBytes(data); // incompressible: the bytes on the wire are the image's
    Files.write(image, data);
    store = TrackerStore.open(tmp.resolve(".cbtfs"), TrackingOptions.defaults(G));
    tracked = store.image("disk.img", new Fingerprint(IMAGE_BYTES, 1, 1, 1));
  }

  @AfterEach
  void stop() throws IOException {
    proxy.close();
    receiver.close();
    ReplicaTarget.awaitSettles();
    store.close();
  }

  private RemoteTarget via(int port, String name) throws IOException {
    return RemoteTarget.parse(receiver.uri(port, name));
  }

  private SyncSource source() {
    return new SyncSource(tracked, image);
  }

  private void write(long off, int len, long seed) throws IOException {
    byte[] b = new byte[len];
    new Random(seed).nextBytes(b);
    tracked.beforeWrite(off, len);
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(b), off);
    }
    tracked.afterWrite(off, len);
  }

  /** The bytes a whole sync of the image sends upstream (TLS included), to a fresh name. */
  private long fullSyncBytes() throws IOException {
    return countedSync("reference");
  }

  /**
   * A sync to {@code name} cut after {@code bytes} upstream: it fails. Through the one proxy of the
   * test, so that every sync names the same target (its cursor and its attempt).
   */
  private void cutSync(String name, long bytes) throws IOException {
    proxy.cutAfter(bytes);
    RemoteTarget target = via(proxy.port(), name);
    assertThatThrownBy(() -> syncer.sync(source(), target, false, SyncProgress.NONE))
        .isInstanceOfAny(IOException.class, CbtfsException.class);
    try {
      receiver.awaitIdle(); // the receiver saw the cut too, and kept what it verified
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  /** A sync to {@code name} that completes; the bytes it sent upstream. */
  private long countedSync(String name) throws IOException {
    long before = proxy.cutAfter(Long.MAX_VALUE / 2);
    syncer.sync(source(), via(proxy.port(), name), false, SyncProgress.NONE);
    return proxy.upstream() - before;
  }

  private Path kept(String name) {
    return root.resolve("." + name + ".img.cbtfs-resume");
  }

  @ParameterizedTest
  @ValueSource(ints = {25, 50, 90})
  void aCutFullSyncResumedSendsOnlyTheRemainder(int percent) throws IOException {
    long whole = fullSyncBytes();
    long cut = whole * percent / 100;
    cutSync("vm1", cut);
    assertThat(kept("vm1")).exists();
    long resumed = countedSync("vm1");
    assertThat(resumed)
        .as("resumed after %d of %d bytes", cut, whole)
        .isLessThan(whole - cut + WINDOW);
    assertThat(Files.mismatch(image, root.resolve("vm1.img"))).isEqualTo(-1L);
    assertThat(kept("vm1")).doesNotExist();
    assertThat(root.resolve(".vm1.img.cbtfs-resume.part")).doesNotExist();
  }

  /** Cut twice: the second attempt reuses the first's records and keeps them for the third. */
  @Test
  void aResumedSyncCutAgainKeepsWhatItReused() throws IOException {
    long whole = fullSyncBytes();
    cutSync("vm1", whole / 2);
    cutSync("vm1", whole / 4); // the first half goes by reference, a quarter more travels
    long resumed = countedSync("vm1");
    assertThat(resumed).isLessThan(whole / 4 + 2 * WINDOW);
    assertThat(Files.mismatch(image, root.resolve("vm1.img"))).isEqualTo(-1L);
  }

  /**
   * A block written after the cut attempt just before what the receiver kept shifts the runs of
   * what the resumed sync sends by one block: every kept record is still reused (mutant: a walk
   * that reuses a kept record only where one of its runs starts reuses none and sends it all again,
   * read from the live image although a point-in-time sync no longer protects those blocks).
   */
  @Test
  void aBlockWrittenJustBeforeTheKeptRecordsShiftsNoReuse() throws IOException {
    countedSync("vm1"); // full
    int first = 5; // an incremental of 128 blocks from block 5: records [5, 9), [9, 13), ...
    write(G.byteOffset(first), 128 * G.blockSize(), 9);
    long incremental = 128L * G.blockSize();
    cutSync("vm1", incremental * 9 / 10);
    write(G.byteOffset(first - 1), 100, 10); // block 4: the runs now start one block earlier
    long resumed = countedSync("vm1");
    assertThat(Files.mismatch(image, root.resolve("vm1.img"))).isEqualTo(-1L);
    assertThat(resumed)
        .as("resumed after %d of %d bytes", incremental * 9 / 10, incremental)
        .isLessThan(incremental / 10 + G.blockSize() + WINDOW);
  }

  /**
   * A block written after the cut attempt, inside what the receiver kept, is sent again: the kept
   * record holds its old bytes. The replica equals the image as it is at the resumed drain.
   */
  @Test
  void aBlockWrittenAfterTheAttemptIsSentNotReused() throws IOException {
    long whole = fullSyncBytes();
    cutSync("vm1", whole * 9 / 10);
    write(65536 * 3 + 100, 5000, 7); // in the first record, which the receiver kept
    write(IMAGE_BYTES - 70_000, 3000, 8); // past the cut
    long resumed = countedSync("vm1");
    assertThat(Files.mismatch(image, root.resolve("vm1.img"))).isEqualTo(-1L);
    assertThat(resumed).isLessThan(whole / 10 + RECORD_BYTES + WINDOW);
  }

  /** A receiver restarted (here: as one killed leaves its files) still offers what it kept. */
  @Test
  void aRestartedReceiverKeepsTheAttempt() throws IOException {
    long whole = fullSyncBytes();
    cutSync("vm1", whole / 2);
    receiver.close();
    // a receiver killed mid-transfer leaves the part it was writing, not the kept file
    Files.move(kept("vm1"), root.resolve(".vm1.img.cbtfs-resume.part"));
    receiver.startAgain();
    proxy.retarget(receiver.port());
    long resumed = countedSync("vm1");
    assertThat(resumed).isLessThan(whole / 2 + WINDOW);
    assertThat(Files.mismatch(image, root.resolve("vm1.img"))).isEqualTo(-1L);
  }

  /** A kept attempt damaged at rest is discarded, never served: the next sync sends everything. */
  @Test
  void aDamagedKeptAttemptIsDiscarded() throws IOException {
    long whole = fullSyncBytes();
    cutSync("vm1", whole / 2);
    try (FileChannel ch = FileChannel.open(kept("vm1"), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(new byte[] {0x55, 0x66}), 300_000); // inside the second record
    }
    long resumed = countedSync("vm1");
    assertThat(resumed).isGreaterThan(whole - WINDOW);
    assertThat(Files.mismatch(image, root.resolve("vm1.img"))).isEqualTo(-1L);
  }

  /** An attempt of another base is not offered: a sync that committed meanwhile makes it stale. */
  @Test
  void aKeptAttemptOfAnotherBaseIsNotReused() throws IOException {
    long whole = fullSyncBytes();
    cutSync("vm1", whole / 2);
    Files.copy(kept("vm1"), tmp.resolve("stale"));
    countedSync("vm1"); // commits: the kept attempt goes
    assertThat(kept("vm1")).doesNotExist();
    write(0, 1 << 20, 9);
    Files.copy(tmp.resolve("stale"), kept("vm1")); // a full attempt, kept against all odds
    long incremental = countedSync("vm1");
    assertThat(incremental).isLessThan((1 << 20) + WINDOW);
    assertThat(kept("vm1")).doesNotExist();
    assertThat(Files.mismatch(image, root.resolve("vm1.img"))).isEqualTo(-1L);
  }
}
