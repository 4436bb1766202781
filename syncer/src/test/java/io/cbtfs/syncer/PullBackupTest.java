package io.cbtfs.syncer;

import static io.cbtfs.syncer.SyncFixture.random;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.Cursor;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.SnapshotBrokenException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pull backup's frozen view: reads give the drain's bytes whatever is written after (a block the
 * cursor lacks or not, read once or twice); the bitmap is what the cursor lacks; the end commits
 * the cursor, an abort nothing; a full fleece fails the reads and the commit, never a write.
 */
class PullBackupTest {
  private static final int BLOCK = SyncFixture.G.blockSize();
  private static final int IMAGE_BYTES = 4 << 20; // 64 blocks

  @TempDir Path tmp;
  SyncFixture fx;

  @BeforeEach
  void setUp() throws IOException {
    fx = new SyncFixture(Files.createDirectory(tmp.resolve("src")), IMAGE_BYTES, 3);
  }

  @AfterEach
  void tearDown() throws IOException {
    fx.close();
  }

  private PullBackup begin(String cursor, FleeceLimit limit) throws IOException {
    return PullBackup.begin(
        fx.tracked, fx.image, cursor, new PointInTime(FleeceStore.scratchIn(tmp), limit));
  }

  /** What a consumer reads at {@code offset}: the image, then the view's overlay. */
  private byte[] read(PullBackup backup, long offset, int length) throws IOException {
    ByteBuffer data = ByteBuffer.allocateDirect(length);
    try (FileChannel ch = FileChannel.open(fx.image)) {
      ImageReads.readFully(ch, offset, data);
    }
    backup.overlay(data, offset);
    byte[] out = new byte[length];
    data.get(0, out);
    return out;
  }

  private static Set<Long> blocksOf(DirtySet set) {
    Set<Long> out = new TreeSet<>();
    set.forEachBlock(b -> out.add((long) b));
    return out;
  }

  private long cursorGeneration(String cursor) {
    return fx.tracked.targets().stream()
        .map(io.cbtfs.tracker.TrackedImage.TargetLag::cursor)
        .filter(c -> c.target().equals(cursor))
        .mapToLong(Cursor::generation)
        .findFirst()
        .orElse(-1);
  }

  @Test
  void readsGiveTheDrainsBytesWhateverIsWrittenAfterAndTheEndCommitsTheCursor() throws IOException {
    byte[] atDrain = Files.readAllBytes(fx.image);
    try (PullBackup backup = begin("nbd:a", FleeceLimit.DEFAULT)) {
      assertThat(backup.size()).isEqualTo(IMAGE_BYTES);
      assertThat(backup.lacking().blockCount()).as("a new cursor lacks all").isEqualTo(64);
      assertThat(read(backup, 0, IMAGE_BYTES)).isEqualTo(atDrain); // read once before the writes
      fx.write(3L * BLOCK + 10, random(2 * BLOCK, 1)); // blocks 3 to 5, in part
      fx.write(40L * BLOCK, random(BLOCK, 2));
      assertThat(Files.readAllBytes(fx.image)).isNotEqualTo(atDrain);
      assertThat(read(backup, 0, IMAGE_BYTES)).as("read again after them").isEqualTo(atDrain);
      byte[] part = read(backup, 4L * BLOCK + 7, 3 * BLOCK); // a range that cuts blocks
      assertThat(part)
          .isEqualTo(java.util.Arrays.copyOfRange(atDrain, 4 * BLOCK + 7, 7 * BLOCK + 7));
      backup.commit();
      assertThat(backup.committed()).isTrue();
      assertThat(cursorGeneration("nbd:a")).isEqualTo(backup.generation());
      assertThatThrownBy(() -> read(backup, 0, BLOCK))
          .as("no read after the end")
          .isInstanceOf(PullBackup.EndedException.class);
    }
  }

  @Test
  void theNextBackupListsTheBlocksWrittenSinceAndProtectsTheOthersToo() throws IOException {
    try (PullBackup first = begin("nbd:a", FleeceLimit.DEFAULT)) {
      fx.write(3L * BLOCK + 10, random(2 * BLOCK, 1)); // 3, 4, 5
      first.commit();
    }
    fx.write(40L * BLOCK, random(10, 2));
    byte[] atDrain = Files.readAllBytes(fx.image);
    try (PullBackup second = begin("nbd:a", FleeceLimit.DEFAULT)) {
      assertThat(blocksOf(second.lacking())).containsExactly(3L, 4L, 5L, 40L);
      assertThat(second.why()).contains("since generation");
      // a block the cursor does not lack is read as of the drain too (a full read of the export)
      fx.write(20L * BLOCK, random(BLOCK, 3));
      assertThat(read(second, 20L * BLOCK, BLOCK))
          .isEqualTo(java.util.Arrays.copyOfRange(atDrain, 20 * BLOCK, 21 * BLOCK));
      second.close(); // abort: nothing committed
    }
    long afterFirst = cursorGeneration("nbd:a");
    try (PullBackup third = begin("nbd:a", FleeceLimit.DEFAULT)) {
      assertThat(cursorGeneration("nbd:a")).isEqualTo(afterFirst);
      assertThat(blocksOf(third.lacking())).containsExactly(3L, 4L, 5L, 20L, 40L);
    }
  }

  /**
   * A growing write in flight at the drain extended the file before the tracker knew: its new block
   * is protected all the same, so the view shows that write there (it was in flight: in or out),
   * never one begun after the drain (mutant: protect only up to the tracker's size: the view's last
   * block reads as the later write).
   */
  @Test
  void aBlockAGrowingWriteInFlightAddedShowsNoLaterWrite() throws IOException {
    byte[] w = random(BLOCK, 1);
    fx.tracked.beforeWrite(IMAGE_BYTES, BLOCK); // W: in flight at the drain, its pwrite done
    try (FileChannel ch = FileChannel.open(fx.image, java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(w), IMAGE_BYTES);
    }
    try (PullBackup backup = begin("nightly", FleeceLimit.DEFAULT)) {
      fx.tracked.afterWrite(IMAGE_BYTES, BLOCK);
      fx.write(IMAGE_BYTES, random(BLOCK, 2)); // W2: begun after the drain
      assertThat(backup.size()).isEqualTo(IMAGE_BYTES + BLOCK); // the file's size at the drain
      assertThat(read(backup, IMAGE_BYTES, BLOCK)).as("W's bytes, never W2's").isEqualTo(w);
    }
  }

  @Test
  void aSyncOrAnotherBackupIsRefusedWhileOneIsOpen() throws IOException {
    try (PullBackup backup = begin("nbd:a", FleeceLimit.DEFAULT)) {
      assertThatThrownBy(
              () ->
                  new Syncer(256 << 10, 2)
                      .sync(
                          fx.source(),
                          new io.cbtfs.syncer.local.ReplicaTarget(tmp.resolve("r.img")),
                          false,
                          SyncProgress.NONE))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("a pull backup of this image is open (cursor nbd:a)");
      assertThatThrownBy(() -> begin("nbd:b", FleeceLimit.DEFAULT))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("one drain at a time");
    }
  }

  @Test
  void aFullFleeceFailsTheReadsAndTheCommitNeverTheWrite() throws IOException {
    byte[] atDrain = Files.readAllBytes(fx.image);
    PullBackup backup = begin("nbd:a", new FleeceLimit(BLOCK, -1)); // one block's old bytes
    fx.write(1L * BLOCK, random(BLOCK, 1));
    assertThat(read(backup, BLOCK, BLOCK)) // the one copy
        .isEqualTo(java.util.Arrays.copyOfRange(atDrain, BLOCK, 2 * BLOCK));
    byte[] second = random(BLOCK, 2);
    fx.write(2L * BLOCK, second); // no room: the view breaks, the write lands
    assertThat(java.util.Arrays.copyOfRange(Files.readAllBytes(fx.image), 2 * BLOCK, 3 * BLOCK))
        .isEqualTo(second);
    assertThatThrownBy(() -> read(backup, 2L * BLOCK, BLOCK))
        .isInstanceOf(SnapshotBrokenException.class);
    assertThatThrownBy(backup::requireReadable).isInstanceOf(SnapshotBrokenException.class);
    assertThatThrownBy(backup::commit).isInstanceOf(SnapshotBrokenException.class);
    assertThat(cursorGeneration("nbd:a")).as("nothing committed").isEqualTo(-1);
    backup.close();
  }
}
