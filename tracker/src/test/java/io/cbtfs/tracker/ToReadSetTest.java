package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.roaringbitmap.RoaringBitmap;

/**
 * The copy-before-write protocol: a write copies a pending block once, a sync's read of a block and
 * its copy exclude each other, a failed copy breaks the snapshot without failing the write, and a
 * write that starts during the drain waits for the set instead of landing unprotected.
 */
class ToReadSetTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);

  @TempDir Path dir;

  /** A saver that records the blocks it copied; {@code gate} holds each copy until released. */
  private static final class RecordingSaver implements BlockSaver {
    final ConcurrentLinkedQueue<Long> saved = new ConcurrentLinkedQueue<>();
    final CountDownLatch entered = new CountDownLatch(1);
    volatile CountDownLatch gate = new CountDownLatch(0);
    volatile IOException failure;
    volatile Runnable onProtecting = () -> {};

    @Override
    public long imageBytesAtDrain() {

      return -1;
    }

    @Override
    public void protecting(long blockCount) {
      onProtecting.run();
    }

    @Override
    public void save(long blockIndex) throws IOException {
      entered.countDown();
      try {
        gate.await();
      } catch (InterruptedException e) {
        throw new IOException(e);
      }
      if (failure != null) {
        throw failure;
      }
      saved.add(blockIndex);
    }
  }

  private static ToReadSet setOf(RecordingSaver saver, int... blocks) {
    return ToReadSet.of(G, RoaringBitmap.bitmapOf(blocks), saver);
  }

  /** Waits until {@code t} blocks (or ended); a bounded wait on a state, not a sleep. */
  private static void awaitParked(Thread t) throws InterruptedException {
    await(
        () ->
            t.getState() == Thread.State.WAITING
                || t.getState() == Thread.State.BLOCKED
                || t.getState() == Thread.State.TERMINATED);
  }

  private static void await(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("waited 30 s").isLessThan(deadline);
      Thread.onSpinWait();
      Thread.yield();
    }
  }

  /**
   * A failed copy breaks the snapshot before the block's stripe is let go: a read of the block that
   * waited for the stripe meanwhile fails, and never reads the block the write is about to change
   * (mutant: break once the stripe is released: the read takes the block).
   */
  @Test
  void aReadWaitingOnAFailedCopyFails() throws InterruptedException {
    CountDownLatch breaking = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    RecordingSaver saver = new RecordingSaver();
    saver.failure =
        new IOException() {
          private static final long serialVersionUID = 1L;

          @Override
          public String getMessage() { // the writer, breaking the snapshot, holds here
            breaking.countDown();
            try {
              release.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            return "the fleece's disk failed";
          }
        };
    ToReadSet set = setOf(saver, 0);
    Thread writer = new Thread(() -> set.beforeWrite(0, 4096));
    writer.start();
    assertThat(breaking.await(30, TimeUnit.SECONDS)).isTrue();
    java.util.concurrent.atomic.AtomicReference<Object> outcome =
        new java.util.concurrent.atomic.AtomicReference<>();
    Thread reader =
        new Thread(
            () -> {
              try (ToReadSet.Reading r = set.read(0, 1)) {
                outcome.set("read the block");
              } catch (SnapshotBrokenException e) {
                outcome.set(e);
              }
            });
    reader.start();
    awaitParked(reader); // waiting for the stripe, or (the mutant) done already
    release.countDown();
    writer.join();
    reader.join();
    assertThat(outcome.get()).isInstanceOf(SnapshotBrokenException.class);
  }

  @Test
  void aWriteCopiesEachPendingBlockItTouchesOnceAndNoOther() throws IOException {
    RecordingSaver saver = new RecordingSaver();
    ToReadSet set = setOf(saver, 1, 2, 9);

    set.beforeWrite(4096 + 100, 2 * 4096); // blocks 1, 2, 3
    set.beforeWrite(2 * 4096, 10); // block 2 again
    set.beforeWrite(5 * 4096, 4096); // block 5: not pending
    set.beforeWrite(100 * 4096, 4096); // past the set

    assertThat(saver.saved).containsExactly(1L, 2L);
    assertThat(set.copiedBlocks().toArray()).containsExactly(1, 2);
    try (ToReadSet.Reading r = set.read(9, 1)) {
      assertThat(r.anyCopied()).isFalse();
    }
    set.beforeWrite(9 * 4096, 1); // read: no copy needed any more
    assertThat(saver.saved).containsExactly(1L, 2L);
  }

  /**
   * Records of every length and place (across words, wrapping the stripes) against a {@code
   * BitSet}: a read says whether a block of its own was copied, and marks its blocks read and no
   * other; what the sync does not send is no longer protected.
   */
  @Test
  void readsMarkTheirOwnBlocksReadAndSeeTheirOwnCopies() throws IOException {
    long seed = new Random().nextLong();
    Random random = new Random(seed);
    for (int round = 0; round < 50; round++) {
      int blocks = 1 + random.nextInt(3 * 64 + 5);
      RoaringBitmap drained = new RoaringBitmap();
      BitSet pending = new BitSet();
      BitSet sent = new BitSet();
      for (int b = 0; b < blocks; b++) {
        if (random.nextInt(4) != 0) {
          drained.add(b);
          pending.set(b);
        }
        if (random.nextInt(4) != 0) {
          sent.set(b);
        }
      }
      RecordingSaver saver = new RecordingSaver();
      ToReadSet set = ToReadSet.of(G, drained, saver);
      RoaringBitmap sentBlocks = new RoaringBitmap();
      sent.stream().forEach(sentBlocks::add);
      set.retainOnly(new DirtySet(G, sentBlocks));
      pending.and(sent);
      BitSet copied = new BitSet();
      for (int i = 0; i < 20; i++) {
        int first = random.nextInt(blocks + 2);
        int count = 1 + random.nextInt(random.nextBoolean() ? 3 : 2 * ToReadSet.STRIPES);
        if (random.nextBoolean()) { // a write
          set.beforeWrite(first * 4096L, count * 4096L);
          BitSet now = pending.get(first, first + count);
          now.andNot(copied.get(first, first + count));
          now.stream().forEach(b -> copied.set(first + b));
        } else {
          try (ToReadSet.Reading r = set.read(first, count)) {
            assertThat(r.anyCopied())
                .as("seed %d: blocks %d + %d", seed, first, count)
                .isEqualTo(!copied.get(first, first + count).isEmpty());
          }
          pending.clear(first, first + count);
        }
        int from = random.nextInt(blocks + 2);
        int to = from + random.nextInt(blocks + 2);
        int next = copied.nextSetBit(from);
        assertThat(set.nextCopied(from, to))
            .as("seed %d: next copied in [%d, %d)", seed, from, to)
            .isEqualTo(next >= 0 && next < to ? next : -1);
      }
      set.beforeWrite(0, (blocks + 1) * 4096L); // copies what is still pending, once
      pending.andNot(copied);
      pending.stream().forEach(copied::set);
      BitSet saved = new BitSet();
      saver.saved.forEach(b -> saved.set(Math.toIntExact(b)));
      assertThat(saved).as("seed %d", seed).isEqualTo(copied);
    }
  }

  @Test
  void aSetOfEveryBlockProtectsEachOneAndNoneBeyond() throws IOException {
    for (int count : new int[] {1, 63, 64, 65, 130}) {
      RecordingSaver saver = new RecordingSaver();
      RoaringBitmap all = new RoaringBitmap();
      all.add(0L, count);
      ToReadSet set = ToReadSet.of(G, all, saver);
      set.beforeWrite(0, (count + 5) * 4096L);
      assertThat(set.protectedBlocks()).isEqualTo(count);
      assertThat(set.copiedBlocks().getLongCardinality()).as("%d blocks", count).isEqualTo(count);
      assertThat(saver.saved).hasSize(count);
    }
  }

  @Test
  void aWriteToABlockTheSyncIsReadingWaitsAndThenNeedsNoCopy() throws Exception {
    RecordingSaver saver = new RecordingSaver();
    ToReadSet set = setOf(saver, 3, 4);
    ToReadSet.Reading reading = set.read(3, 2);
    Thread writer = new Thread(() -> set.beforeWrite(3 * 4096, 4096), "writer");
    writer.start();
    awaitParked(writer);

    assertThat(writer.getState())
        .as("the write waits for the read")
        .isNotEqualTo(Thread.State.TERMINATED);
    reading.close();
    writer.join();
    assertThat(saver.saved).as("the block was read before the write landed").isEmpty();
  }

  @Test
  void theSyncsReadOfABlockBeingCopiedWaitsAndThenSeesTheCopy() throws Exception {
    RecordingSaver saver = new RecordingSaver();
    saver.gate = new CountDownLatch(1);
    ToReadSet set = setOf(saver, 1030); // stripe 6 of 1024, a record wrapping past the last
    Thread writer = new Thread(() -> set.beforeWrite(1030L * 4096, 4096), "writer");
    writer.start();
    saver.entered.await();
    boolean[] copied = new boolean[1];
    Thread sync =
        new Thread(
            () -> {
              try (ToReadSet.Reading r = set.read(1020, 16)) {
                copied[0] = r.copied(1030);
              } catch (IOException e) {
                throw new AssertionError(e);
              }
            },
            "sync");
    sync.start();
    awaitParked(sync);

    assertThat(sync.getState())
        .as("the read waits for the copy")
        .isNotEqualTo(Thread.State.TERMINATED);
    saver.gate.countDown();
    writer.join();
    sync.join();
    assertThat(copied[0]).isTrue();
  }

  @Test
  void aFailedCopyBreaksTheSnapshotNotTheWrite() throws IOException {
    RecordingSaver saver = new RecordingSaver();
    saver.failure = new IOException("No space left on device");
    ToReadSet set = setOf(saver, 1, 2);

    set.beforeWrite(4096, 2 * 4096); // returns: the write goes on

    assertThat(set.broken()).hasMessageContaining("No space left on device");
    try {
      set.read(2, 1).close();
      throw new AssertionError("a broken snapshot was read");
    } catch (SnapshotBrokenException e) {
      assertThat(e).hasMessageContaining("its blocks stay dirty");
    }
  }

  @Test
  void aBreakDuringARecordsReadStillHoldsAWriteToItUntilTheReadIsDone() throws Exception {
    RecordingSaver saver = new RecordingSaver();
    ToReadSet set = setOf(saver, 3, 4, 9);
    ToReadSet.Reading reading = set.read(3, 2); // began before the break: it reads on
    saver.failure = new IOException("No space left on device");
    set.beforeWrite(9 * 4096, 4096); // the break
    Thread writer = new Thread(() -> set.beforeWrite(3 * 4096, 4096), "writer");
    writer.start();
    awaitParked(writer);

    assertThat(writer.getState())
        .as("the write must not land on a block being read, broken or not")
        .isNotEqualTo(Thread.State.TERMINATED);
    reading.close();
    writer.join();
    assertThat(set.broken()).isNotNull();
  }

  @Test
  void aWriteStartingDuringTheDrainWaitsForTheSetAndIsProtected() throws Exception {
    try (TrackerStore store =
        TrackerStore.open(dir.resolve("state"), TrackingOptions.defaults(G))) {
      TrackedImage img = store.image("vm.img", new Fingerprint(64 * 4096, 1, 1, 1));
      img.beforeWrite(7 * 4096, 4096); // block 7 dirty
      img.afterWrite(7 * 4096, 4096);
      Drain first = img.beginSync("t", -1);
      long held = first.generation();
      img.commit(first, 64 * 4096); // the target holds everything
      img.beforeWrite(7 * 4096, 4096);
      img.afterWrite(7 * 4096, 4096);
      RecordingSaver saver = new RecordingSaver();
      List<Thread> writers = new java.util.ArrayList<>();
      saver.onProtecting =
          () -> { // inside the drain: a write to the drained block 7 starts now
            Thread w =
                new Thread(
                    () -> {
                      try {
                        img.beforeWrite(7 * 4096, 4096);
                        img.afterWrite(7 * 4096, 4096);
                      } catch (IOException e) {
                        throw new AssertionError(e);
                      }
                    },
                    "writer");
            writers.add(w);
            w.start();
            try {
              awaitParked(w);
            } catch (InterruptedException e) {
              throw new AssertionError(e);
            }
          };

      try (Drain drain = img.beginSync("t", held, new CopyBeforeWrite(saver, 1))) {
        writers.get(0).join();
        assertThat(drain.basis()).isEqualTo(Drain.Basis.HISTORY);
        assertThat(drain.blocks().toBitmap().toArray()).containsExactly(7);
        assertThat(saver.saved)
            .as("the write during the drain copied block 7 first")
            .containsExactly(7L);
      }
    }
  }
}
