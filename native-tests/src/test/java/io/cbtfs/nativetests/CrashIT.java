package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.Mount;
import io.cbtfs.fs.mount.MountOptions;
import io.cbtfs.fs.mount.ProcMounts;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Invariants 1 and 4 against kill -9: a real mount in its own process, a writer recording every
 * acknowledged write, SIGKILL after a random number of them, a remount, and two checks: every
 * acknowledged block is dirty, and every block whose bytes differ from the image as it was (the
 * target's copy) is dirty, which also covers writes that landed without being acknowledged. {@code
 * -Dcbtfs.crash.runs=N} sets the number of runs (bench/crash-test.sh runs more).
 */
class CrashIT {
  private static final int RUNS = Integer.getInteger("cbtfs.crash.runs", 20);
  private static final BlockGeometry G = BlockGeometry.of(64 << 10);
  private static final int IMAGE_BYTES = 32 << 20;

  /** A small hot set (16 x 256 KiB) so that the bound on the resync shows. */
  private static final TrackingOptions TRACKING = new TrackingOptions(G, 256 << 10, 16, false);

  @TempDir Path tmp;

  @Test
  void killNineNeverLosesAChange() throws Exception {
    Fuse.require();
    long lost = 0;
    long acknowledgedBlocks = 0;
    long changedBlocks = 0;
    long resyncBlocks = 0;
    for (int run = 0; run < RUNS; run++) {
      Result r = oneRun(run, 1000 + run);
      lost += r.lost;
      acknowledgedBlocks += r.acknowledged;
      changedBlocks += r.changed;
      resyncBlocks += r.resync;
    }
    System.out.printf(
        "crash test: %d runs of kill -9, %d lost changes; %d blocks acknowledged, %d changed on"
            + " disk, %d resent after recovery (%.2fx the changed blocks, %.1f%% of the images)%n",
        RUNS,
        lost,
        acknowledgedBlocks,
        changedBlocks,
        resyncBlocks,
        (double) resyncBlocks / Math.max(1, changedBlocks),
        100.0 * resyncBlocks / ((long) RUNS * (IMAGE_BYTES / G.blockSize())));
    assertThat(lost).isZero();
    assertThat(resyncBlocks)
        .as("bounded resync")
        .isLessThan((long) RUNS * IMAGE_BYTES / G.blockSize());
  }

  /**
   * The case: a write into extent 0, then one into extent 40, kill -9, one bit of the
   * newest activity-log slot flipped (extent 40 in its hot list). The older slot names extent 0
   * only, so no dirty set knows the write into extent 40: status must say that the next sync is a
   * verified one, and after that sync the replica must be identical.
   */
  @Test
  void aFlippedBitInTheNewestSlotMakesTheNextSyncAVerifiedOne() throws Exception {
    Fuse.require();
    Path backing = Files.createDirectory(tmp.resolve("images"));
    Path mnt = Files.createDirectory(tmp.resolve("mnt"));
    Path replica = tmp.resolve("replica.img");
    byte[] original = new byte[16 << 20];
    new Random(7).nextBytes(original);
    Files.write(backing.resolve("disk.img"), original);
    Path image = mnt.resolve("disk.img");
    String target = "file:" + replica;
    long extent = 256 << 10; // --al-extent-size of the mount

    Process mount = startMountProcess(backing, mnt);
    try {
      assertThat(Cbtfs.run("sync", image.toString(), target).exitCode()).isZero();
      for (long at : new long[] {0, 40 * extent}) {
        byte[] b = new byte[4096];
        new Random(at).nextBytes(b);
        Tools.pwrite(image, at, b);
      }
      mount.destroyForcibly(); // SIGKILL
      assertThat(mount.waitFor(30, TimeUnit.SECONDS)).isTrue();
    } finally {
      mount.destroyForcibly();
      Tools.exec(List.of("fusermount", "-u", "-z", mnt.toString()), 30);
    }

    Path log = backing.resolve(".cbtfs/disk.img.alog");
    byte[] bytes = Files.readAllBytes(log);
    int half = bytes.length / 2;
    ByteBuffer slots = ByteBuffer.wrap(bytes);
    int newest = slots.getLong(16) > slots.getLong(half + 16) ? 0 : half; // sequence: offset 16
    assertThat(slots.getInt(newest + 40)).as("hot extents in the newest slot").isEqualTo(2);
    assertThat(slots.getLong(newest + 44 + 8)).as("its second hot extent").isEqualTo(40);
    bytes[newest + 44 + 8 + 7] ^= 1; // now it reads 41, and its CRC no longer matches
    Files.write(log, bytes);

    Tools.Result offline = Cbtfs.run("status", "--json", backing.resolve("disk.img").toString());
    assertThat(offline.exitCode()).as(offline.output()).isZero();
    assertThat(offline.output()).contains("\"verifyNextSync\":true");

    Process again = startMountProcess(backing, mnt);
    try {
      Tools.Result status = Cbtfs.run("status", image.toString());
      assertThat(status.output())
          .as(status.output())
          .contains("damaged activity log")
          .contains("next sync    verified");
      Tools.Result sync = Cbtfs.run("sync", image.toString(), target);
      assertThat(sync.exitCode()).as(sync.output()).isZero();
      Tools.Result verify = Cbtfs.run("verify", image.toString(), target);
      assertThat(verify.exitCode()).as(verify.output()).isZero();
      assertThat(verify.output()).contains("identical");
      assertThat(Cbtfs.run("status", "--json", image.toString()).output())
          .as("the verified sync committed")
          .contains("\"verifyNextSync\":false");
    } finally {
      Tools.Result unmount = Cbtfs.run("unmount", mnt.toString());
      assertThat(again.waitFor(60, TimeUnit.SECONDS)).as("unmount: %s", unmount.output()).isTrue();
    }
  }

  private record Result(long lost, long acknowledged, long changed, long resync) {}

  private Result oneRun(int run, long seed) throws Exception {
    Random rnd = new Random(seed);
    Path root = Files.createDirectory(tmp.resolve("run-" + run));
    Path backing = Files.createDirectory(root.resolve("images"));
    Path mnt = Files.createDirectory(root.resolve("mnt"));
    byte[] original = new byte[IMAGE_BYTES];
    rnd.nextBytes(original);
    Files.write(backing.resolve("disk.img"), original);

    Process mount = startMountProcess(backing, mnt);
    BitSet acknowledged = new BitSet();
    int killAfter = 1 + rnd.nextInt(1500);
    CountDownLatch enough = new CountDownLatch(1);
    AtomicInteger writes = new AtomicInteger();
    Thread writer =
        new Thread(
            () ->
                writeUntilFailure(
                    mnt.resolve("disk.img"), seed, acknowledged, writes, killAfter, enough),
            "crash-writer");
    try {
      writer.start();
      assertThat(enough.await(120, TimeUnit.SECONDS))
          .as("writer reached %d writes", killAfter)
          .isTrue();
      mount.destroyForcibly(); // SIGKILL
      assertThat(mount.waitFor(30, TimeUnit.SECONDS)).isTrue();
      writer.join(TimeUnit.SECONDS.toMillis(60));
      assertThat(writer.isAlive()).as("writer stopped by the dead mount").isFalse();
    } finally {
      mount.destroyForcibly();
      Tools.exec(List.of("fusermount", "-u", "-z", mnt.toString()), 30);
    }
    assertThat(ProcMounts.isMounted(mnt)).isFalse();

    byte[] after = Files.readAllBytes(backing.resolve("disk.img"));
    BitSet changed = new BitSet();
    for (int b = 0; b < IMAGE_BYTES / G.blockSize(); b++) {
      int from = b * G.blockSize();
      if (!Arrays.equals(original, from, from + G.blockSize(), after, from, from + G.blockSize())) {
        changed.set(b);
      }
    }
    DirtySet dirty;
    try (Mount again =
        Mount.start(
            new MountOptions(
                backing, mnt, null, TRACKING, false, true, MountedFolder.transport(), false))) {
      TrackedImage image =
          again
              .fileSystem()
              .trackers()
              .image("disk.img", again.fileSystem().files().fingerprint("disk.img"));
      assertThat(image.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.UNCLEAN);
      dirty = image.dirtyBlocks();
    }
    BitSet missing = (BitSet) acknowledged.clone();
    missing.or(changed);
    dirty.forEachBlock(missing::clear);
    assertThat(missing.cardinality())
        .as(
            "run %d (seed %d, killed after %d writes): blocks changed but not dirty: %s",
            run, seed, writes.get(), missing)
        .isZero();
    return new Result(
        missing.cardinality(),
        acknowledged.cardinality(),
        changed.cardinality(),
        dirty.blockCount());
  }

  private static Process startMountProcess(Path backing, Path mnt) throws Exception {
    return Cbtfs.startAwaiting(
        "cbtfs: serving",
        "mount",
        "--block-size=64K",
        "--al-extent-size=256K",
        "--al-extents=16",
        backing.toString(),
        mnt.toString());
  }

  /** Writes random ranges until the mount dies; records each block of every acknowledged write. */
  private static void writeUntilFailure(
      Path image,
      long seed,
      BitSet acknowledged,
      AtomicInteger writes,
      int signalAfter,
      CountDownLatch signal) {
    Random rnd = new Random(seed * 7919);
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      while (true) {
        int len = 1 + rnd.nextInt(128 << 10);
        // most writes stay in a few MiB so extents stay hot; some go anywhere
        long span = rnd.nextInt(5) == 0 ? IMAGE_BYTES : 3 << 20;
        long off = (long) (rnd.nextDouble() * (span - len));
        byte[] data = new byte[len];
        rnd.nextBytes(data);
        ByteBuffer buf = ByteBuffer.wrap(data);
        while (buf.hasRemaining()) {
          ch.write(buf, off + buf.position());
        }
        synchronized (acknowledged) {
          acknowledged.set((int) G.blockIndex(off), (int) G.blockIndex(off + len - 1) + 1);
        }
        if (writes.incrementAndGet() == signalAfter) {
          signal.countDown();
        }
      }
    } catch (IOException e) {
      signal.countDown(); // the mount is gone
    }
  }
}
