package io.cbtfs.syncer;

import static io.cbtfs.syncer.Allocation.allocatedBytes;
import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.syncer.local.Restorable;
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
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sparse image stays sparse in its copies: the sync sends its holes as zero records, and every
 * target turns a zero record into a hole, in a new replica, a replica overwritten by a full sync, a
 * replica whose blocks were zeroed, and a restore from an archive (checked as {@code du} does).
 */
class SparseCopiesTest {
  private static final int MIB = 1 << 20;
  private static final long SIZE = 64L * MIB;

  /** The image's data: 1 MiB at 0, 1 MiB at 30 MiB, 64 KiB at the end; holes elsewhere. */
  private static final long DATA = 2L * MIB + 65536;

  /**
   * What a copy holds: the sync reads 1 MiB runs, and a run that is not all hole travels (and
   * lands) whole, so the last 64 KiB cost a whole MiB.
   */
  private static final long COPY = 3L * MIB;

  /** Allowed beyond the data: the byte that sets a copy's size, file-system rounding. */
  private static final long SLACK = 256 << 10;

  @TempDir Path dir;
  Path image;
  TrackerStore store;
  TrackedImage tracked;
  final Syncer syncer = new Syncer(MIB, 2);

  @BeforeEach
  void sparseImage() throws IOException {
    image = dir.resolve("disk.img");
    Allocation.sparseFile(image, SIZE);
    store = TrackerStore.open(dir.resolve(".cbtfs"), TrackingOptions.defaults(G));
    tracked = store.image("disk.img", Fingerprint.sizeOnly(SIZE));
    write(0, MIB, 1);
    write(30L * MIB, MIB, 2);
    write(SIZE - 65536, 65536, 3);
    assertThat(allocatedBytes(image)).isLessThanOrEqualTo(DATA + SLACK);
  }

  private static final BlockGeometry G = BlockGeometry.of(65536);

  @AfterEach
  void close() throws IOException {
    ReplicaTarget.awaitSettles();
    store.close();
  }

  private SyncSource source() {
    return new SyncSource(tracked, image);
  }

  /** Writes through the tracking, as the mount does: random bytes, or zeros for a seed of 0. */
  private void write(long offset, int length, long seed) throws IOException {
    byte[] data = new byte[length];
    if (seed != 0) {
      new Random(seed).nextBytes(data);
    }
    tracked.beforeWrite(offset, length);
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ByteBuffer b = ByteBuffer.wrap(data);
      while (b.hasRemaining()) {
        ch.write(b, offset + b.position());
      }
    } finally {
      tracked.afterWrite(offset, length);
    }
  }

  private SyncReport sync(io.cbtfs.syncer.Target target, boolean full) throws IOException {
    try (target) {
      return syncer.sync(source(), target, full, SyncProgress.NONE);
    }
  }

  @Test
  void aFullSyncSendsTheHolesAsZeroRecordsWithoutReadingThem() throws IOException {
    Path copy = dir.resolve("r.img");
    SyncReport r = sync(new ReplicaTarget(copy), false);
    assertThat(r.full()).isTrue();
    // 64 runs of 1 MiB, 3 of them data: the rest are holes, sent as zero records
    assertThat(r.zeroRecords()).isEqualTo(61);
    assertThat(r.wireBytes()).isLessThan(COPY + 64 * 1024);
  }

  @Test
  void aNewReplicaIsAsSparseAsItsImage() throws IOException {
    Path copy = dir.resolve("r.img");
    sync(new ReplicaTarget(copy), false);
    assertThat(Files.mismatch(image, copy)).isEqualTo(-1L);
    assertThat(allocatedBytes(copy)).isLessThanOrEqualTo(COPY + SLACK);
  }

  @Test
  void aReplicaOverwrittenByAFullSyncStaysSparse() throws IOException {
    Path copy = dir.resolve("r.img");
    sync(new ReplicaTarget(copy), false);
    SyncReport again = sync(new ReplicaTarget(copy), true); // --full into the existing replica
    assertThat(again.full()).isTrue();
    ReplicaTarget.awaitSettles();
    assertThat(Files.mismatch(image, copy)).isEqualTo(-1L);
    assertThat(allocatedBytes(copy)).isLessThanOrEqualTo(COPY + SLACK);
  }

  @Test
  void blocksZeroedInTheImageBecomeHolesInTheReplica() throws IOException {
    Path copy = dir.resolve("r.img");
    sync(new ReplicaTarget(copy), false);
    write(30L * MIB, MIB, 0); // zeros over the middle data
    SyncReport r = sync(new ReplicaTarget(copy), false);
    assertThat(r.full()).isFalse();
    assertThat(r.zeroRecords()).isEqualTo(1);
    ReplicaTarget.awaitSettles();
    assertThat(Files.mismatch(image, copy)).isEqualTo(-1L);
    assertThat(allocatedBytes(copy)).isLessThanOrEqualTo(COPY - MIB + SLACK);
  }

  @Test
  void aRestoreFromAnArchiveIsSparse() throws IOException {
    Path archive = dir.resolve("a.archive");
    byte[] first = Files.readAllBytes(image);
    sync(new ArchiveTarget(archive), false);
    write(30L * MIB, MIB, 0); // generation 2 zeroes what generation 1 wrote
    sync(new ArchiveTarget(archive), false);
    Path one = dir.resolve("gen1.img");
    Path two = dir.resolve("gen2.img");
    try (ArchiveTarget a = new ArchiveTarget(archive)) {
      a.restore(1, one, Restorable.RestoreProgress.NONE);
      a.restore(2, two, Restorable.RestoreProgress.NONE);
    }
    assertThat(Files.readAllBytes(one)).isEqualTo(first);
    assertThat(Files.mismatch(image, two)).isEqualTo(-1L);
    assertThat(allocatedBytes(one)).isLessThanOrEqualTo(COPY + SLACK);
    assertThat(allocatedBytes(two)).isLessThanOrEqualTo(COPY - MIB + SLACK);
  }
}
