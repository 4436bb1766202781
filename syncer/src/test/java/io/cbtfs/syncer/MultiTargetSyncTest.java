package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.syncer.remote.LoopbackReceiver;
import io.cbtfs.syncer.remote.RemoteTarget;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One image, three targets of every local kind and a remote one (a replica, an archive and a {@code
 * cbtfs://} receiver's replica), synced in seeded interleaved orders with writes in between. The
 * oracle is the test's own record of the blocks written since each target's previous sync: every
 * sync sends exactly those, and leaves its target byte-identical to the image. Then each basis a
 * sync can have: the target empty, in the history, behind it, and at a generation never issued.
 */
class MultiTargetSyncTest {
  private static final BlockGeometry G = BlockGeometry.of(65536);
  private static final int IMAGE_BYTES = 4 << 20;
  private static final int BLOCKS = IMAGE_BYTES / G.blockSize();
  private static final Duration MAX_AGE = Duration.ofDays(30);

  @TempDir Path tmp;
  Path image;
  Path stateDir;
  @RegisterExtension final LoopbackReceiver receiver = new LoopbackReceiver();
  final SteppedClock clock = new SteppedClock();
  TrackerStore store;
  TrackedImage tracked;
  final Syncer syncer = new Syncer(256 << 10, 2);
  Copy replica;
  Copy archive;
  Copy remote;
  List<Copy> all;
  int restores;

  @BeforeEach
  void start() throws IOException {
    image = tmp.resolve("disk.img");
    byte[] data = new byte[IMAGE_BYTES];
    new Random(1).nextBytes(data);
    java.util.Arrays.fill(data, IMAGE_BYTES / 2, IMAGE_BYTES / 2 + 300_000, (byte) 0);
    Files.write(image, data);
    stateDir = tmp.resolve(".cbtfs");
    openStore();
    Path replicaFile = Files.createDirectory(tmp.resolve("replica")).resolve("disk.img");
    replica = new Copy(new ReplicaTarget(replicaFile), replicaFile);
    archive = new Copy(new ArchiveTarget(tmp.resolve("archive")), null);
    remote = new Copy(RemoteTarget.parse(receiver.uri("vm1")), receiver.root().resolve("vm1.img"));
    all = List.of(replica, archive, remote);
  }

  @AfterEach
  void stop() throws Exception {
    remote.target.close();
    receiver.close();
    ReplicaTarget.awaitSettles();
    store.close();
  }

  private void openStore() throws IOException {
    TrackingOptions options =
        TrackingOptions.defaults(G).withCursors(new TrackingOptions.Cursors(MAX_AGE, clock));
    store = TrackerStore.open(stateDir, options);
    tracked = store.image("disk.img", Fingerprint.sizeOnly(Files.size(image)));
  }

  /** One target and the test's oracle: the blocks written since its previous sync. */
  private final class Copy {
    final Target target;
    final Path file; // a replica's image; null for an archive (restored to compare)
    final BitSet lacks = new BitSet();
    long generation = -1;

    Copy(Target target, Path file) {
      this.target = target;
      this.file = file;
      lacks.set(0, BLOCKS); // holds nothing yet
    }

    SyncReport sync() throws IOException {
      SyncReport r = syncer.sync(new SyncSource(tracked, image), target, false, SyncProgress.NONE);
      assertIdentical();
      generation = r.generation();
      lacks.clear();
      return r;
    }

    void assertIdentical() throws IOException {
      Path copy = file;
      if (copy == null) {
        copy = tmp.resolve("restored-" + restores++);
        Restorable store = (Restorable) target;
        store.restore(store.state().generation(), copy, Restorable.RestoreProgress.NONE);
      }
      assertThat(Files.mismatch(image, copy))
          .as("%s equals the image", target.describe())
          .isEqualTo(-1L);
    }

    @Override
    public String toString() {
      return target.describe();
    }
  }

  /** Writes through the tracking as the mount does; every target now lacks the blocks. */
  private void write(long byteOffset, int byteLength, long seed) throws IOException {
    byte[] data = new byte[byteLength];
    new Random(seed).nextBytes(data);
    tracked.beforeWrite(byteOffset, byteLength);
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.wrap(data);
      while (b.hasRemaining()) {
        ch.write(b, byteOffset + b.position());
      }
    } finally {
      tracked.afterWrite(byteOffset, byteLength);
    }
    int first = (int) G.blockIndex(byteOffset);
    int end = (int) G.blockIndex(byteOffset + byteLength - 1) + 1;
    all.forEach(c -> c.lacks.set(first, end));
  }

  private void randomWrites(Random rnd) throws IOException {
    int writes = rnd.nextInt(4); // some syncs with nothing written since
    for (int w = 0; w < writes; w++) {
      int len = 1 + rnd.nextInt(rnd.nextInt(4) == 0 ? 600_000 : 70_000);
      long off = (long) (rnd.nextDouble() * (IMAGE_BYTES - len));
      write(off, len, rnd.nextLong());
    }
  }

  /** Syncs {@code c}, which must be sent exactly what it lacks, from its own generation. */
  private SyncReport syncExactly(Copy c) throws IOException {
    long base = c.generation;
    long expected = c.lacks.cardinality();
    SyncReport r = c.sync();
    assertThat(r.blocks()).as("blocks sent to %s", c).isEqualTo(expected);
    assertThat(r.full()).as("full sync of %s", c).isEqualTo(base < 0);
    assertThat(r.why())
        .isEqualTo(
            base < 0
                ? "the target holds nothing of this image: every block"
                : "the blocks changed since the target's generation " + base);
    return r;
  }

  @ParameterizedTest
  @ValueSource(longs = {1, 2, 3, 4})
  void interleavedSyncsSendEachTargetExactlyWhatItLacks(long seed) throws IOException {
    Random rnd = new Random(seed);
    List<Copy> order = new ArrayList<>(all);
    for (int round = 0; round < 6; round++) {
      Collections.shuffle(order, rnd);
      int syncs = 1 + rnd.nextInt(order.size()); // some targets sit out a round: wider gaps
      for (Copy c : order.subList(0, syncs)) {
        randomWrites(rnd);
        syncExactly(c);
      }
    }
    assertThat(tracked.generationsKept()).as("sets kept").isLessThanOrEqualTo(all.size() + 1);
  }

  /** The case the one-dirty-set tracker sent a full copy for: two targets, alternating. */
  @Test
  void twoTargetsAlternatingEachGetOnlyTheChangedBlock() throws IOException {
    syncExactly(replica);
    syncExactly(archive);
    for (int i = 0; i < 4; i++) {
      write(100_000 + i * 300_000L, 10, i);
      Copy c = i % 2 == 0 ? replica : archive;
      assertThat(syncExactly(c).blocks()).isEqualTo(i == 0 ? 1 : 2);
    }
  }

  @Test
  void aTargetRemovedAndReAddedGetsEveryBlock() throws IOException {
    for (Copy c : all) {
      syncExactly(c);
    }
    write(200_000, 70_000, 9);
    syncExactly(remote);
    Files.delete(replica.file);
    emptyFolder(tmp.resolve("archive"));
    for (Copy c : List.of(replica, archive)) {
      c.generation = -1;
      c.lacks.set(0, BLOCKS);
      assertThat(syncExactly(c).blocks()).isEqualTo(BLOCKS); // EMPTY: the whole image
    }
    write(0, 10, 10);
    for (Copy c : all) {
      assertThat(syncExactly(c).blocks()).as("%s after the re-add", c).isEqualTo(1);
    }
  }

  /**
   * A cursor unused for longer than the age stops holding history: its target's next sync is
   * compared block by block, sends what differs (more than the history still knows) and ends
   * byte-identical.
   */
  @Test
  void aTargetBehindTheHistoryIsComparedAndEndsIdentical() throws IOException {
    syncExactly(replica);
    SyncReport archived = syncExactly(archive);
    write(1_000_000, 200_000, 11); // the archive lacks these, and the history will forget them
    clock.advance(MAX_AGE.plusDays(1));
    syncExactly(replica); // moves the horizon past the archive's stale cursor
    assertThat(tracked.horizon()).isGreaterThan(archived.generation());
    write(3_000_000, 10, 12);
    long lacks = archive.lacks.cardinality();

    SyncReport behind = archive.sync();
    assertThat(behind.full()).isFalse();
    assertThat(behind.why())
        .isEqualTo(
            "the target's generation "
                + archived.generation()
                + " is older than the tracker's history (from "
                + tracked.horizon()
                + "): every block compared");
    assertThat(behind.blocks()).as("what differs, found by comparing").isEqualTo(lacks);
    write(0, 10, 13);
    syncExactly(archive); // back in the history
  }

  /**
   * A target at a generation the tracker never issued (its state rolled back to an older copy) is
   * compared, and so is every other target at its next sync.
   */
  @Test
  void aTargetAtAGenerationNeverIssuedIsComparedAndSoIsEveryOther() throws IOException {
    syncExactly(replica);
    syncExactly(archive);
    Path saved = copyFolder(stateDir, tmp.resolve("state-copy"));
    write(500_000, 100_000, 21);
    syncExactly(replica);
    write(2_000_000, 100_000, 22);
    SyncReport ahead = syncExactly(replica);

    store.close();
    emptyFolder(stateDir);
    copyFolder(saved, stateDir);
    openStore();
    write(3_500_000, 10, 23);

    long lacks = replica.lacks.cardinality();
    SyncReport unknown = replica.sync();
    assertThat(unknown.why())
        .isEqualTo(
            "the target's generation "
                + ahead.generation()
                + " was never issued by this tracker's history (its state put back from an older"
                + " copy, or the host rolled back?): every block compared, and every other"
                + " target's next sync compares too");
    assertThat(unknown.blocks()).isGreaterThanOrEqualTo(lacks);
    assertThat(unknown.generation())
        .as("the restored history skipped ahead: never a number the lost run issued")
        .isNotEqualTo(ahead.generation());

    long archiveLacks = archive.lacks.cardinality();
    long archiveBase = archive.generation;
    SyncReport verified = archive.sync();
    assertThat(verified.why())
        .isEqualTo(
            "the image changed in a way no dirty bit records since the target's generation "
                + archiveBase
                + ": every block compared");
    assertThat(verified.blocks()).isGreaterThanOrEqualTo(archiveLacks);
  }

  private static void emptyFolder(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.toList()) {
        Files.delete(f);
      }
    }
  }

  private static Path copyFolder(Path from, Path to) throws IOException {
    Files.createDirectories(to);
    try (Stream<Path> files = Files.list(from)) {
      for (Path f : files.toList()) {
        Files.copy(f, to.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    return to;
  }

  /** A clock the test moves: cursors age without waiting. */
  private static final class SteppedClock extends Clock {
    private Instant now = Instant.parse("2026-01-01T00:00:00Z");

    void advance(Duration d) {
      now = now.plus(d);
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  }
}
