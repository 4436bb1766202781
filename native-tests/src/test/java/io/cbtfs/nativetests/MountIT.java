package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.fs.mount.ProcMounts;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.DirtyTracker;
import io.cbtfs.tracker.StateFiles;
import io.cbtfs.tracker.TrackerState;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A real FUSE mount, driven with Java file I/O and real tools. */
class MountIT {
  private static final BlockGeometry G = BlockGeometry.of(64 << 10);
  private static final int IMAGE_BYTES = 8 << 20;

  @TempDir Path tmp;
  MountedFolder folder;
  byte[] original;

  @BeforeEach
  void mountSample() throws IOException {
    folder = MountedFolder.prepare(tmp, G);
    original = new byte[IMAGE_BYTES];
    new Random(1).nextBytes(original);
    Files.write(folder.backingFile("disk.img"), original);
    folder.mount();
  }

  @AfterEach
  void unmount() throws IOException {
    folder.close();
    assertThat(ProcMounts.isMounted(folder.mountPoint)).as("mount left behind").isFalse();
  }

  private static BitSet blocks(DirtySet set) {
    BitSet b = new BitSet();
    set.forEachBlock(b::set);
    return b;
  }

  @Test
  void servesTheBackingFileWithSameNameSizeAndBytes() throws IOException {
    Path image = folder.image("disk.img");
    try (var entries = Files.list(folder.mountPoint)) {
      assertThat(entries.map(p -> p.getFileName().toString())).containsExactly("disk.img");
    }
    assertThat(Files.size(image)).isEqualTo(IMAGE_BYTES);
    assertThat(Arrays.equals(Files.readAllBytes(image), original)).isTrue();
  }

  @ParameterizedTest
  @ValueSource(longs = {11, 12, 13})
  void mixedWritesReachTheBackingFileByteForByte(long seed) throws IOException {
    Random rnd = new Random(seed);
    byte[] oracle = original.clone();
    Path image = folder.image("disk.img");
    BitSet touched = new BitSet();
    try (FileChannel ch =
        FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      for (int i = 0; i < 300; i++) {
        int len = rnd.nextInt(4) == 0 ? 1 + rnd.nextInt(300_000) : 1 + rnd.nextInt(9000);
        int off = rnd.nextInt(IMAGE_BYTES - len);
        byte[] data = new byte[len];
        rnd.nextBytes(data);
        ByteBuffer buf = ByteBuffer.wrap(data);
        while (buf.hasRemaining()) {
          ch.write(buf, off + buf.position());
        }
        System.arraycopy(data, 0, oracle, off, len);
        touched.set((int) G.blockIndex(off), (int) G.blockIndex(off + len - 1) + 1);
        if (rnd.nextInt(10) == 0) { // read back through the mount, unaligned
          int roff = rnd.nextInt(IMAGE_BYTES - 70_000);
          ByteBuffer back = ByteBuffer.allocate(1 + rnd.nextInt(70_000));
          ch.read(back, roff);
          assertThat(
                  Arrays.equals(back.array(), 0, back.limit(), oracle, roff, roff + back.limit()))
              .as("read through the mount at %d", roff)
              .isTrue();
        }
      }
      ch.force(true);
    }
    assertThat(Arrays.equals(Files.readAllBytes(folder.backingFile("disk.img")), oracle))
        .as("backing file equals the oracle")
        .isTrue();
    assertThat(blocks(folder.dirty("disk.img"))).isEqualTo(touched);
  }

  @Test
  void exactlyTheTouchedBlocksAreDirty() throws IOException {
    Path image = folder.image("disk.img");
    long[][] writes = {{0, 1}, {(64 << 10) - 10, 20}, {5L << 20, 3 * (64 << 10)}};
    DirtyTracker expected = new DirtyTracker(G);
    for (long[] w : writes) {
      Tools.pwrite(image, w[0], new byte[(int) w[1]]);
      expected.mark(w[0], w[1]);
    }
    assertThat(blocks(folder.dirty("disk.img")))
        .isEqualTo(blocks(expected.snapshot()))
        .hasToString("{0, 1, 80, 81, 82}");
  }

  @Test
  void readsOnlyMarkNothing() throws IOException {
    byte[] all = Files.readAllBytes(folder.image("disk.img"));
    assertThat(all).hasSize(IMAGE_BYTES);
    assertThat(folder.dirty("disk.img").blockCount()).isZero();
  }

  @Test
  void punchHoleMarksItsRangeAndReadsZero() {
    Tools.require("fallocate");
    long off = 3L << 20;
    long len = 200 << 10;
    Tools.run(
        "punch a hole",
        "fallocate",
        "--punch-hole",
        "--offset",
        Long.toString(off),
        "--length",
        Long.toString(len),
        folder.image("disk.img").toString());
    DirtyTracker expected = new DirtyTracker(G);
    expected.mark(off, len);
    assertThat(blocks(folder.dirty("disk.img"))).isEqualTo(blocks(expected.snapshot()));
    byte[] backing;
    try {
      backing = Files.readAllBytes(folder.backingFile("disk.img"));
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    for (long i = off; i < off + len; i++) {
      assertThat(backing[(int) i]).isZero();
    }
    assertThat(backing[(int) (off + len)]).isEqualTo(original[(int) (off + len)]);
  }

  @Test
  void truncateUpAndDownMarksTheChangedTail() throws IOException {
    Path image = folder.image("disk.img");
    long smaller = IMAGE_BYTES - (1 << 20) + 100; // mid-block
    Tools.run("truncate down", "truncate", "-s", Long.toString(smaller), image.toString());
    assertThat(Files.size(folder.backingFile("disk.img"))).isEqualTo(smaller);
    assertThat(Files.size(image)).isEqualTo(smaller);
    DirtyTracker expected = new DirtyTracker(G);
    expected.mark(smaller, IMAGE_BYTES - smaller);
    assertThat(blocks(folder.dirty("disk.img"))).isEqualTo(blocks(expected.snapshot()));

    long larger = IMAGE_BYTES + (2 << 20);
    Tools.run("truncate up", "truncate", "-s", Long.toString(larger), image.toString());
    assertThat(Files.size(image)).isEqualTo(larger);
    expected.mark(smaller, larger - smaller);
    assertThat(blocks(folder.dirty("disk.img"))).isEqualTo(blocks(expected.snapshot()));
  }

  @Test
  void writePastTheEndGrowsTheImageAndMarksIt() throws IOException {
    Path image = folder.image("disk.img");
    long off = IMAGE_BYTES + 100_000L;
    Tools.pwrite(image, off, new byte[] {1, 2, 3});
    assertThat(Files.size(folder.backingFile("disk.img"))).isEqualTo(off + 3);
    byte[] tail = new byte[10];
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.READ)) {
      int n = ch.read(ByteBuffer.wrap(tail), off - 2); // a read across the end of the file
      assertThat(n).isEqualTo(5);
    }
    assertThat(Arrays.copyOf(tail, 5)).containsExactly(0, 0, 1, 2, 3);
    assertThat(folder.dirty("disk.img").contains(G.blockIndex(off))).isTrue();
  }

  @Test
  void theStateDirectoryIsInvisible() throws IOException {
    assertThat(Files.isDirectory(folder.backingFile(".cbtfs"))).isTrue();
    try (var entries = Files.list(folder.mountPoint)) {
      assertThat(entries.map(p -> p.getFileName().toString())).doesNotContain(".cbtfs");
    }
    assertThat(Files.exists(folder.image(".cbtfs"))).isFalse();
    assertThatThrownBy(() -> Files.readAllBytes(folder.image(".cbtfs/lock")))
        .isInstanceOf(NoSuchFileException.class);
    assertThatThrownBy(() -> Files.createFile(folder.image(".cbtfs")))
        .isInstanceOf(IOException.class);
  }

  @Test
  void createdImagesAreServedAndTracked() throws IOException {
    Path created = folder.image("new.raw");
    Files.write(created, new byte[100_000]);
    assertThat(Files.size(folder.backingFile("new.raw"))).isEqualTo(100_000);
    assertThat(folder.dirty("new.raw").blockCount()).isEqualTo(2);
  }

  @Test
  void renameMovesTrackingAndUnlinkDropsIt() throws IOException {
    Tools.pwrite(folder.image("disk.img"), 0, new byte[] {9});
    Files.move(folder.image("disk.img"), folder.image("renamed.img"));
    assertThat(Files.exists(folder.backingFile("renamed.img"))).isTrue();
    assertThat(blocks(folder.dirty("renamed.img"))).hasToString("{0}");
    Files.delete(folder.image("renamed.img"));
    assertThat(Files.exists(folder.backingFile("renamed.img"))).isFalse();
    folder.unmount();
    assertThat(StateFiles.trackedNames(folder.backingFile(".cbtfs"))).isEmpty();
  }

  @Test
  void writesThroughAHandleOnAReplacedImageStillSucceed() throws IOException {
    Files.write(folder.image("new.img"), new byte[4096]);
    try (FileChannel old = FileChannel.open(folder.image("disk.img"), StandardOpenOption.WRITE)) {
      old.write(ByteBuffer.wrap(new byte[] {1}), 0);
      Files.move(
          folder.image("new.img"),
          folder.image("disk.img"),
          java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      // a VM still holding the old file must not get EIO (libfuse hides the open file as
      // .fuse_hidden*, whose tracking follows the rename; without that, the tracking detaches)
      old.write(ByteBuffer.wrap(new byte[] {2}), 8L << 20);
      old.force(true);
    }
    assertThat(Files.size(folder.backingFile("disk.img"))).isEqualTo(4096);
    assertThat(folder.dirty("disk.img").blockCount()).isEqualTo(1); // the new file's own write
  }

  @Test
  void fsyncAndChmodAndTimesReachTheBackingFile() throws IOException {
    Path image = folder.image("disk.img");
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(new byte[] {1}), 0);
      ch.force(true);
    }
    Tools.run("chmod", "chmod", "600", image.toString());
    assertThat(
            Tools.run("stat", "stat", "-c", "%a", folder.backingFile("disk.img").toString()).trim())
        .isEqualTo("600");
    Tools.run("touch", "touch", "-d", "2001-02-03 04:05:06 UTC", image.toString());
    assertThat(Files.getLastModifiedTime(folder.backingFile("disk.img")).toMillis())
        .isEqualTo(981173106000L);
  }

  @Test
  void statfsReportsTheBackingFileSystem() {
    String viaMount =
        Tools.run(
            "stat -f of the mount", "stat", "-f", "-c", "%b %S", folder.mountPoint.toString());
    String backing =
        Tools.run(
            "stat -f of the backing folder",
            "stat",
            "-f",
            "-c",
            "%b %S",
            folder.backing.toString());
    assertThat(viaMount).isEqualTo(backing);
  }

  @Test
  void unmountSavesTheDirtySetAsClean() throws IOException {
    Tools.pwrite(folder.image("disk.img"), 70_000, new byte[1]);
    folder.unmount();
    assertThat(ProcMounts.isMounted(folder.mountPoint)).isFalse();
    TrackerState state =
        StateFiles.readState(folder.backingFile(".cbtfs"), "disk.img").orElseThrow();
    assertThat(state.clean()).isTrue();
    assertThat(blocks(state.dirty())).hasToString("{1}");
    assertThat(state.imageSize()).isEqualTo(IMAGE_BYTES);
  }

  @Test
  void remountKeepsTheDirtySet() throws IOException {
    Tools.pwrite(folder.image("disk.img"), 0, new byte[1]);
    folder.unmount();
    folder.mount();
    Tools.pwrite(folder.image("disk.img"), 1 << 20, new byte[1]);
    assertThat(blocks(folder.dirty("disk.img"))).hasToString("{0, 16}");
  }

  @Test
  void fioVerifiedWritesThroughTheMount() {
    Tools.require("fio");
    List<String> fio =
        new ArrayList<>(
            List.of(
                "fio",
                "--name=verify",
                "--filename=" + folder.image("disk.img"),
                "--size=" + IMAGE_BYTES,
                "--rw=randwrite",
                "--bs=4k",
                "--ioengine=psync",
                "--verify=crc32c",
                "--do_verify=1",
                "--verify_fatal=1",
                "--randseed=1234",
                "--numjobs=1",
                "--verify_state_save=0")); // no *-verify.state file in the working folder
    String out = Tools.run("fio write+verify through the mount", fio);
    assertThat(out).contains("verify");
    byte[] viaMount;
    byte[] backing;
    try {
      viaMount = Files.readAllBytes(folder.image("disk.img"));
      backing = Files.readAllBytes(folder.backingFile("disk.img"));
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    assertThat(Arrays.equals(viaMount, backing)).isTrue();
    // fio's randwrite covers every 4 KiB block once, so every 64 KiB block is dirty
    assertThat(folder.dirty("disk.img").blockCount()).isEqualTo(IMAGE_BYTES / G.blockSize());
  }
}
