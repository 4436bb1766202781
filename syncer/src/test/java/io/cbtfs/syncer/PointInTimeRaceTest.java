package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.local.ReplicaTarget;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Writers race point-in-time syncs, logging every write: its id, range, and the clock ticks at its
 * start and end. Every 8-byte word a write puts down names the write (and the word's place), so the
 * target can be read back word by word: after each sync, each word of the target must come from a
 * write that started before the sync's drain and is no older than the last write of that word that
 * ended before the sync began (a write in flight at the drain may be in or out, word by word, as
 * after a crash). Writes are paced by the target (a few per record shipped), so they land while the
 * sync reads.
 */
class PointInTimeRaceTest {
  private static final int BLOCK = SyncFixture.G.blockSize();
  private static final int IMAGE = 4 << 20;
  private static final int WRITERS = 3;
  private static final int ROUNDS = 6;

  @TempDir Path tmp;

  /** One write: [byteOffset, byteOffset + byteLength), the clock before it began and after. */
  private record Write(long id, long byteOffset, int byteLength, long startTick, long endTick) {
    boolean covers(long wordOffset) {
      return wordOffset >= byteOffset && wordOffset < byteOffset + byteLength;
    }
  }

  /** One sync: the clock before it began, at its delivery's start (after the drain), its target. */
  private record Round(long lowTick, long highTick, byte[] target) {}

  private final AtomicLong clock = new AtomicLong();
  private final AtomicLong ids = new AtomicLong();
  private final Semaphore tokens = new Semaphore(0);
  private final AtomicBoolean stop = new AtomicBoolean();
  private final ConcurrentLinkedQueue<Write> log = new ConcurrentLinkedQueue<>();

  private static long word(long writeId, long byteOffset) {
    return writeId << 24 | (byteOffset >>> 3);
  }

  @Test
  void eachSyncHoldsTheImageAsOfItsDrain() throws Exception {
    assertThat(syncsUnderWrites(true)).isTrue();
  }

  @Test
  void withoutTheSnapshotTheSameRaceShowsLaterWrites() throws Exception {
    assertThat(syncsUnderWrites(false)).isFalse(); // the test can see what it guards against
  }

  /** Runs the race; whether every round held the image as of its drain. */
  private boolean syncsUnderWrites(boolean pointInTime) throws Exception {
    Path dir = Files.createDirectory(tmp.resolve(pointInTime ? "pit" : "fuzzy"));
    try (SyncFixture fx = new SyncFixture(dir, IMAGE, 1)) {
      ByteBuffer initial = ByteBuffer.allocate(IMAGE);
      for (long p = 0; p < IMAGE; p += 8) {
        initial.putLong(word(0, p));
      }
      Files.write(fx.image, initial.array());
      Path replicaFile = dir.resolve("replica.img");
      ReplicaTarget replica = new ReplicaTarget(replicaFile);
      Syncer syncer = new Syncer(256 << 10, 2);
      syncer.sync(fx.source(), replica, true, SyncProgress.NONE);
      SyncSource source =
          pointInTime
              ? new SyncSource(
                  fx.tracked,
                  fx.image,
                  new PointInTime(FleeceStore.scratchIn(dir), new FleeceLimit(-1, 100)))
              : fx.source();

      List<Thread> writers = new ArrayList<>();
      ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
      for (int w = 0; w < WRITERS; w++) {
        int writer = w;
        Thread t =
            new Thread(
                () -> {
                  try {
                    write(fx, writer);
                  } catch (Throwable e) {
                    errors.add(e);
                  }
                },
                "writer-" + w);
        t.start();
        writers.add(t);
      }
      List<Round> rounds = new ArrayList<>();
      try {
        for (int r = 0; r < ROUNDS; r++) {
          tokens.release(40); // dirty some blocks before the drain
          long[] high = {-1};
          Target paced =
              new BeginHookTarget(
                  new HookedTarget(replica, (written, length) -> tokens.release(4)),
                  () -> high[0] = clock.get());
          long low = clock.get();
          syncer.sync(source, paced, r == ROUNDS / 2, SyncProgress.NONE);
          rounds.add(new Round(low, high[0], Files.readAllBytes(replicaFile)));
        }
      } finally {
        stop.set(true);
        tokens.release(1_000_000);
        for (Thread t : writers) {
          t.join(TimeUnit.SECONDS.toMillis(30));
        }
      }
      assertThat(errors).isEmpty();
      List<Write> writes = new ArrayList<>(log);
      writes.sort((a, b) -> Long.compare(a.id(), b.id()));
      long during = 0;
      for (Round round : rounds) {
        during += writes.stream().filter(x -> x.startTick() > round.highTick()).count();
      }
      assertThat(during).as("writes that started after a drain").isPositive();
      boolean held = true;
      for (Round round : rounds) {
        held &= holdsTheDrainInstant(round, writes);
      }
      return held;
    }
  }

  /** A writer: owns the blocks {@code b % WRITERS == writer}; one write per token. */
  private void write(SyncFixture fx, int writer) throws IOException, InterruptedException {
    Random random = new Random(writer);
    try (FileChannel ch = FileChannel.open(fx.image, StandardOpenOption.WRITE)) {
      while (true) {
        tokens.acquire();
        if (stop.get()) {
          return;
        }
        int block = writer + WRITERS * random.nextInt(IMAGE / BLOCK / WRITERS);
        int words = 1 + random.nextInt(random.nextBoolean() ? 16 : BLOCK / 8);
        int firstWord = random.nextInt(BLOCK / 8 - words + 1);
        long offset = (long) block * BLOCK + 8L * firstWord;
        long id = ids.incrementAndGet();
        ByteBuffer data = ByteBuffer.allocate(8 * words);
        for (int i = 0; i < words; i++) {
          data.putLong(word(id, offset + 8L * i));
        }
        data.flip();
        long start = clock.incrementAndGet();
        fx.tracked.beforeWrite(offset, data.remaining());
        try {
          while (data.hasRemaining()) {
            ch.write(data, offset + data.position());
          }
        } finally {
          fx.tracked.afterWrite(offset, 8L * words);
        }
        long end = clock.incrementAndGet();
        log.add(new Write(id, offset, 8 * words, start, end));
      }
    }
  }

  /**
   * Whether every word of the round's target comes from a write allowed at its drain: started
   * before the delivery began ({@code highTick}), and no older than the last write of that word
   * that ended before the sync began ({@code lowTick}).
   */
  private static boolean holdsTheDrainInstant(Round round, List<Write> writes) {
    long[] oldest = new long[IMAGE / 8]; // the last write that ended before the sync began
    long[] newest = new long[IMAGE / 8]; // the last write that started before the drain
    for (Write w : writes) {
      for (long p = w.byteOffset(); p < w.byteOffset() + w.byteLength(); p += 8) {
        if (w.endTick() < round.lowTick()) {
          oldest[(int) (p >>> 3)] = w.id();
        }
        if (w.startTick() < round.highTick()) {
          newest[(int) (p >>> 3)] = w.id();
        }
      }
    }
    ByteBuffer target = ByteBuffer.wrap(round.target());
    for (long p = 0; p < IMAGE; p += 8) {
      long word = target.getLong((int) p);
      long id = word >>> 24;
      int i = (int) (p >>> 3);
      boolean placed = (word & ((1 << 24) - 1)) == (p >>> 3);
      boolean inRange = id >= oldest[i] && id <= newest[i];
      boolean wroteIt =
          id == 0 || writes.get(indexOf(writes, id)).covers(p); // ids in the log are 1, 2, ...
      if (!placed || !inRange || !wroteIt) {
        return false;
      }
    }
    return true;
  }

  private static int indexOf(List<Write> sortedById, long id) {
    int lo = 0;
    int hi = sortedById.size() - 1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      long at = sortedById.get(mid).id();
      if (at == id) {
        return mid;
      } else if (at < id) {
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    throw new AssertionError("no write " + id + " in the log");
  }
}
