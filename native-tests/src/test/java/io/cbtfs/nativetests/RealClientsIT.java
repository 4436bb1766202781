package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The programs operators run on VM images, through a real mount and then a real sync: qemu-img,
 * qemu-io, e2fsprogs, fio and qemu-storage-daemon serving the image over NBD. A failure names the
 * tool and the step.
 */
class RealClientsIT {
  private static final BlockGeometry G = BlockGeometry.of(64 << 10);

  @TempDir Path tmp;
  MountedFolder folder;
  Path replicas;

  @BeforeEach
  void mount() throws IOException {
    folder = MountedFolder.prepare(tmp, G).mount();
    replicas = Files.createDirectory(tmp.resolve("replicas"));
  }

  @AfterEach
  void unmount() throws IOException {
    folder.close();
  }

  private SyncReport sync(String name) throws IOException {
    return folder.sync(name, new ReplicaTarget(replicas.resolve(name)));
  }

  private static BitSet blocks(DirtySet s) {
    BitSet b = new BitSet();
    s.forEachBlock(b::set);
    return b;
  }

  /** Blocks whose bytes differ between two byte arrays (the shorter one padded with zeros). */
  private static BitSet changedBlocks(byte[] before, byte[] after) {
    BitSet changed = new BitSet();
    int len = Math.max(before.length, after.length);
    byte[] a = Arrays.copyOf(before, len);
    byte[] b = Arrays.copyOf(after, len);
    for (int off = 0; off < len; off += G.blockSize()) {
      int end = Math.min(len, off + G.blockSize());
      if (!Arrays.equals(a, off, end, b, off, end)) {
        changed.set(off / G.blockSize());
      }
    }
    return changed;
  }

  @Test
  void qemuImgCreatesConvertsChecksAndComparesAfterSync() throws IOException {
    Tools.require("qemu-img");
    Path mnt = folder.mountPoint;
    Tools.run(
        "qemu-img create qcow2 on the mount",
        "qemu-img",
        "create",
        "-f",
        "qcow2",
        mnt.resolve("a.qcow2").toString(),
        "64M");
    Tools.run(
        "qemu-img create raw on the mount",
        "qemu-img",
        "create",
        "-f",
        "raw",
        mnt.resolve("b.raw").toString(),
        "32M");
    assertThat(Files.size(folder.backingFile("b.raw"))).isEqualTo(32 << 20);

    Path source = tmp.resolve("source.raw");
    byte[] data = new byte[24 << 20];
    new Random(1).nextBytes(data);
    Arrays.fill(data, 8 << 20, 16 << 20, (byte) 0); // a zero region qcow2 leaves unallocated
    Files.write(source, data);
    Tools.run(
        "qemu-img convert onto the mount",
        "qemu-img",
        "convert",
        "-f",
        "raw",
        "-O",
        "qcow2",
        source.toString(),
        mnt.resolve("conv.qcow2").toString());
    Tools.run(
        "qemu-img check on the mount", "qemu-img", "check", mnt.resolve("conv.qcow2").toString());

    SyncReport r = sync("conv.qcow2");
    assertThat(r.full()).isTrue();
    assertThat(
            Tools.run(
                "qemu-img compare mount vs replica",
                "qemu-img",
                "compare",
                mnt.resolve("conv.qcow2").toString(),
                replicas.resolve("conv.qcow2").toString()))
        .contains("Images are identical");
    assertThat(
            Tools.run(
                "qemu-img compare source vs replica",
                "qemu-img",
                "compare",
                "-f",
                "raw",
                "-F",
                "qcow2",
                source.toString(),
                replicas.resolve("conv.qcow2").toString()))
        .contains("Images are identical");
  }

  @Test
  void qemuIoPatternsSurviveTheSyncAndOnlyTheirClustersAreSent() throws IOException {
    Tools.require("qemu-io");
    Path img = folder.image("vm.qcow2");
    Tools.run("qemu-img create", "qemu-img", "create", "-f", "qcow2", img.toString(), "256M");
    sync("vm.qcow2"); // generation 1: the empty qcow2
    byte[] before = Files.readAllBytes(folder.backingFile("vm.qcow2"));

    Tools.run(
        "qemu-io write patterns",
        "qemu-io",
        "-f",
        "qcow2",
        "-c",
        "write -P 0xab 1M 64k",
        "-c",
        "write -P 0xcd 100M 4k",
        "-c",
        "write -P 0xef 200M 192k",
        img.toString());
    byte[] after = Files.readAllBytes(folder.backingFile("vm.qcow2"));
    BitSet changed = changedBlocks(before, after);
    BitSet dirty = blocks(folder.dirty("vm.qcow2").within(after.length));
    BitSet missed = (BitSet) changed.clone();
    missed.andNot(dirty);
    assertThat(missed.cardinality())
        .as("blocks qemu changed that are not dirty: %s", missed)
        .isZero();
    BitSet extra = (BitSet) dirty.clone();
    extra.andNot(changed);
    // qemu may rewrite metadata (L1/L2/refcount) with the bytes it already had: dirty, unchanged
    assertThat(extra.cardinality()).as("dirty but unchanged blocks").isLessThanOrEqualTo(4);

    SyncReport r = sync("vm.qcow2");
    assertThat(r.full()).isFalse();
    assertThat(r.blocks()).isEqualTo(dirty.cardinality());
    String read =
        Tools.run(
            "qemu-io read patterns from the replica",
            "qemu-io",
            "-f",
            "qcow2",
            "-r",
            "-c",
            "read -P 0xab 1M 64k",
            "-c",
            "read -P 0xcd 100M 4k",
            "-c",
            "read -P 0xef 200M 192k",
            "-c",
            "read -P 0 2M 64k",
            replicas.resolve("vm.qcow2").toString());
    assertThat(read).doesNotContain("Pattern verification failed").contains("read 65536/65536");
  }

  @Test
  void ext4BuiltOnTheMountChecksCleanOnTheReplicaAndSmallChangesStaySmall() throws IOException {
    Tools.require("mke2fs");
    Tools.require("debugfs");
    Path tree = Files.createDirectories(tmp.resolve("tree/sub"));
    Random rnd = new Random(2);
    for (int i = 0; i < 2000; i++) {
      byte[] content = new byte[rnd.nextInt(3000)];
      rnd.nextBytes(content);
      Files.write(tree.resolve("file" + i), content);
    }
    Files.writeString(tree.resolve("hello.txt"), "hello from cbtfs\n");
    Path img = folder.image("fs.img");
    Tools.run(
        "mke2fs -d onto the mount",
        "mke2fs",
        "-q",
        "-F",
        "-t",
        "ext4",
        "-d",
        tmp.resolve("tree").toString(),
        img.toString(),
        "128M");
    SyncReport first = sync("fs.img");
    Path replica = replicas.resolve("fs.img");
    Tools.run("e2fsck -fn of the replica", "e2fsck", "-fn", replica.toString());
    String cat =
        Tools.run(
            "debugfs cat from the replica",
            "debugfs",
            "-R",
            "cat /sub/file1234",
            replica.toString());
    byte[] expected = Files.readAllBytes(tree.resolve("file1234"));
    assertThat(
            Tools.run(
                "debugfs dump from the replica",
                "debugfs",
                "-R",
                "dump /sub/file1234 " + tmp.resolve("out1234"),
                replica.toString()))
        .isNotNull();
    assertThat(Files.readAllBytes(tmp.resolve("out1234"))).isEqualTo(expected);
    assertThat(cat).isNotNull();

    Path local = Files.writeString(tmp.resolve("new.txt"), "a new file\n".repeat(500));
    Tools.run(
        "debugfs write on the mount",
        "debugfs",
        "-w",
        "-R",
        "write " + local + " new.txt",
        img.toString());
    Tools.run("debugfs rm on the mount", "debugfs", "-w", "-R", "rm /sub/file7", img.toString());
    SyncReport second = sync("fs.img");
    assertThat(second.full()).isFalse();
    assertThat(second.dataBytes())
        .as("bytes sent for two small changes to a 128 MiB fs")
        .isLessThan((128L << 20) / 50);
    Tools.run("e2fsck -fn of the replica after the change", "e2fsck", "-fn", replica.toString());
    assertThat(
            Tools.run(
                "debugfs cat of the new file from the replica",
                "debugfs",
                "-R",
                "cat /new.txt",
                replica.toString()))
        .contains("a new file");
    assertThat(first.full()).isTrue();
  }

  @Test
  void fioVerifiedMixedWorkloadWhileSyncsRunThenVerifiedOnTheReplica() throws Exception {
    Tools.require("fio");
    Path img = folder.image("fio.img");
    Files.write(img, new byte[32 << 20]);
    List<String> job =
        new ArrayList<>(
            List.of(
                "fio",
                "--name=mixed",
                "--size=32M",
                "--bs=4k",
                "--rw=randrw",
                "--rwmixread=30",
                "--ioengine=psync",
                "--verify=crc32c",
                "--randseed=99",
                "--norandommap=0",
                "--verify_state_save=0")); // no *-verify.state file in the working folder
    AtomicBoolean done = new AtomicBoolean();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    Thread syncs =
        new Thread(
            () -> {
              try {
                while (!done.get()) {
                  sync("fio.img");
                }
              } catch (Throwable e) {
                failure.set(e);
              }
            },
            "syncs");
    syncs.start();
    List<String> write = new ArrayList<>(job);
    write.add("--filename=" + img);
    write.add("--do_verify=1");
    try {
      Tools.run("fio randrw with crc32c verify through the mount", write);
    } finally {
      done.set(true);
      syncs.join(TimeUnit.SECONDS.toMillis(120));
    }
    assertThat(failure.get()).as("a sync during fio failed").isNull();
    sync("fio.img"); // writes paused: the last sync
    assertThat(Files.mismatch(folder.backingFile("fio.img"), replicas.resolve("fio.img")))
        .isEqualTo(-1L);
    List<String> verify = new ArrayList<>(job);
    verify.add("--filename=" + replicas.resolve("fio.img"));
    verify.add("--verify_only");
    String out = Tools.run("fio verify_only on the replica", verify);
    assertThat(out).doesNotContain("verify: bad");
    // the check can fail: a damaged copy of the replica does not verify
    Path damaged = tmp.resolve("damaged.img");
    byte[] bytes = Files.readAllBytes(replicas.resolve("fio.img"));
    for (int i = 0; i < bytes.length; i += 4096) {
      bytes[i + 100] ^= 1; // every 4 KiB block fio wrote now fails its crc32c
    }
    Files.write(damaged, bytes);
    List<String> verifyDamaged = new ArrayList<>(job);
    verifyDamaged.add("--filename=" + damaged);
    verifyDamaged.add("--verify_only");
    assertThat(Tools.exec(verifyDamaged, 300).exitCode())
        .as("fio verify of a damaged copy")
        .isNotZero();
  }

  @Test
  void qemuStorageDaemonServesTheImageOverNbd() throws Exception {
    Tools.require("qemu-storage-daemon");
    Tools.require("qemu-io");
    Path img = folder.image("nbd.raw");
    Files.write(img, new byte[16 << 20]);
    sync("nbd.raw");
    Path socket = tmp.resolve("nbd.sock");
    Process qsd =
        new ProcessBuilder(
                "qemu-storage-daemon",
                "--blockdev",
                "driver=file,node-name=file0,filename=" + img,
                "--blockdev",
                "driver=raw,node-name=disk0,file=file0",
                "--nbd-server",
                "addr.type=unix,addr.path=" + socket,
                "--export",
                "type=nbd,id=exp0,node-name=disk0,name=vm,writable=on")
            .redirectErrorStream(true)
            .start();
    try {
      String uri = "nbd+unix:///vm?socket=" + socket;
      String out = null;
      for (int attempt = 0; attempt < 100 && out == null; attempt++) {
        Tools.Result r =
            Tools.exec(
                List.of(
                    "qemu-io",
                    "-f",
                    "raw",
                    "-c",
                    "write -P 0x5a 3M 1M",
                    "-c",
                    "write -P 0x77 9M 4k",
                    uri),
                60);
        if (r.exitCode() == 0) {
          out = r.output();
        } else if (!qsd.isAlive()) {
          throw new AssertionError(
              "qemu-storage-daemon exited: " + new String(qsd.getInputStream().readAllBytes()));
        } else {
          LockSupport.parkNanos(10_000_000); // the NBD socket is not up yet: retry
        }
      }
      assertThat(out).as("qemu-io over NBD").isNotNull().contains("wrote 1048576/1048576");
    } finally {
      qsd.destroy();
      qsd.waitFor(30, TimeUnit.SECONDS);
    }
    SyncReport r = sync("nbd.raw");
    assertThat(r.blocks()).isEqualTo(17); // 16 blocks of the 1 MiB write plus one
    assertThat(
            Tools.run(
                "qemu-img compare after the NBD writes",
                "qemu-img",
                "compare",
                "-f",
                "raw",
                "-F",
                "raw",
                img.toString(),
                replicas.resolve("nbd.raw").toString()))
        .contains("Images are identical");
  }
}
