package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A consistency group through the tracker: a writer puts a counter into image A, then, once that
 * write returned, the same counter into image B, over and over, while groups of both drain. Each
 * image is an array of words in memory (a word per block) and each drain's snapshot of it is read
 * as a sync reads it (under the {@link ToReadSet}'s lock, the copied old word if a write copied
 * it). At one instant of the writer's log, A holds k or k + 1 when B holds k: so every round must
 * show {@code B <= A <= B + 1}. Drains taken one after the other, with writes let through between
 * them, show a B ahead of A.
 */
class GroupDrainTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);
  private static final int BLOCKS = 64;
  private static final long IMAGE = (long) BLOCKS * G.blockSize();
  private static final int ROUNDS = 40;

  @TempDir Path dir;

  /** An image in memory, a word per block, and the fleece of its sync: the words copied aside. */
  private static final class MemoryImage implements BlockSaver {
    final AtomicLongArray words = new AtomicLongArray(BLOCKS);
    final Map<Long, Long> fleece = new ConcurrentHashMap<>();

    @Override
    public long imageBytesAtDrain() {

      return -1;
    }

    @Override
    public void protecting(long blockCount) {
      fleece.clear();
    }

    @Override
    public void save(long blockIndex) {
      fleece.put(blockIndex, words.get((int) blockIndex));
    }

    void write(TrackedImage tracked, int block, long value) throws IOException {
      long offset = (long) block * G.blockSize();
      tracked.beforeWrite(offset, G.blockSize());
      try {
        words.set(block, value);
      } finally {
        tracked.afterWrite(offset, G.blockSize());
      }
    }

    /** Block {@code block} as the sync of {@code drain} reads it. */
    long read(Drain drain, int block) throws IOException {
      try (ToReadSet.Reading r = drain.toRead().read(block, 1)) {
        return r.copied(block) ? fleece.get((long) block) : words.get(block);
      }
    }
  }

  private interface Begin {
    List<Drain> begin(List<GroupDrain.Member> members) throws IOException;
  }

  @Test
  void aGroupHoldsBothImagesAtOneInstant() throws Exception {
    assertThat(roundsAtOneInstant(GroupDrain::begin)).isEqualTo(ROUNDS);
  }

  /** The oracle sees what it guards against: drains one after the other with writes between. */
  @Test
  void drainsOneAfterTheOtherShowBAheadOfA() throws Exception {
    Begin oneByOne =
        members -> {
          List<Drain> drains = new ArrayList<>();
          for (GroupDrain.Member m : members) {
            drains.add(m.image().beginSync(m.target(), m.targetGeneration(), m.copyBeforeWrite()));
          }
          return drains;
        };
    assertThat(roundsAtOneInstant(oneByOne)).isLessThan(ROUNDS);
  }

  /** Runs the rounds; how many of them held both images at one instant. */
  private int roundsAtOneInstant(Begin begin) throws Exception {
    TrackerStore store = TrackerStore.open(dir.resolve("state"), TrackingOptions.defaults(G));
    TrackedImage a = store.image("a.img", new Fingerprint(IMAGE, 1, 1, 1));
    TrackedImage b = store.image("b.img", new Fingerprint(IMAGE, 1, 2, 1));
    MemoryImage memA = new MemoryImage();
    MemoryImage memB = new MemoryImage();
    AtomicBoolean stop = new AtomicBoolean();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    AtomicLong written = new AtomicLong();
    Thread writer =
        new Thread(
            () -> {
              try {
                for (long k = 1; !stop.get(); k++) {
                  int other = 1 + (int) (k % (BLOCKS - 1)); // other blocks dirty too
                  memA.write(a, 0, k);
                  memA.write(a, other, k);
                  memB.write(b, 0, k); // only once A's write returned
                  memB.write(b, other, k);
                  written.set(k);
                }
              } catch (Throwable e) {
                failure.set(e);
              }
            },
            "group-writer");
    writer.start();
    int held = 0;
    long generationA = -1;
    long generationB = -1;
    long lastA = -1;
    int moved = 0;
    try {
      for (int round = 0; round < ROUNDS; round++) {
        List<Drain> drains =
            begin.begin(
                List.of(
                    new GroupDrain.Member(a, "mem:a", generationA, new CopyBeforeWrite(memA, 1)),
                    new GroupDrain.Member(b, "mem:b", generationB, new CopyBeforeWrite(memB, 1))));
        long atA;
        long atB;
        try (Drain drainA = drains.get(0);
            Drain drainB = drains.get(1)) {
          atB = memB.read(drainB, 0); // B first: the writer has all the longer to move on
          atA = memA.read(drainA, 0);
          a.commit(drainA, IMAGE);
          b.commit(drainB, IMAGE);
          generationA = drainA.generation();
          generationB = drainB.generation();
        }
        if (atB <= atA && atA <= atB + 1) {
          held++;
        }
        if (atA != lastA) {
          moved++;
        }
        lastA = atA;
        awaitWriter(written, atA + 3, failure); // the writer moves on before the next drain
      }
    } finally {
      stop.set(true);
      writer.join(TimeUnit.SECONDS.toMillis(30));
    }
    assertThat(failure.get()).isNull();
    assertThat(moved).as("rounds whose instant moved on").isEqualTo(ROUNDS);
    store.close();
    return held;
  }

  /** Waits until the writer passed {@code count}: a bounded wait on its state, not a sleep. */
  private static void awaitWriter(
      AtomicLong written, long count, AtomicReference<Throwable> failure) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (written.get() < count && failure.get() == null) {
      assertThat(System.nanoTime()).as("the writer moves on").isLessThan(deadline);
      Thread.onSpinWait();
    }
  }

  @Test
  void anImageTwiceInTheGroupIsRefusedAndNothingIsTaken() throws Exception {
    TrackerStore store = TrackerStore.open(dir.resolve("twice"), TrackingOptions.defaults(G));
    TrackedImage a = store.image("a.img", new Fingerprint(IMAGE, 1, 1, 1));
    MemoryImage mem = new MemoryImage();
    assertThatThrownBy(
            () ->
                GroupDrain.begin(
                    List.of(
                        new GroupDrain.Member(a, "mem:1", -1, new CopyBeforeWrite(mem, 1)),
                        new GroupDrain.Member(a, "mem:2", -1, new CopyBeforeWrite(mem, 1)))))
        .isInstanceOf(CbtfsException.class)
        .hasMessage("a.img is twice in the group");
    assertThat(a.issuedGeneration()).isZero();
    mem.write(a, 3, 7); // no gate left closed
    try (Drain d = a.beginSync("mem:1", -1)) {
      assertThat(d.generation()).isPositive();
    }
    store.close();
  }

  @Test
  void anImageAlreadySyncingFailsTheGroupNamingIt() throws Exception {
    TrackerStore store = TrackerStore.open(dir.resolve("busy"), TrackingOptions.defaults(G));
    TrackedImage a = store.image("a.img", new Fingerprint(IMAGE, 1, 1, 1));
    TrackedImage b = store.image("b.img", new Fingerprint(IMAGE, 1, 2, 1));
    MemoryImage memA = new MemoryImage();
    MemoryImage memB = new MemoryImage();
    try (Drain running = b.beginSync("mem:other", -1)) {
      assertThatThrownBy(
              () ->
                  GroupDrain.begin(
                      List.of(
                          new GroupDrain.Member(a, "mem:a", -1, new CopyBeforeWrite(memA, 1)),
                          new GroupDrain.Member(b, "mem:b", -1, new CopyBeforeWrite(memB, 1)))))
          .hasMessage("b.img: a sync of this image is already running");
    }
    memA.write(a, 1, 1); // would wait for ever at a gate left closed
    memB.write(b, 1, 1);
    assertThat(memA.fleece).isEmpty();
    try (Drain d = a.beginSync("mem:a", -1)) {
      assertThat(d.blocks().contains(1)).isTrue();
    }
    store.close();
  }
}
