package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.StateFiles;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyncerTest {
  @TempDir Path tmp;
  SyncFixture fx;
  Path replicaFile;
  ReplicaTarget replica;
  final Syncer syncer = new Syncer(256 << 10, 2);

  @BeforeEach
  void setUp() throws IOException {
    fx = new SyncFixture(Files.createDirectory(tmp.resolve("src")), 4 << 20, 5);
    replicaFile = Files.createDirectory(tmp.resolve("dst")).resolve("replica.img");
    replica = new ReplicaTarget(replicaFile);
  }

  @AfterEach
  void tearDown() throws IOException {
    fx.close();
  }

  private void assertReplicaEqualsImage() throws IOException {
    assertThat(Files.mismatch(fx.image, replicaFile)).isEqualTo(-1L);
  }

  private static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  @Test
  void firstSyncIsFullThenOnlyChangedBlocksTravel() throws IOException {
    SyncReport first = syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertThat(first.full()).isTrue();
    assertThat(first.generation()).isEqualTo(1);
    assertThat(first.blocks()).isEqualTo(64);
    assertThat(first.zeroRecords()).isPositive();
    assertReplicaEqualsImage();

    fx.write(100_000, random(10, 1)); // block 1
    fx.write(3 << 20, random(70_000, 2)); // blocks 48, 49
    SyncReport second = syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertThat(second.full()).isFalse();
    assertThat(second.generation()).isEqualTo(2);
    assertThat(second.blocks()).isEqualTo(3);
    assertThat(second.wireBytes()).isLessThan(3 * 65536 + 1000);
    assertReplicaEqualsImage();
    assertThat(fx.tracked.dirtyBlocks().blockCount()).isZero();
    assertThat(replica.state().generation()).isEqualTo(2);

    SyncReport idle = syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertThat(idle.blocks()).isZero();
    assertThat(idle.generation()).isEqualTo(3);
  }

  @Test
  void aGrownAndAShrunkImageReachTheReplica() throws IOException {
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    fx.write((4 << 20) + 12345, random(5000, 3)); // grows the image
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertReplicaEqualsImage();
    long newSize = (2 << 20) + 777;
    fx.tracked.beforeWrite(newSize, Files.size(fx.image) - newSize);
    try (FileChannel ch = FileChannel.open(fx.image, StandardOpenOption.WRITE)) {
      ch.truncate(newSize);
    }
    fx.tracked.afterWrite(newSize, (4 << 20) + 17345 - newSize);
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertReplicaEqualsImage();
  }

  /** A target whose stream fails after {@code failAfter} bytes. */
  static Target failingAfter(Target inner, long failAfter) {
    return HookedTarget.failingAfter(inner, failAfter, "target went away");
  }

  @Test
  void aTargetFailingMidStreamChangesNothingAndTheNextSyncRepairs() throws IOException {
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    byte[] before = Files.readAllBytes(replicaFile);
    for (long failAfter : new long[] {0, 10, 100, 70_000, 150_000}) {
      fx.write(failAfter * 3 % (4 << 20), random(100_000, failAfter));
      long dirty = fx.tracked.dirtyBlocks().blockCount();
      assertThatThrownBy(
              () ->
                  syncer.sync(
                      fx.source(), failingAfter(replica, failAfter), false, SyncProgress.NONE))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("went away");
      assertThat(Files.readAllBytes(replicaFile)).as("replica unchanged").isEqualTo(before);
      assertThat(replica.state().generation()).isEqualTo(1);
      assertThat(fx.tracked.dirtyBlocks().blockCount())
          .as("drained set merged back")
          .isEqualTo(dirty);
      assertThat(fx.tracked.committedGeneration()).isEqualTo(1);
    }
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertReplicaEqualsImage();
  }

  /** A progress listener that throws (a cancelled request) fails the sync cleanly. */
  @Test
  void aProgressThatThrowsCancelsTheSyncAndChangesNothing() throws IOException {
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    byte[] before = Files.readAllBytes(replicaFile);
    fx.write(0, random(3 << 20, 7));
    long dirty = fx.tracked.dirtyBlocks().blockCount();
    int[] updates = {0};
    SyncProgress cancelAfterOne =
        (doneBytes, totalBytes, doneBlocks, totalBlocks) -> {
          if (++updates[0] == 2) {
            throw new java.io.InterruptedIOException("sync cancelled");
          }
        };
    assertThatThrownBy(() -> syncer.sync(fx.source(), replica, false, cancelAfterOne))
        .isInstanceOf(java.io.InterruptedIOException.class)
        .hasMessage("sync cancelled");
    assertThat(updates[0]).as("the sync stopped at the throwing update").isEqualTo(2);
    assertThat(Files.readAllBytes(replicaFile)).as("replica unchanged").isEqualTo(before);
    assertThat(replica.state().generation()).isEqualTo(1);
    assertThat(fx.tracked.dirtyBlocks().blockCount()).as("still dirty").isEqualTo(dirty);
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertReplicaEqualsImage();
  }

  @Test
  void aReplicaOfAnotherImageIsRefusedUnlessFull() throws IOException {
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    try (SyncFixture other =
        new SyncFixture(Files.createDirectory(tmp.resolve("other")), 1 << 20, 9)) {
      assertThatThrownBy(() -> syncer.sync(other.source(), replica, false, SyncProgress.NONE))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("holds another image")
          .hasMessageContaining("--full");
      assertThat(other.tracked.committedGeneration()).isZero();
      assertReplicaEqualsImage();
      syncer.sync(other.source(), replica, true, SyncProgress.NONE);
      assertThat(Files.mismatch(other.image, replicaFile)).isEqualTo(-1L);
    }
  }

  @Test
  void holesOfASparseImageTravelAsZeroRecords() throws IOException {
    try (FileChannel ch = FileChannel.open(fx.image, StandardOpenOption.WRITE)) {
      ch.truncate(0);
      ch.write(java.nio.ByteBuffer.wrap(random(5000, 8)), 3 << 20); // data in one MiB, holes else
    }
    SyncReport r = syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertThat(r.records()).isEqualTo(13); // 3 MiB + 5000 bytes in runs of 256 KiB
    assertThat(r.zeroRecords()).isEqualTo(12);
    assertThat(r.wireBytes()).isLessThan(10_000);
    assertReplicaEqualsImage();
  }

  @Test
  void aChangeMadeOutsideTheMountIsFoundByComparingWithTheTarget() throws IOException {
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    Fingerprint fp = new Fingerprint(4 << 20, 1, 1, 1);
    fx.store.closeClean(java.util.Map.of("disk.img", fp));
    try (FileChannel ch = FileChannel.open(fx.image, StandardOpenOption.WRITE)) {
      ch.write(java.nio.ByteBuffer.wrap(random(100, 4)), 7 * 65536 + 10); // behind cbtfs's back
    }
    try (TrackerStore store =
        TrackerStore.open(tmp.resolve("src/.cbtfs"), TrackingOptions.defaults(SyncFixture.G))) {
      TrackedImage image = store.image("disk.img", new Fingerprint(4 << 20, 2, 2, 1));
      assertThat(image.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.CHANGED_OUTSIDE);
      assertThat(image.dirtyBlocks().blockCount()).as("the bitmap cannot know").isZero();
      SyncReport r =
          syncer.sync(new SyncSource(image, fx.image), replica, false, SyncProgress.NONE);
      assertThat(r.full()).isFalse();
      assertThat(r.blocks()).as("only the block that differs").isEqualTo(1);
      assertReplicaEqualsImage();
      assertThat(image.verifyNextSync()).isFalse();
      assertThat(
              StateFiles.readState(tmp.resolve("src/.cbtfs"), "disk.img")
                  .orElseThrow()
                  .verifyNextSync())
          .isFalse();
    }
  }

  @Test
  void aDeletedTargetGetsAFullSyncAgain() throws IOException {
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    Files.delete(replicaFile);
    SyncReport r = syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    assertThat(r.full()).isTrue();
    assertReplicaEqualsImage();
  }

  @Test
  void compareNamesTheFirstDifferingBlocks() throws IOException {
    syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    try (FileChannel img = FileChannel.open(fx.image)) {
      assertThat(Target.differing(replica, img, img.size(), SyncFixture.G, 10).isEmpty()).isTrue();
      try (FileChannel r = FileChannel.open(replicaFile, StandardOpenOption.WRITE)) {
        r.write(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3}), 5 * 65536 + 9);
        r.write(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3}), 9 * 65536);
      }
      assertThat(Target.differing(replica, img, img.size(), SyncFixture.G, 10).toBitmap().toArray())
          .containsExactly(5, 9);
    }
  }

  @Test
  void archiveRestoresEveryGeneration() throws IOException {
    ArchiveTarget archive = new ArchiveTarget(tmp.resolve("archive"));
    Random rnd = new Random(77);
    byte[][] images = new byte[6][];
    for (int gen = 1; gen <= 5; gen++) {
      if (gen > 1) {
        for (int w = 0; w < 5; w++) {
          fx.write(rnd.nextInt(4 << 20), random(1 + rnd.nextInt(100_000), rnd.nextLong()));
        }
      }
      SyncReport r = syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
      assertThat(r.generation()).isEqualTo(gen);
      assertThat(r.full()).isEqualTo(gen == 1);
      images[gen] = Files.readAllBytes(fx.image);
    }
    for (int gen = 1; gen <= 5; gen++) {
      Path out = tmp.resolve("restored-" + gen);
      archive.restore(gen, out, Restorable.RestoreProgress.NONE);
      assertThat(Files.readAllBytes(out)).as("generation %d", gen).isEqualTo(images[gen]);
    }
    try (FileChannel img = FileChannel.open(fx.image)) {
      assertThat(Target.differing(archive, img, img.size(), SyncFixture.G, 10).isEmpty()).isTrue();
    }
    assertThatThrownBy(
            () -> archive.restore(9, tmp.resolve("nine"), Restorable.RestoreProgress.NONE))
        .hasMessageContaining("has no generation 9");
  }

  /**
   * A chain holds one image's history: a --full of another image (its numbers start again at 1)
   * would replace files of the same numbers and mix two chains, so it is refused and changes
   * nothing; and a generation file beyond what the archive records is never restored.
   */
  @Test
  void anArchiveKeepsOneLineageAndServesOnlyWhatItRecords() throws IOException {
    ArchiveTarget archive = new ArchiveTarget(tmp.resolve("archive"));
    syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
    fx.write(0, random(70_000, 3));
    syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
    byte[] second = Files.readAllBytes(fx.image);
    try (SyncFixture other = new SyncFixture(Files.createDirectory(tmp.resolve("b")), 1 << 20, 9)) {
      for (boolean full : new boolean[] {false, true}) {
        assertThatThrownBy(() -> syncer.sync(other.source(), archive, full, SyncProgress.NONE))
            .isInstanceOf(CbtfsException.class)
            .hasMessageContaining("another image")
            .hasMessageContaining("new archive folder")
            .hasMessageNotContaining("--full");
      }
    }
    assertThat(archive.generations())
        .extracting(Restorable.Generation::generation)
        .containsExactly(1L, 2L);
    Path out = tmp.resolve("restored");
    archive.restore(2, out, Restorable.RestoreProgress.NONE);
    assertThat(Files.readAllBytes(out)).isEqualTo(second);

    // a generation file the archive does not record (a commit that did not complete)
    Path meta = tmp.resolve("archive").resolve("archive.meta");
    byte[] recorded = Files.readAllBytes(meta);
    fx.write(0, random(5000, 4));
    assertThat(syncer.sync(fx.source(), archive, false, SyncProgress.NONE).generation())
        .isEqualTo(3);
    Files.write(meta, recorded);
    assertThat(tmp.resolve("archive").resolve("gen-00000003.cbtd")).exists();
    assertThat(archive.generations())
        .extracting(Restorable.Generation::generation)
        .containsExactly(1L, 2L);
  }

  /**
   * One sync per archive at a time, as per replica (two used to race on the staging file), and a
   * stray file numbered beyond the archive's record (a restore written there) is not read.
   */
  @Test
  void anArchiveTakesOneSyncAtATimeAndIgnoresStrayGenerations() throws IOException {
    ArchiveTarget archive = new ArchiveTarget(tmp.resolve("archive"));
    syncer.sync(fx.source(), archive, false, SyncProgress.NONE);
    byte[] first = Files.readAllBytes(fx.image);
    DeltaHeader next = new DeltaHeader(fx.tracked.lineage(), 4 << 20, 65536, 1, 2, false);
    try (Delivery one = archive.begin(next, false)) {
      assertThatThrownBy(() -> archive.begin(next, false))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("one sync per archive at a time");
      assertThat(archive.state().generation()).as("a state read meanwhile").isEqualTo(1);
    }
    Files.write(tmp.resolve("archive").resolve("gen-00000099.cbtd"), new byte[] {1, 2, 3});
    assertThat(archive.generations())
        .extracting(Restorable.Generation::generation)
        .containsExactly(1L);
    Path out = tmp.resolve("restored");
    archive.restore(1, out, Restorable.RestoreProgress.NONE);
    assertThat(Files.readAllBytes(out)).isEqualTo(first);
  }
}
