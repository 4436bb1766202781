package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.FuseTransport;
import io.cbtfs.fs.mount.ProcMounts;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The cbtfs command as an operator runs it: a daemon mount, status over the socket, unmount. */
class CliMountIT {
  @TempDir Path tmp;
  DaemonMount folder;

  @BeforeEach
  void folders() throws IOException {
    folder = DaemonMount.prepare(tmp);
    Files.write(folder.backingFile("vm.raw"), new byte[4 << 20]);
  }

  @AfterEach
  void noMountLeft() throws IOException {
    folder.close();
  }

  /**
   * A mount killed (SIGKILL) after an incremental sync to a replica returned and before the
   * replica's background settle finished (held back at the metadata write): the journal is left,
   * the replica as verify reads it is still the image (verify applies the journal), and the
   * remounted image syncs on incrementally.
   */
  @Test
  void aMountKilledBeforeItsSettleLeavesAReplicaThatVerifyFinishes() throws Exception {
    Path replicaDir = Files.createDirectory(tmp.resolve("replica"));
    String replica = "file:" + replicaDir.resolve("vm.raw");
    ProcessHandle daemon = folder.mount();
    writeRandomBlocks(0, 1, 5, 40);
    Tools.Result full = Cbtfs.run("sync", folder.image("vm.raw").toString(), replica);
    assertThat(full.exitCode()).as(full.output()).isZero();
    Path journal = replicaDir.resolve(".vm.raw.cbtfs-apply");
    assertThat(journal).as("a new replica is written in place, with no journal").doesNotExist();
    // A FIFO at the metadata's temp name holds the settle back: opening it for writing blocks until
    // a reader comes, and none does. The commit before it does not touch the metadata.
    Path metaTemp = replicaDir.resolve(".vm.raw.cbtfs-meta.tmp");
    Tools.require("mkfifo");
    Tools.run(
        "a FIFO where the settle writes the replica's metadata", "mkfifo", metaTemp.toString());
    writeRandomBlocks(2, 5, 41);
    Tools.Result incremental = Cbtfs.run("sync", folder.image("vm.raw").toString(), replica);
    assertThat(incremental.exitCode()).as(incremental.output()).isZero();
    assertThat(journal).as("the incremental sync's settle is held back").exists();
    daemon.destroyForcibly();
    daemon.onExit().get(30, TimeUnit.SECONDS);
    Tools.exec(List.of("fusermount", "-u", "-z", folder.mnt.toString()), 30);
    Files.delete(metaTemp); // else the next settle would wait at it too
    // a power cut would also lose the replica's unflushed writes: undo one of them
    try (FileChannel r = FileChannel.open(replicaDir.resolve("vm.raw"), StandardOpenOption.WRITE)) {
      r.write(ByteBuffer.wrap(new byte[65536]), 5L * 65536);
    }

    Tools.Result verify = Cbtfs.run("verify", folder.backingFile("vm.raw").toString(), replica);
    assertThat(verify.exitCode()).as(verify.output()).isZero();
    assertThat(verify.output()).contains("identical");
    assertThat(journal).doesNotExist();

    folder.mount();
    writeRandomBlocks(9);
    Tools.Result next = Cbtfs.run("sync", "--json", folder.image("vm.raw").toString(), replica);
    assertThat(next.exitCode()).as(next.output()).isZero();
    assertThat(next.output()).contains("\"full\":false");
    assertThat(Cbtfs.run("unmount", folder.mnt.toString()).exitCode()).isZero();
    assertThat(Files.mismatch(folder.backingFile("vm.raw"), replicaDir.resolve("vm.raw")))
        .isEqualTo(-1L);
  }

  /** Random bytes into the given 64 KiB blocks of vm.raw, through the mount. */
  private void writeRandomBlocks(int... blocks) throws IOException {
    Random rnd = new Random(blocks.length * 31L + blocks[0]);
    try (FileChannel ch = FileChannel.open(folder.image("vm.raw"), StandardOpenOption.WRITE)) {
      for (int b : blocks) {
        byte[] data = new byte[65536];
        rnd.nextBytes(data);
        ByteBuffer buf = ByteBuffer.wrap(data);
        while (buf.hasRemaining()) {
          ch.write(buf, (long) b * 65536 + buf.position());
        }
      }
    }
  }

  @Test
  void daemonMountStatusAndUnmount() throws IOException {
    Tools.Result mount =
        Cbtfs.run(
            "mount",
            "--daemon",
            "--block-size",
            "1M",
            folder.backing.toString(),
            folder.mnt.toString());
    assertThat(mount.exitCode()).as(mount.output()).isZero();
    assertThat(mount.output()).contains("serving").contains("log ");
    assertThat(ProcMounts.isMounted(folder.mnt)).isTrue();

    Tools.run(
        "dd through the mount",
        "dd",
        "if=/dev/zero",
        "of=" + folder.image("vm.raw"),
        "bs=4096",
        "count=1",
        "seek=300",
        "conv=notrunc",
        "status=none");

    Tools.Result status = Cbtfs.run("status", "--json", folder.image("vm.raw").toString());
    assertThat(status.exitCode()).as(status.output()).isZero();
    assertThat(status.output())
        .contains(
            "\"imageSize\":4194304",
            "\"blockSize\":1048576",
            "\"dirtyBlocks\":1",
            "\"dirtyBytes\":1048576",
            "\"tracking\":\"mounted\"");
    if (MountedFolder.transport() != FuseTransport.AUTO) { // the transport this run tests serves
      assertThat(status.output())
          .contains("\"transport\":\"" + MountedFolder.transport().label() + "\"");
    }

    // busy: an open image keeps the mount up, and unmount says so
    try (FileChannel open = FileChannel.open(folder.image("vm.raw"), StandardOpenOption.READ)) {
      Tools.Result busy = Cbtfs.run("unmount", folder.mnt.toString());
      assertThat(busy.exitCode()).isEqualTo(1);
      assertThat(busy.output()).contains("cannot unmount").containsIgnoringCase("busy");
      assertThat(ProcMounts.isMounted(folder.mnt)).isTrue();
      assertThat(open.size()).isEqualTo(4 << 20);
    }

    Tools.Result unmount = Cbtfs.run("unmount", folder.mnt.toString());
    assertThat(unmount.exitCode()).as(unmount.output()).isZero();
    assertThat(ProcMounts.isMounted(folder.mnt)).isFalse();

    Tools.Result offline = Cbtfs.run("status", "--json", folder.backingFile("vm.raw").toString());
    assertThat(offline.output())
        .contains("\"dirtyBlocks\":1", "\"tracking\":\"offline\"", "\"clean\":true");
    assertThat(Files.readString(folder.backingFile(".cbtfs/mount.log"))).contains("mounted");
  }

  @Test
  void syncVerifyAndRestoreThroughTheCommandLine() throws IOException {
    Path replica = tmp.resolve("replica.img");
    Path archive = tmp.resolve("archive");
    folder.mount();
    Path image = folder.image("vm.raw");
    Tools.Result first = Cbtfs.run("sync", "--json", image.toString(), "file:" + replica);
    assertThat(first.exitCode()).as(first.output()).isZero();
    assertThat(first.output()).contains("\"generation\":1", "\"full\":true");
    Tools.run(
        "dd through the mount",
        "dd",
        "if=/dev/urandom",
        "of=" + image,
        "bs=65536",
        "count=2",
        "seek=10",
        "conv=notrunc",
        "status=none");
    Tools.Result second = Cbtfs.run("sync", image.toString(), "file:" + replica);
    assertThat(second.output())
        .contains("generation 2 (incremental), 2 blocks")
        .contains("why: the blocks changed since the target's generation 1"); // via the socket
    Tools.Result verify = Cbtfs.run("verify", image.toString(), "file:" + replica);
    assertThat(verify.exitCode()).as(verify.output()).isZero();
    assertThat(verify.output()).contains("are identical");
    assertThat(Cbtfs.run("sync", image.toString(), "archive:" + archive).exitCode()).isZero();
    Tools.run(
        "dd",
        "dd",
        "if=/dev/urandom",
        "of=" + image,
        "bs=4096",
        "count=1",
        "seek=7",
        "conv=notrunc",
        "status=none");
    Tools.Result diff = Cbtfs.run("verify", image.toString(), "file:" + replica);
    assertThat(diff.exitCode()).isEqualTo(1);
    assertThat(diff.output()).contains("differ", "0 (offset 0)");
    Tools.Result status = Cbtfs.run("status", "--json", image.toString());
    // each target's cursor: both lack the block just written, the replica also what the archive's
    // sync took (nothing: no write between the two syncs)
    assertThat(status.output())
        .containsPattern(
            "\"targets\":\\[\\{\"target\":\""
                + Pattern.quote("file:" + replica)
                + "\",\"generation\":2,\"syncedAt\":\"20[0-9T:.-]+Z\",\"lagBlocks\":1,"
                + "\"lagBytes\":65536,\"secondsSinceSync\":[0-9]+,\"holdsHistory\":true\\}")
        .contains("\"target\":\"archive:" + archive + "\",\"generation\":3");
    Tools.Result forget = Cbtfs.run("forget", image.toString(), "file:" + replica);
    assertThat(forget.exitCode()).as(forget.output()).isZero();
    assertThat(forget.output().strip()).isEqualTo("forgot file:" + replica + " for " + image);
    assertThat(Cbtfs.run("status", "--json", image.toString()).output())
        .doesNotContain("file:" + replica)
        .contains("\"target\":\"archive:" + archive + "\"");
    assertThat(Cbtfs.run("unmount", folder.mnt.toString()).exitCode()).isZero();

    // offline: no mount running, the backing file is synced from the saved state
    Tools.Result offline =
        Cbtfs.run("sync", folder.backingFile("vm.raw").toString(), "archive:" + archive);
    assertThat(offline.exitCode()).as(offline.output()).isZero();
    // an offline load skips generation numbers ahead (a rolled-back state never reissues one)
    assertThat(offline.output()).containsPattern("generation \\d+ \\(incremental\\), 1 blocks");
    Tools.Result forgetOffline =
        Cbtfs.run("forget", folder.backingFile("vm.raw").toString(), "archive:" + archive);
    assertThat(forgetOffline.exitCode()).as(forgetOffline.output()).isZero();
    Tools.Result unknown =
        Cbtfs.run("forget", folder.backingFile("vm.raw").toString(), "archive:" + archive);
    assertThat(unknown.exitCode()).isEqualTo(1);
    assertThat(unknown.output().strip())
        .isEqualTo("cbtfs forget: vm.raw has no target archive:" + archive + "; it has no targets");
    Tools.Result list = Cbtfs.run("restore", "--list", "archive:" + archive);
    assertThat(list.output())
        .containsPattern("generation 3 +full +image 4.0 MiB +stored [0-9.]+ KiB +2\\d{3}-")
        .containsPattern("generation \\d+ +incremental +image 4.0 MiB");
    Path out = tmp.resolve("restored.img");
    Tools.Result restore = Cbtfs.run("restore", "archive:" + archive, out.toString());
    assertThat(restore.exitCode()).as(restore.output()).isZero();
    assertThat(Files.mismatch(out, folder.backingFile("vm.raw"))).isEqualTo(-1L);
    Tools.Result again = Cbtfs.run("restore", "archive:" + archive, out.toString());
    assertThat(again.exitCode()).isEqualTo(1);
    assertThat(again.output()).contains("exists");
    Tools.Result badTarget = Cbtfs.run("sync", folder.backingFile("vm.raw").toString(), "/x");
    assertThat(badTarget.exitCode()).isEqualTo(2);
    assertThat(badTarget.output()).contains("use file:PATH");
  }

  /**
   * Two regions written through a real mount, one crossing block and cell boundaries: the map's
   * dirty cells are exactly those regions, counted in the mount and then offline from the saved
   * state. 64 KiB blocks, 2 to a cell (--width 2: at most 32 cells for the 64 blocks).
   */
  @Test
  void theMapShowsExactlyTheRegionsWritten() throws IOException {
    folder.mount();
    long[][] regions = {{100 << 10, 200 << 10}, {3 << 20, 4096}}; // offset, length
    long[] expected = new long[32];
    for (long[] r : regions) {
      Tools.pwrite(folder.image("vm.raw"), r[0], new byte[(int) r[1]]);
      for (long block = r[0] / 65536; block <= (r[0] + r[1] - 1) / 65536; block++) {
        expected[(int) (block / 2)]++;
      }
    }
    String cells =
        "\"cellDirtyBlocks\":["
            + String.join(",", java.util.Arrays.stream(expected).mapToObj(Long::toString).toList())
            + "]";
    assertThat(cells).as("blocks 1-4 and 48").contains("[1,2,1,0,", ",0,1,0,");
    String image = folder.image("vm.raw").toString();
    Tools.Result mounted = Cbtfs.run("status", "--map", "--json", "--width", "2", image);
    assertThat(mounted.exitCode()).as(mounted.output()).isZero();
    assertThat(mounted.output())
        .contains("\"cells\":32,\"blocksPerCell\":2,\"bytesPerCell\":131072", cells);
    Tools.Result text = Cbtfs.run("status", "--map", "--width", "2", image);
    assertThat(text.output()).as("not a terminal: ASCII").contains(" 0 B |:#|", "|: |");

    assertThat(Cbtfs.run("unmount", folder.mnt.toString()).exitCode()).isZero();
    String backing = folder.backingFile("vm.raw").toString();
    Tools.Result offline = Cbtfs.run("status", "--map", "--json", "--width", "2", backing);
    assertThat(offline.exitCode()).as(offline.output()).isZero();
    assertThat(offline.output()).contains(cells);
  }

  @Test
  void unmountOfSomethingElseIsAClearError() {
    Tools.Result r = Cbtfs.run("unmount", folder.mnt.toString());
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.output().strip()).isEqualTo("cbtfs unmount: no cbtfs mount on " + folder.mnt);
  }

  @Test
  void demoRunsEndToEnd() {
    Tools.Result demo = Cbtfs.run("demo");
    assertThat(demo.exitCode()).as(demo.output()).isZero();
    assertThat(demo.output())
        .contains(
            "the tracker reports 6: match",
            "generation 2 (incremental), 6 blocks",
            "byte-identical",
            "demo OK");
  }
}
