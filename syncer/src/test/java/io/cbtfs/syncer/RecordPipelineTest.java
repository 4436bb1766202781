package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.Drain;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RecordPipelineTest {
  private static final BlockGeometry G = BlockGeometry.of(64 << 10);
  private static final int BLOCKS = 64;

  @TempDir Path tmp;

  /** A read-ahead window that counts what the sync's thread gives back. */
  private static final class CountingWindow extends Semaphore {
    private static final long serialVersionUID = 1L;
    final AtomicLong releasedKib = new AtomicLong();

    CountingWindow() {
      super(32 << 10);
    }

    @Override
    public void release(int permits) {
      releasedKib.addAndGet(permits);
      super.release(permits);
    }
  }

  /**
   * A resumed sync reads only the records it does not reuse, and the read-ahead advises only those:
   * the sync's thread gives back to the window what it takes to read, not the kept records it sends
   * as references (else the advice, bounded by the window, runs ahead by every reused byte).
   */
  @Test
  void theReadAheadWindowGetsBackOnlyWhatIsRead() throws IOException {
    Path image = tmp.resolve("disk.img");
    byte[] bytes = new byte[BLOCKS * G.blockSize()];
    new Random(7).nextBytes(bytes);
    Files.write(image, bytes);
    DirtySet all = DirtySet.allOf(G, bytes.length);
    KeptAttempt kept = keptRecords(0, 24, 2); // 12 kept records of 2 blocks, in the first 24
    ReusableRecords reuse =
        ReusableRecords.of(kept, new Drain.Attempt(5, DirtySet.empty(G)), all, bytes.length);
    CountingWindow window = new CountingWindow();
    DeltaWriter writer =
        new DeltaWriter(
            new ByteArrayOutputStream(),
            new DeltaHeader(UUID.randomUUID(), bytes.length, G.blockSize(), 5, 6, false));
    try (RecordPipeline pipeline =
        RecordPipeline.open(image, G, 4 * G.blockSize(), 2, null, null, () -> window)) {
      pipeline.ship(all, false, writer, SyncProgress.NONE, reuse);
    }
    assertThat(writer.reusedBytes()).isEqualTo(24L * G.blockSize());
    assertThat(window.releasedKib.get())
        .as("KiB given back to the read-ahead: the 40 blocks read")
        .isEqualTo(40L * G.blockSize() / 1024);
  }

  /**
   * Every record a resumed sync may reuse, it reuses, wherever the runs of what it sends now start:
   * a block newly dirty just before a kept record shifts the runs (here by one block), and a kept
   * record the walk did not reuse would be read from the live image although a point-in-time sync
   * no longer protects its blocks (mutant: cut the runs of every sent block, reusing a kept record
   * only where one starts a run: 0 bytes reused).
   */
  @Test
  void aKeptRecordIsReusedWhereverTheRunsAroundItStart() throws IOException {
    Path image = tmp.resolve("disk.img");
    byte[] bytes = new byte[BLOCKS * G.blockSize()];
    new Random(8).nextBytes(bytes);
    Files.write(image, bytes);
    DirtySet all = DirtySet.allOf(G, bytes.length); // block 0 too: dirty since the attempt
    KeptAttempt kept = keptRecords(1, 25, 4); // 6 kept records of 4 blocks, from block 1
    ReusableRecords reuse =
        ReusableRecords.of(kept, new Drain.Attempt(5, DirtySet.empty(G)), all, bytes.length);
    assertThat(reuse.notReused().blockCount()).isEqualTo(BLOCKS - 24);
    ByteArrayOutputStream delta = new ByteArrayOutputStream();
    DeltaWriter writer =
        new DeltaWriter(
            delta, new DeltaHeader(UUID.randomUUID(), bytes.length, G.blockSize(), 5, 6, false));
    try (RecordPipeline pipeline =
        RecordPipeline.open(image, G, 4 * G.blockSize(), 2, null, null)) {
      pipeline.ship(all, false, writer, SyncProgress.NONE, reuse);
    }
    assertThat(writer.reusedBytes())
        .as("every kept record reused, none read from the image")
        .isEqualTo(24L * G.blockSize());
  }

  /** A kept attempt of generation 5 whose records span {@code size} blocks each in [from, to). */
  private static KeptAttempt keptRecords(int from, int to, int size) {
    List<KeptAttempt.KeptRecord> records = new ArrayList<>();
    for (int b = from; b + size <= to; b += size) {
      records.add(KeptAttempts.record(G.byteOffset(b), size * G.blockSize()));
    }
    return KeptAttempts.of(5, records);
  }
}
