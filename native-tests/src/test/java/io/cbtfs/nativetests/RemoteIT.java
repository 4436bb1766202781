package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.ProcMounts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Remote replication as an operator runs it: cbtfs receive in its own process, a daemon mount,
 * cbtfs sync to cbtfs://127.0.0.1:PORT/NAME over TLS; then a receiver killed mid-sync and a
 * receiver whose disk is full, each followed by a clean sync.
 */
class RemoteIT {
  @TempDir Path tmp;
  DaemonMount folder;
  Path root;
  ReceiverProcess receiver;

  @BeforeEach
  void setUp() throws Exception {
    folder = DaemonMount.prepare(tmp);
    root = Files.createDirectory(tmp.resolve("receiver"));
    receiver = ReceiverProcess.init(root);
  }

  @AfterEach
  void tearDown() throws IOException, InterruptedException {
    if (receiver != null) {
      receiver.close();
    }
    folder.close();
    if (ProcMounts.isMounted(root)) {
      Tools.exec(List.of("umount", "-l", root.toString()), 30);
    }
  }

  @Test
  void syncsThroughARealMountToAReceiverAndSurvivesItsDeath() throws Exception {
    Files.write(folder.backingFile("vm.raw"), new byte[8 << 20]);
    folder.mount();
    receiver.start();
    Path image = folder.image("vm.raw");
    Tools.run(
        "dd through the mount",
        "dd",
        "if=/dev/urandom",
        "of=" + image,
        "bs=1M",
        "count=3",
        "seek=2",
        "conv=notrunc",
        "status=none");
    Tools.Result first = Cbtfs.run("sync", image.toString(), receiver.uri("vm1"));
    assertThat(first.exitCode()).as(first.output()).isZero();
    assertThat(Files.mismatch(folder.backingFile("vm.raw"), root.resolve("vm1.img")))
        .isEqualTo(-1L);

    // verify compares over the network by block hashes, and names a block damaged on the receiver
    Tools.Result same = Cbtfs.run("verify", image.toString(), receiver.uri("vm1"));
    assertThat(same.exitCode()).as(same.output()).isZero();
    assertThat(same.output()).contains("are identical");
    byte[] replica = Files.readAllBytes(root.resolve("vm1.img"));
    replica[5 * 65536 + 3] ^= 1;
    Files.write(root.resolve("vm1.img"), replica);
    Tools.Result damaged = Cbtfs.run("verify", image.toString(), receiver.uri("vm1"));
    assertThat(damaged.exitCode()).isEqualTo(1);
    assertThat(damaged.output()).contains("first differing blocks of 64K: 5 (offset 327680)");
    replica[5 * 65536 + 3] ^= 1;
    Files.write(root.resolve("vm1.img"), replica);

    // the receiver dies (kill -9) while a delta streams in: the sync fails with a clear line,
    // the replica is as it was, the blocks stay dirty
    Tools.run(
        "dd",
        "dd",
        "if=/dev/urandom",
        "of=" + image,
        "bs=64K",
        "count=96",
        "seek=16",
        "conv=notrunc",
        "status=none");
    byte[] before = Files.readAllBytes(root.resolve("vm1.img"));
    Process sync =
        new ProcessBuilder(Cbtfs.command("sync", image.toString(), receiver.uri("vm1")))
            .redirectErrorStream(true)
            .start();
    Path staging = root.resolve(".vm1.img.cbtfs-staging");
    while (!Files.exists(staging) && sync.isAlive()) {
      LockSupport.parkNanos(1_000_000); // poll: until the receiver has begun to stage the delta
    }
    receiver.kill();
    String out = new String(sync.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(sync.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(sync.exitValue()).as(out).isEqualTo(1);
    assertThat(out).contains("cbtfs sync:").doesNotContain("Exception");
    assertThat(Files.readAllBytes(root.resolve("vm1.img"))).isEqualTo(before);
    receiver.start();
    Tools.Result again = Cbtfs.run("sync", "--json", image.toString(), receiver.uri("vm1"));
    assertThat(again.exitCode()).as(again.output()).isZero();
    assertThat(again.output()).contains("\"blocks\":96", "\"full\":false");
    assertThat(Files.exists(staging)).as("the dead receiver's staging file is gone").isFalse();
    assertThat(Files.mismatch(folder.backingFile("vm.raw"), root.resolve("vm1.img")))
        .isEqualTo(-1L);
    assertThat(Cbtfs.run("unmount", folder.mnt.toString()).exitCode()).isZero();
  }

  @Test
  void aFullDiskOnTheReceiverFailsCleanlyAndTheNextSyncSucceeds() throws Exception {
    Tools.require("mount");
    Tools.tmpfs(root, "size=2m"); // the receiver's disk
    receiver.init(); // a new identity on the small disk (the mount hides the first one)
    Files.write(folder.backingFile("big.raw"), new byte[0]);
    Tools.run(
        "fill the image",
        "dd",
        "if=/dev/urandom",
        "of=" + folder.backingFile("big.raw"),
        "bs=1M",
        "count=4",
        "status=none");
    receiver.start();
    Tools.Result full =
        Cbtfs.run("sync", folder.backingFile("big.raw").toString(), receiver.uri("big"));
    assertThat(full.exitCode()).as(full.output()).isEqualTo(1);
    assertThat(full.output()).containsIgnoringCase("space");
    try (var files = Files.list(root)) { // nothing half-written: the receiver's identity and an
      // empty lock file, which stays (removing lock files races with their next user)
      assertThat(files.map(p -> p.getFileName().toString()))
          .containsOnly(".cbtfs-receiver", ".big.img.cbtfs-sync");
    }
    assertThat(Files.size(root.resolve(".big.img.cbtfs-sync"))).isZero();
    Tools.run("grow the receiver's disk", "mount", "-o", "remount,size=32m", root.toString());
    Tools.Result ok =
        Cbtfs.run("sync", folder.backingFile("big.raw").toString(), receiver.uri("big"));
    assertThat(ok.exitCode()).as(ok.output()).isZero();
    assertThat(Files.mismatch(folder.backingFile("big.raw"), root.resolve("big.img")))
        .isEqualTo(-1L);
  }

  /**
   * Issue item 9: a backup host's replicas are its user's alone. The root cbtfs makes is 0700, the
   * replicas, archives and identity files 0600 (folders 0700), and another local user can read none
   * of them, even where the folders above let them in.
   */
  @Test
  void whatAReceiverMakesIsReadableByItsUserAlone() throws Exception {
    Tools.require("runuser");
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
    root = tmp.resolve("backup"); // not there yet: cbtfs makes it
    receiver = ReceiverProcess.init(root);
    Files.write(folder.backingFile("vm.raw"), new byte[1 << 20]);
    receiver.start();
    for (String target : List.of(receiver.uri("vm1"), receiver.uri("vm2") + "&archive")) {
      Tools.Result sync = Cbtfs.run("sync", folder.backingFile("vm.raw").toString(), target);
      assertThat(sync.exitCode()).as(sync.output()).isZero();
    }
    try (var made = Files.walk(root)) {
      for (Path p : made.toList()) {
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(p)))
            .as(p.toString())
            .isEqualTo(Files.isDirectory(p) ? "rwx------" : "rw-------");
      }
    }
    assertThat(root.resolve("vm1.img")).exists();
    assertThat(root.resolve("vm2.archive")).isDirectory();
    for (List<String> read :
        List.of(
            List.of("cat", root.resolve("vm1.img").toString()),
            List.of("ls", root.toString()),
            List.of("cat", root.resolve(".cbtfs-receiver/token").toString()))) {
      List<String> asNobody = Tools.list("runuser", "-u", "nobody", "--");
      asNobody.addAll(read);
      Tools.Result r = Tools.exec(asNobody, 30);
      assertThat(r.exitCode()).as(String.join(" ", read) + " as nobody: " + r.output()).isNotZero();
      assertThat(r.output()).contains("Permission denied");
    }
  }
}
