package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.ForwardingStateIo;
import io.cbtfs.tracker.StateFiles;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tracker's side of a sync's commit: the generation a sync issues is saved before any record
 * ships, and a save that fails after the target committed is a warning, never a failure.
 */
class SyncCommitTest {
  private static final int IMAGE_BYTES = 2 << 20;
  @TempDir Path tmp;
  final FailingSaves io = new FailingSaves();
  final Syncer syncer = new Syncer(256 << 10, 2);
  Path image;
  Path stateDir;
  Path replicaFile;
  ReplicaTarget replica;
  TrackerStore store;
  TrackedImage tracked;

  @BeforeEach
  void setUp() throws IOException {
    image = Files.createDirectory(tmp.resolve("src")).resolve("disk.img");
    byte[] data = new byte[IMAGE_BYTES];
    new Random(3).nextBytes(data);
    Files.write(image, data);
    stateDir = tmp.resolve("src/.cbtfs");
    store = TrackerStore.open(stateDir, TrackingOptions.defaults(SyncFixture.G), io);
    tracked = store.image("disk.img", Fingerprint.sizeOnly(IMAGE_BYTES));
    replicaFile = Files.createDirectory(tmp.resolve("dst")).resolve("replica.img");
    replica = new ReplicaTarget(replicaFile);
  }

  @AfterEach
  void tearDown() throws IOException {
    ReplicaTarget.awaitSettles();
    store.close();
  }

  private SyncReport sync(SyncProgress progress) throws IOException {
    return syncer.sync(new SyncSource(tracked, image), replica, false, progress);
  }

  private void write(long offset, int length) throws IOException {
    byte[] data = new byte[length];
    new Random(offset).nextBytes(data);
    tracked.beforeWrite(offset, length);
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(data), offset);
    } finally {
      tracked.afterWrite(offset, length);
    }
  }

  @Test
  void theIssuedGenerationIsSavedBeforeAnyRecordShips() throws IOException {
    List<Long> savedWhileShipping = new ArrayList<>();
    SyncReport report =
        sync(
            (doneBytes, totalBytes, doneBlocks, totalBlocks) ->
                savedWhileShipping.add(
                    StateFiles.readState(stateDir, "disk.img").orElseThrow().issuedGeneration()));
    assertThat(savedWhileShipping).isNotEmpty().containsOnly(report.generation());
  }

  @Test
  void aSaveThatFailsAfterTheTargetCommittedIsAWarning() throws IOException {
    sync(SyncProgress.NONE);
    write(100_000, 70_000);
    // from the first record on, every save fails: the one the tracker's commit makes included
    SyncReport report = sync((doneBytes, totalBytes, doneBlocks, totalBlocks) -> io.failing = true);
    io.failing = false;

    assertThat(report.warning()).contains("after the commit").contains("injected");
    assertThat(report.generation()).isEqualTo(2);
    assertThat(replica.state().generation()).isEqualTo(2);
    assertThat(Files.mismatch(image, replicaFile)).isEqualTo(-1L);
    assertThat(tracked.committedGeneration()).as("committed in memory").isEqualTo(2);
    assertThat(tracked.dirtyBlocks().blockCount()).isZero();
    SyncReport next = sync(SyncProgress.NONE);
    assertThat(next.full()).isFalse();
    assertThat(next.blocks()).isZero();
  }

  @Test
  void aSaveThatFailsBeforeAnythingShipsFailsTheSyncAndKeepsTheBlocks() throws IOException {
    sync(SyncProgress.NONE);
    write(100_000, 70_000);
    long dirty = tracked.dirtyBlocks().blockCount();
    io.failing = true;
    assertThatThrownBy(() -> sync(SyncProgress.NONE)).hasMessageContaining("injected");
    io.failing = false;

    assertThat(tracked.dirtyBlocks().blockCount()).isEqualTo(dirty);
    assertThat(replica.state().generation()).isEqualTo(1);
    SyncReport next = sync(SyncProgress.NONE);
    assertThat(next.blocks()).isEqualTo(dirty);
    assertThat(Files.mismatch(image, replicaFile)).isEqualTo(-1L);
  }

  @Test
  void blocksDrainedPastTheSizeTheSyncShippedStayDirty() throws IOException {
    sync(SyncProgress.NONE);
    // A write that grows the image lands after the sync read the size: its mark is in the drain,
    // its block past the end the sync ships
    long past = IMAGE_BYTES + 3L * SyncFixture.G.blockSize();
    tracked.beforeWrite(past, 4096);
    tracked.afterWrite(past, 4096); // marked, the known size raised; its bytes not yet in the file
    sync(SyncProgress.NONE);
    assertThat(tracked.dirtyBlocks().contains(past / SyncFixture.G.blockSize())).isTrue();

    write(past, 4096); // the write's bytes reach the file
    sync(SyncProgress.NONE);
    assertThat(Files.mismatch(image, replicaFile)).isEqualTo(-1L);
  }

  @Test
  void blocksPastTheEndOfAShrunkImageDoNotStayDirty() throws IOException {
    sync(SyncProgress.NONE);
    // what a shrinking truncate leaves: bits past the image's end, which the write path knows
    tracked.tracker().mark(IMAGE_BYTES + 3L * SyncFixture.G.blockSize(), 4096);
    sync(SyncProgress.NONE);
    assertThat(tracked.dirtyBlocks().blockCount()).isZero();
  }

  @Test
  void aDirtySetDistrustedDuringAComparingSyncStaysDistrusted() throws IOException {
    // the first sync is full (it compares everything), and while it ships a write loses its bit
    SyncReport report =
        sync((doneBytes, totalBytes, doneBlocks, totalBlocks) -> tracked.requireVerifiedSync());
    assertThat(report.full()).isTrue();
    assertThat(tracked.verifyNextSync())
        .as("the lost bit may be in what was already sent")
        .isTrue();
  }

  /** The real files, except that a state file cannot be replaced while {@code failing}. */
  static final class FailingSaves extends ForwardingStateIo {
    volatile boolean failing;

    @Override
    public void rename(Path from, Path to) throws IOException {
      if (failing && to.getFileName().toString().endsWith(".cbt")) {
        throw new IOException("state disk full (injected)");
      }
      super.rename(from, to);
    }
  }
}
