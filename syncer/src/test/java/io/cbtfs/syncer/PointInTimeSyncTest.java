package io.cbtfs.syncer;

import static io.cbtfs.syncer.SyncFixture.random;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.ForwardingStateIo;
import io.cbtfs.tracker.SnapshotBrokenException;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Point-in-time syncs with writes at a known instant: after the drain, before the sync reads a
 * block. The target must get the image as of the drain; what was written meanwhile stays dirty for
 * the next sync; a fleece that is full or fails breaks the sync, never the write.
 */
class PointInTimeSyncTest {
  private static final int BLOCK = SyncFixture.G.blockSize();

  @TempDir Path tmp;
  SyncFixture fx;
  Path replicaFile;
  ReplicaTarget replica;
  final Syncer syncer = new Syncer(256 << 10, 2);

  @BeforeEach
  void setUp() throws IOException {
    fx = new SyncFixture(Files.createDirectory(tmp.resolve("src")), 4 << 20, 7);
    replicaFile = Files.createDirectory(tmp.resolve("dst")).resolve("replica.img");
    replica = new ReplicaTarget(replicaFile);
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE); // the base
  }

  @AfterEach
  void tearDown() throws IOException {
    fx.close();
  }

  private SyncSource pointInTime(FleeceLimit limit) {
    return new SyncSource(fx.tracked, fx.image, new PointInTime(FleeceStore.scratchIn(tmp), limit));
  }

  @Test
  void writesAfterTheDrainReachOnlyTheNextSync() throws IOException {
    fx.write(1L * BLOCK + 100, random(5000, 1)); // dirty: blocks 1, 10, 11, 12
    fx.write(10L * BLOCK, random(3 * BLOCK, 2));
    Path atDrain = Files.write(tmp.resolve("atDrain"), Files.readAllBytes(fx.image));
    Target t =
        new BeginHookTarget(
            replica,
            () -> { // after the drain, before any read: a block in part, blocks whole, a clean one
              fx.write(1L * BLOCK + 4000, random(9000, 3));
              fx.write(11L * BLOCK - 10, random(BLOCK + 20, 4));
              fx.write(20L * BLOCK, random(BLOCK, 5));
            });

    SyncReport r = syncer.sync(pointInTime(FleeceLimit.DEFAULT), t, false, SyncProgress.NONE);

    assertThat(r.blocks()).isEqualTo(4);
    assertThat(Files.mismatch(replicaFile, atDrain)).isEqualTo(-1L);
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
  }

  @Test
  void theProgressHearsOfTheDrainOnceBeforeAnyRecord() throws IOException {
    fx.write(3L * BLOCK, random(BLOCK, 1));
    StringBuilder events = new StringBuilder();
    SyncProgress p =
        new SyncProgress() {
          @Override
          public void update(long doneBytes, long totalBytes, long doneBlocks, long totalBlocks) {
            events.append('u');
          }

          @Override
          public void drained() {
            assertThat(fx.tracked.tracker().snapshot().isEmpty()).as("the set is taken").isTrue();
            events.append('d');
          }
        };
    syncer.sync(pointInTime(FleeceLimit.DEFAULT), replica, false, p);
    assertThat(events.toString()).matches("du+");
  }

  @Test
  void withoutASnapshotTheTargetGetsTheLaterWrites() throws IOException {
    fx.write(1L * BLOCK, random(BLOCK, 1));
    byte[] atDrain = Files.readAllBytes(fx.image);
    Target t = new BeginHookTarget(replica, () -> fx.write(1L * BLOCK, random(BLOCK, 2)));

    syncer.sync(fx.source(), t, false, SyncProgress.NONE); // --no-snapshot: today's behaviour

    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
    assertThat(Files.readAllBytes(replicaFile)).isNotEqualTo(atDrain);
  }

  @Test
  void aFullSyncProtectsEveryBlockAndAHoleWrittenMeanwhileTravelsAsZeros() throws IOException {
    try (RandomAccessFile f = new RandomAccessFile(fx.image.toFile(), "rw")) {
      f.setLength(6L << 20); // grown sparse: blocks 64 to 95 are a hole
    }
    fx.write(4L << 20, new byte[0]); // the size noted
    fx.tracked.noteSize(6L << 20);
    Files.write(tmp.resolve("atDrain"), Files.readAllBytes(fx.image));
    Target t =
        new BeginHookTarget(
            replica,
            () -> {
              fx.write(70L * BLOCK, random(BLOCK, 6)); // into the hole
              fx.write(3L * BLOCK, random(BLOCK, 7)); // a block no sync had to send
            });

    SyncReport r = syncer.sync(pointInTime(new FleeceLimit(-1, 100)), t, true, SyncProgress.NONE);

    assertThat(r.full()).isTrue();
    assertThat(Files.mismatch(replicaFile, tmp.resolve("atDrain"))).isEqualTo(-1L);
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
  }

  /** The real state I/O, which runs {@code atNextWrite} (once) at its next write. */
  private static final class HookedStateIo extends ForwardingStateIo {
    final AtomicReference<IoAction> atNextWrite = new AtomicReference<>();

    interface IoAction {
      void run() throws IOException;
    }

    @Override
    public void write(Path file, byte[] bytes) throws IOException {
      IoAction a = atNextWrite.getAndSet(null);
      if (a != null) {
        a.run();
      }
      super.write(file, bytes);
    }
  }

  /** The fixture's tracking reopened on a {@link HookedStateIo}. */
  private HookedStateIo hookStateIo() throws IOException {
    HookedStateIo io = new HookedStateIo();
    fx.store.close();
    fx.store =
        TrackerStore.open(
            fx.image.resolveSibling(".cbtfs"), TrackingOptions.defaults(SyncFixture.G), io);
    fx.tracked = fx.store.image("disk.img", Fingerprint.sizeOnly(Files.size(fx.image)));
    return io;
  }

  @Test
  void aShrinkRightAfterTheDrainIsNotInTheSync() throws IOException {
    fx.write(50L * BLOCK, random(BLOCK, 9)); // dirty past the new end: the fleece has it
    HookedStateIo io = hookStateIo();
    Path atDrain = Files.write(tmp.resolve("atDrain"), Files.readAllBytes(fx.image));
    long from = 40L * BLOCK + 123;
    long to = Files.size(fx.image);
    io.atNextWrite.set( // the drain's own save: before the sync reads the size
        () -> {
          fx.tracked.beforeWrite(from, to - from); // as TrackingWrites.truncate does
          try (RandomAccessFile f = new RandomAccessFile(fx.image.toFile(), "rw")) {
            f.setLength(from);
          } finally {
            fx.tracked.afterWrite(from, to - from);
          }
          fx.tracked.noteSize(from);
        });

    syncer.sync(pointInTime(FleeceLimit.DEFAULT), replica, false, SyncProgress.NONE);

    assertThat(Files.size(fx.image)).as("shrunk during the sync").isEqualTo(from);
    assertThat(Files.mismatch(replicaFile, atDrain)).isEqualTo(-1L);
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
  }

  @Test
  void aGrowRightAfterTheDrainIsNotInTheSync() throws IOException {
    HookedStateIo io = hookStateIo();
    Path atDrain = Files.write(tmp.resolve("atDrain"), Files.readAllBytes(fx.image));
    // the drain's own save, once the writes passed its gate: before the sync reads the size
    io.atNextWrite.set(() -> fx.write(4L << 20, random(BLOCK, 8))); // grows the image

    SyncReport r = syncer.sync(pointInTime(FleeceLimit.DEFAULT), replica, true, SyncProgress.NONE);

    assertThat(Files.size(fx.image)).as("grown during the sync").isEqualTo((4L << 20) + BLOCK);
    assertThat(r.full()).isTrue();
    assertThat(Files.mismatch(replicaFile, atDrain)).isEqualTo(-1L);
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
  }

  /**
   * A write that grows the image, in flight at the drain (its bytes landed, its tracking not yet
   * done), adds a block the tracker's size does not cover yet; a write begun after the drain to
   * that block must not reach the sync, which sends the image as it was with that write in or out
   * (mutant: protect only up to the tracker's size: the replica's last block is the later write's).
   */
  @Test
  void aBlockAGrowingWriteInFlightAddedIsNotSentWithALaterWrite() throws IOException {
    long size = 4L << 20;
    fx.tracked.beforeWrite(size, BLOCK); // W: past its pwrite at the drain, before its afterWrite
    try (RandomAccessFile f = new RandomAccessFile(fx.image.toFile(), "rw")) {
      f.seek(size);
      f.write(random(BLOCK, 31));
    }
    byte[] atDrain = Files.readAllBytes(fx.image);
    Target t =
        new BeginHookTarget(
            replica,
            () -> { // after the drain: W ends, then W2 overwrites the block W added
              fx.tracked.afterWrite(size, BLOCK);
              fx.write(size, random(BLOCK, 32));
            });

    syncer.sync(pointInTime(FleeceLimit.DEFAULT), t, true, SyncProgress.NONE);

    byte[] got = Files.readAllBytes(replicaFile);
    assertThat(got.length).isIn((int) size, (int) size + BLOCK);
    assertThat(got)
        .as("the image at the drain, W in or out")
        .isEqualTo(Arrays.copyOf(atDrain, got.length));
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE); // W2 is in the next
    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
  }

  /**
   * A verified sync compares the image after its drain: a write then whose copy fails (the fleece
   * holds nothing) may make a block that differed at the drain equal to the target again, so it is
   * not sent and nothing is left to read that would fail. The sync fails at its commit point and
   * the target stays as it was (mutant: commit without asking whether the snapshot broke: the
   * target takes a generation that claims the drain's instant without the drain's block 5).
   */
  @Test
  void aSnapshotBrokenWhileAVerifiedSyncComparesFailsItAtTheCommitPoint() throws IOException {
    long x = 5L * BLOCK;
    byte[] before = Files.readAllBytes(replicaFile);
    byte[] old = Arrays.copyOfRange(before, (int) x, (int) x + BLOCK);
    try (RandomAccessFile f = new RandomAccessFile(fx.image.toFile(), "rw")) {
      f.seek(x); // a change beside the mount, which no dirty bit records
      f.write(random(BLOCK, 41));
    }
    fx.tracked.requireVerifiedSync();
    Target t = BeginHookTarget.atCompare(replica, () -> fx.write(x, old)); // its copy fails

    assertThatThrownBy(
            () -> syncer.sync(pointInTime(new FleeceLimit(0, -1)), t, false, SyncProgress.NONE))
        .isInstanceOf(SnapshotBrokenException.class);

    assertThat(Files.readAllBytes(replicaFile)).isEqualTo(before);
    syncer.sync(pointInTime(FleeceLimit.DEFAULT), replica, false, SyncProgress.NONE);
    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
  }

  /**
   * A truncate and a growing write race (two FUSE threads): the tracker's size ends below the
   * file's (the truncate's noteSize comes last). Point-in-time syncs still send the file's size, so
   * no block of the write is dropped and its dirty bit is never lost (mutant: send at most the
   * tracker's size: the replica stays short and, after a plain sync, the write's block is zeros).
   */
  @Test
  void aTruncateRacingAGrowingWriteLosesNothing() throws IOException {
    long size = 4L << 20;
    long small = size / 2;
    fx.tracked.beforeWrite(small, size - small); // T
    try (RandomAccessFile f = new RandomAccessFile(fx.image.toFile(), "rw")) {
      f.setLength(small); // T's ftruncate
    }
    fx.write(size, random(BLOCK, 9)); // W, past the new end: the tracker's size is size + BLOCK
    fx.tracked.afterWrite(small, size - small); // T
    fx.tracked.noteSize(small); // T last: the tracker's size is small, the file size + BLOCK

    syncer.sync(pointInTime(FleeceLimit.DEFAULT), replica, false, SyncProgress.NONE);
    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
    syncer.sync(pointInTime(FleeceLimit.DEFAULT), replica, false, SyncProgress.NONE);
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
  }

  @Test
  void aFullFleeceFailsTheSyncNotTheWritesAndNothingIsLost() throws IOException {
    for (int b = 0; b < 8; b++) {
      fx.write((long) b * BLOCK, random(BLOCK, 10 + b));
    }
    byte[] before = Files.readAllBytes(replicaFile);
    Target t =
        new BeginHookTarget(
            replica,
            () -> { // the limit holds one block: the second copy breaks the snapshot
              for (int b = 0; b < 3; b++) {
                fx.write((long) b * BLOCK, random(BLOCK, 20 + b));
              }
            });

    assertThatThrownBy(
            () -> syncer.sync(pointInTime(new FleeceLimit(BLOCK, -1)), t, false, SyncProgress.NONE))
        .isInstanceOf(SnapshotBrokenException.class)
        .hasMessageContaining("the fleece is full")
        .hasMessageContaining("its blocks stay dirty");

    assertThat(Files.readAllBytes(replicaFile)).isEqualTo(before); // the target as it was
    byte[] now = Files.readAllBytes(fx.image);
    assertThat(Arrays.copyOfRange(now, 2 * BLOCK, 3 * BLOCK)).isEqualTo(random(BLOCK, 22));
    syncer.sync(pointInTime(FleeceLimit.DEFAULT), replica, false, SyncProgress.NONE);
    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
  }

  @Test
  void aFailingFleeceDiskFailsTheSyncNotTheWrites() throws IOException {
    fx.write(5L * BLOCK, random(BLOCK, 1));
    byte[] before = Files.readAllBytes(replicaFile);
    FleeceStore.Opener noSpace =
        name ->
            new FleeceStore() {
              @Override
              public void write(ByteBuffer from, long byteOffset) throws IOException {
                throw new IOException("No space left on device");
              }

              @Override
              public void read(ByteBuffer into, long byteOffset) throws IOException {
                throw new AssertionError("nothing was written");
              }

              @Override
              public void close() {}
            };
    Target t = new BeginHookTarget(replica, () -> fx.write(5L * BLOCK, random(BLOCK, 2)));

    assertThatThrownBy(
            () ->
                syncer.sync(
                    new SyncSource(
                        fx.tracked, fx.image, new PointInTime(noSpace, FleeceLimit.DEFAULT)),
                    t,
                    false,
                    SyncProgress.NONE))
        .isInstanceOf(SnapshotBrokenException.class)
        .hasMessageContaining("No space left on device");

    assertThat(Files.readAllBytes(replicaFile)).isEqualTo(before);
    assertThat(Arrays.copyOfRange(Files.readAllBytes(fx.image), 5 * BLOCK, 6 * BLOCK))
        .isEqualTo(random(BLOCK, 2));
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
  }
}
