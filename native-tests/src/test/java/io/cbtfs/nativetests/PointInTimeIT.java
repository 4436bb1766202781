package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Point-in-time syncs through a real mount: a writer keeps writing through the mount while {@code
 * cbtfs sync} runs in the mount's process. Every 8-byte word a write puts down names the write (and
 * the word's place), and the writer logs each write's range and the clock before it started and
 * after it was acknowledged. After each sync the replica must be the image of one instant between
 * the sync's start and end: some tick T after the start of every write the replica shows and before
 * the end of every later write of the same words (a write in flight at the drain may be in or out,
 * as after a crash). A fleece too small for the writes fails the sync, never the writer, and loses
 * nothing; kill -9 of the mount during a point-in-time sync loses nothing.
 */
class PointInTimeIT {
  private static final int BLOCK = 64 << 10;
  private static final int IMAGE = 64 << 20;

  @TempDir Path tmp;
  DaemonMount mount;
  Writer writer;

  @AfterEach
  void tearDown() throws Exception {
    if (writer != null) {
      writer.stop();
    }
    if (mount != null) {
      mount.close();
    }
  }

  /** One acknowledged write. */
  private record Write(long id, long byteOffset, int byteLength, long startTick, long endTick) {}

  private static long word(long writeId, long byteOffset) {
    return writeId << 26 | (byteOffset >>> 3);
  }

  /** A writer thread of this JVM writing through the mount: its own process, not the mount's. */
  private static final class Writer {
    final AtomicLong clock = new AtomicLong();
    final ConcurrentLinkedQueue<Write> log = new ConcurrentLinkedQueue<>();
    final AtomicBoolean stop = new AtomicBoolean();
    final AtomicReference<Throwable> failure = new AtomicReference<>();
    final Thread thread;
    long nextId;

    Writer(Path image, long seed) {
      thread =
          new Thread(
              () -> {
                Random random = new Random(seed);
                try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
                  while (!stop.get()) {
                    writeOne(ch, random);
                  }
                } catch (Throwable e) {
                  failure.set(e);
                }
              },
              "pit-writer");
      thread.start();
    }

    private void writeOne(FileChannel ch, Random random) throws IOException {
      int words = 1 + random.nextInt(random.nextBoolean() ? 64 : 2 * BLOCK / 8);
      long offset = 8L * random.nextInt(IMAGE / 8 - words);
      long id = ++nextId;
      ByteBuffer data = ByteBuffer.allocate(8 * words);
      for (int i = 0; i < words; i++) {
        data.putLong(word(id, offset + 8L * i));
      }
      data.flip();
      long start = clock.incrementAndGet();
      while (data.hasRemaining()) {
        ch.write(data, offset + data.position());
      }
      long end = clock.incrementAndGet();
      log.add(new Write(id, offset, 8 * words, start, end));
    }

    void stop() throws InterruptedException {
      stop.set(true);
      thread.join(TimeUnit.SECONDS.toMillis(60));
      assertThat(thread.isAlive()).isFalse();
    }
  }

  private Path prepareImage() throws IOException {
    mount = DaemonMount.prepare(tmp);
    ByteBuffer initial = ByteBuffer.allocate(IMAGE);
    for (long p = 0; p < IMAGE; p += 8) {
      initial.putLong(word(0, p));
    }
    Files.write(mount.backingFile("disk.img"), initial.array());
    return mount.image("disk.img");
  }

  @Test
  void eachSyncOfARunningWriterIsTheImageOfOneInstant() throws Exception {
    Path image = prepareImage();
    mount.mount();
    Path replica = tmp.resolve("replica.img");
    String target = "file:" + replica;
    assertThat(Cbtfs.run("sync", image.toString(), target).exitCode()).isZero();
    writer = new Writer(image, 1);
    int rounds = 4;
    long during = 0;
    for (int r = 0; r < rounds; r++) {
      awaitWrites(writer, 300); // dirty blocks before the drain
      long low = writer.clock.get();
      Tools.Result sync =
          r == 2
              ? Cbtfs.run("sync", "--full", image.toString(), target)
              : Cbtfs.run("sync", image.toString(), target);
      long high = writer.clock.get();
      assertThat(sync.exitCode()).as(sync.output()).isZero();
      byte[] held = Files.readAllBytes(replica);
      awaitWrites(writer, 1); // every write that began before the sync ended is in the log
      List<Write> writes = sortedLog(writer);
      during += writes.stream().filter(w -> w.startTick() > low && w.endTick() < high).count();
      assertThat(instantOf(held, writes, low, high))
          .as("round %d: the replica is the image of one instant in [%d, %d]", r, low, high)
          .isNotNegative();
    }
    writer.stop();
    assertThat(writer.failure.get()).isNull();
    assertThat(during).as("writes acknowledged while syncs ran").isPositive();
    Tools.Result last = Cbtfs.run("sync", image.toString(), target);
    assertThat(last.exitCode()).as(last.output()).isZero();
    assertThat(Files.mismatch(mount.backingFile("disk.img"), replica)).isEqualTo(-1L);
  }

  /**
   * The hooks run around the drain, from the sync's client: what the pre-hook writes through the
   * mount is in the replica; what the post-hook writes (it runs at the drain, while the copy goes
   * on) is not, and reaches the next sync.
   */
  @Test
  void thePreHookWriteIsInTheSyncAndThePostHookWriteIsNot() throws Exception {
    Path image = prepareImage();
    mount.mount();
    Path replica = tmp.resolve("replica.img");
    String target = "file:" + replica;
    assertThat(Cbtfs.run("sync", image.toString(), target).exitCode()).isZero();
    String dd = " | dd of=\"$CBTFS_IMAGE\" bs=65536 conv=notrunc status=none seek=";

    Tools.Result sync =
        Cbtfs.run(
            "sync",
            "--full", // long enough that the post-hook's write lands while the copy runs
            "--pre-hook",
            "head -c 65536 /dev/zero | tr '\\0' P" + dd + "5",
            "--post-hook",
            "head -c 65536 /dev/zero | tr '\\0' Q" + dd + "1000; echo thawed >&2",
            image.toString(),
            target);

    assertThat(sync.exitCode()).as(sync.output()).isZero();
    assertThat(sync.output()).contains("thawed");
    byte[] held = Files.readAllBytes(replica);
    byte[] now = Files.readAllBytes(mount.backingFile("disk.img"));
    assertThat(now[5 * BLOCK]).isEqualTo((byte) 'P');
    assertThat(now[1000 * BLOCK]).isEqualTo((byte) 'Q');
    assertThat(held[5 * BLOCK]).as("the pre-hook's write").isEqualTo((byte) 'P');
    assertThat(held[1000 * BLOCK])
        .as("the post-hook's write, after the drain")
        .isNotEqualTo((byte) 'Q');
    assertThat(Cbtfs.run("sync", image.toString(), target).exitCode()).isZero();
    assertThat(Files.mismatch(mount.backingFile("disk.img"), replica)).isEqualTo(-1L);
  }

  @Test
  void aFailingPreHookStartsNoSyncAndThaws() throws Exception {
    Path image = prepareImage();
    mount.mount();
    Path thawed = tmp.resolve("thawed");
    Tools.Result sync =
        Cbtfs.run(
            "sync",
            "--pre-hook",
            "exit 7",
            "--post-hook",
            "touch " + thawed,
            image.toString(),
            "file:" + tmp.resolve("replica.img"));
    assertThat(sync.exitCode()).isEqualTo(1);
    assertThat(sync.output().strip())
        .isEqualTo("cbtfs sync: the --pre-hook exited with 7: the sync did not start");
    assertThat(thawed).exists();
    assertThat(tmp.resolve("replica.img")).doesNotExist();
  }

  @Test
  void aFleeceTooSmallFailsTheSyncNotTheWriterAndLosesNothing() throws Exception {
    Path image = prepareImage();
    mount.mount();
    Path replica = tmp.resolve("replica.img");
    String target = "file:" + replica;
    assertThat(Cbtfs.run("sync", image.toString(), target).exitCode()).isZero();
    writer = new Writer(image, 2);
    awaitWrites(writer, 2000); // most blocks dirty

    Tools.Result sync =
        Cbtfs.run("sync", "--full", "--fleece-limit", "64K", image.toString(), target);

    assertThat(sync.exitCode()).as(sync.output()).isEqualTo(1);
    assertThat(sync.output())
        .contains("snapshot broke")
        .contains("the fleece is full")
        .contains("blocks stay dirty");
    assertThat(sync.output().strip().lines()).as(sync.output()).hasSize(1);
    awaitWrites(writer, 100); // the writer goes on
    writer.stop();
    assertThat(writer.failure.get()).as("the writer never failed").isNull();
    assertThat(Cbtfs.run("sync", image.toString(), target).exitCode()).isZero();
    assertThat(Files.mismatch(mount.backingFile("disk.img"), replica)).isEqualTo(-1L);
  }

  @Test
  void killNineDuringAPointInTimeSyncLosesNothing() throws Exception {
    Path image = prepareImage();
    ProcessHandle daemon = mount.mount();
    Path replica = tmp.resolve("replica.img");
    String target = "file:" + replica;
    assertThat(Cbtfs.run("sync", image.toString(), target).exitCode()).isZero();
    writer = new Writer(image, 3);
    awaitWrites(writer, 1000);
    Process sync =
        new ProcessBuilder(Cbtfs.command("sync", "--full", image.toString(), target))
            .redirectErrorStream(true)
            .start();
    awaitWrites(writer, 200); // the sync is under way, the fleece filling
    daemon.destroyForcibly(); // SIGKILL of the mount, mid-sync
    assertThat(daemon.onExit().get(30, TimeUnit.SECONDS).isAlive()).isFalse();
    assertThat(sync.waitFor(60, TimeUnit.SECONDS)).isTrue();
    writer.stop(); // it fails once the mount is gone: that is the crash, not the snapshot
    mount.close(); // the dead mount's mount point

    mount.mount();
    Tools.Result again = Cbtfs.run("sync", image.toString(), target);
    assertThat(again.exitCode()).as(again.output()).isZero();
    assertThat(Files.mismatch(mount.backingFile("disk.img"), replica)).isEqualTo(-1L);
    try (var files = Files.list(mount.backing.resolve(".cbtfs"))) {
      assertThat(files.map(p -> p.getFileName().toString()))
          .as("no fleece left behind")
          .noneMatch(n -> n.contains("fleece"));
    }
  }

  private static void awaitWrites(Writer w, int count) {
    long target = w.log.size() + count;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (w.log.size() < target && w.failure.get() == null) {
      assertThat(System.nanoTime()).as("%d writes within 120 s", count).isLessThan(deadline);
      Thread.onSpinWait();
      Thread.yield();
    }
  }

  private static List<Write> sortedLog(Writer w) {
    List<Write> writes = new ArrayList<>(w.log);
    writes.sort((a, b) -> Long.compare(a.id(), b.id()));
    return writes;
  }

  /**
   * The earliest tick T in ({@code low}, {@code high}) at which {@code held} is the image (a write
   * in flight at T counted either way); -1 if there is none. Each word the replica holds from write
   * W means T is after W started; each later write W' of that word means T is before W' ended.
   */
  private static long instantOf(byte[] held, List<Write> writes, long low, long high) {
    long[] shown = new long[IMAGE / 8];
    ByteBuffer b = ByteBuffer.wrap(held);
    for (int i = 0; i < shown.length; i++) {
      long w = b.getLong(8 * i);
      if ((w & ((1L << 26) - 1)) != i) {
        return -1; // a word out of place: torn or misplaced
      }
      shown[i] = w >>> 26;
    }
    long after = low; // T > after
    long before = high; // T < before
    java.util.Map<Long, Write> byId = new java.util.HashMap<>();
    for (Write w : writes) {
      byId.put(w.id(), w);
    }
    for (int i = 0; i < shown.length; i++) {
      if (shown[i] != 0) {
        Write w = byId.get(shown[i]);
        if (w == null || 8L * i < w.byteOffset() || 8L * i >= w.byteOffset() + w.byteLength()) {
          return -1; // a write that never wrote here
        }
        after = Math.max(after, w.startTick());
      }
    }
    for (Write w : writes) {
      for (long p = w.byteOffset(); p < w.byteOffset() + w.byteLength(); p += 8) {
        if (w.id() > shown[(int) (p >>> 3)]) {
          before = Math.min(before, w.endTick()); // it overwrote what the replica shows
          break;
        }
      }
    }
    return after < before ? after + 1 : -1;
  }
}
