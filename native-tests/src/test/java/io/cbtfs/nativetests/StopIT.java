package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.fs.mount.ProcMounts;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How a mount stops when stopping is not simple: SIGTERM while busy, a full state disk. */
class StopIT {
  @TempDir Path tmp;
  DaemonMount folder;
  Path stateDisk;

  @BeforeEach
  void folders() throws IOException {
    folder = DaemonMount.prepare(tmp);
    Files.write(folder.backingFile("vm.raw"), new byte[4 << 20]);
  }

  @AfterEach
  void noMountLeft() throws IOException {
    folder.close();
    if (stateDisk != null && ProcMounts.isMounted(stateDisk)) {
      Tools.exec(List.of("umount", "-l", stateDisk.toString()), 30);
    }
  }

  private void writeBlock(FileChannel ch, int block) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(new byte[65536]);
    b.array()[7] = 1;
    while (b.hasRemaining()) {
      ch.write(b, (long) block * 65536 + b.position());
    }
  }

  /**
   * Issue item 11: SIGTERM while an image is open. From the signal on, the mount refuses every
   * change (EROFS) instead of passing it on or leaving a plain folder to write into: the mount
   * stays attached while it waits for the image to be closed, then unmounts and saves the tracking
   * clean.
   */
  @Test
  void afterSigtermWithAnImageOpenChangesAreRefusedUntilTheMountEnds() throws Exception {
    ProcessHandle daemon = folder.mount();
    Path log = folder.backingFile(".cbtfs/mount.log");
    try (FileChannel open =
        FileChannel.open(
            folder.image("vm.raw"), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      writeBlock(open, 3);
      Tools.run("SIGTERM the mount", "kill", "-TERM", Long.toString(daemon.pid()));
      awaitLogLine(log, "are refused from now on");

      assertThatThrownBy(() -> Files.write(folder.image("new.img"), new byte[4096]))
          .isInstanceOf(FileSystemException.class)
          .hasMessageContaining("Read-only file system");
      assertThatThrownBy(() -> writeBlock(open, 5))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("Read-only file system");
      assertThat(open.read(ByteBuffer.allocate(4096), 0)).as("reads go on").isEqualTo(4096);
      assertThat(ProcMounts.isMounted(folder.mnt)).as("attached while it waits").isTrue();
      assertThat(daemon.isAlive()).isTrue();
    }
    daemon.onExit().get(60, TimeUnit.SECONDS); // the last image closed: unmounted and saved
    assertThat(ProcMounts.isMounted(folder.mnt)).isFalse();
    try (var left = Files.list(folder.mnt)) {
      assertThat(left).as("nothing landed in the mount point's own folder").isEmpty();
    }
    assertThat(folder.backingFile("new.img")).doesNotExist();
    Tools.Result status = Cbtfs.run("status", "--json", folder.backingFile("vm.raw").toString());
    assertThat(status.output())
        .as(status.output())
        .contains("\"dirtyBlocks\":1", "\"clean\":true", "\"tracking\":\"offline\"");
  }

  /**
   * SIGTERM the instant a foreground mount appears (systemd's stop right after its start): the stop
   * waits for the start to end, then unmounts in order and saves the tracking; no dead mount point
   * is left. Tried several times, since the window is a few milliseconds wide.
   */
  @Test
  void aSigtermAsTheMountAppearsStillUnmountsInOrder() throws Exception {
    for (int attempt = 0; attempt < 3; attempt++) {
      Process mount =
          new ProcessBuilder(
                  Cbtfs.command("mount", folder.backing.toString(), folder.mnt.toString()))
              .redirectErrorStream(true)
              .redirectOutput(tmp.resolve("mount-" + attempt + ".out").toFile())
              .start();
      while (!ProcMounts.isMounted(folder.mnt)) {
        assertThat(mount.isAlive()).as("the mount came up").isTrue();
        Thread.onSpinWait();
      }
      Tools.run("SIGTERM the mount", "kill", "-TERM", Long.toString(mount.pid()));
      assertThat(mount.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(ProcMounts.isMounted(folder.mnt))
          .as("attempt %d: no mount left", attempt)
          .isFalse();
      try (var left = Files.list(folder.mnt)) {
        assertThat(left).as("the mount point is a plain empty folder again").isEmpty();
      }
      assertThat(mount.exitValue()).as("an ordered stop").isIn(0, 143);
      assertThat(Files.readString(tmp.resolve("mount-" + attempt + ".out")))
          .doesNotContain("Exception");
    }
  }

  /**
   * Issue item 11: unmount with a full state disk. The mount is gone, the clean state could not be
   * written: unmount says exactly that, and what the next mount does, with exit code 3 (not the 1
   * of "nothing happened"); the next mount recovers the writes from the unclean state.
   */
  @Test
  void anUnmountThatCannotSaveTheTrackingSaysWhatHappenedAndExits3() throws Exception {
    Tools.require("mount");
    stateDisk = Files.createDirectory(tmp.resolve("state-disk"));
    Tools.run(
        "a 64 KiB tmpfs for the state",
        "mount",
        "-t",
        "tmpfs",
        "-o",
        "size=64k",
        "tmpfs",
        stateDisk.toString());
    Path state = stateDisk.resolve("state");
    folder.mount("--state-dir", state.toString(), "--log-file", tmp.resolve("log").toString());
    try (FileChannel ch = FileChannel.open(folder.image("vm.raw"), StandardOpenOption.WRITE)) {
      writeBlock(ch, 2);
      writeBlock(ch, 9);
    }
    Tools.exec( // fails with "No space left on device" once the disk is full: what it is for
        List.of("dd", "if=/dev/zero", "of=" + stateDisk.resolve("filler"), "bs=4096"), 60);

    Tools.Result unmount = Cbtfs.run("unmount", folder.mnt.toString());
    assertThat(unmount.exitCode()).as(unmount.output()).isEqualTo(3);
    assertThat(unmount.output().strip())
        .startsWith(
            "cbtfs unmount: unmounted " + folder.mnt + ", but its tracking could not be saved")
        .contains("in " + state, "No space left on device", "the next mount recovers it");
    assertThat(unmount.output().lines()).hasSize(1);
    assertThat(ProcMounts.isMounted(folder.mnt)).isFalse();

    Files.delete(stateDisk.resolve("filler"));
    Tools.Result offline =
        Cbtfs.run(
            "status",
            "--json",
            "--state-dir",
            state.toString(),
            folder.backingFile("vm.raw").toString());
    assertThat(offline.output()).as(offline.output()).contains("\"clean\":false");
    folder.mount("--state-dir", state.toString(), "--log-file", tmp.resolve("log").toString());
    Tools.Result mounted = Cbtfs.run("status", "--json", folder.image("vm.raw").toString());
    assertThat(mounted.output()).as(mounted.output()).contains("recovered after an unclean stop");
    assertThat(mounted.output()).doesNotContain("\"dirtyBlocks\":0,");
    assertThat(Cbtfs.run("unmount", folder.mnt.toString()).exitCode()).isZero();
  }

  /** Waits (polling, with a deadline) until the mount's log has a line containing {@code text}. */
  private static void awaitLogLine(Path log, String text) throws IOException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!Files.readString(log).contains(text)) {
      assertThat(System.nanoTime()).as("log line '%s' within 30 s", text).isLessThan(deadline);
      LockSupport.parkNanos(20_000_000);
    }
  }
}
