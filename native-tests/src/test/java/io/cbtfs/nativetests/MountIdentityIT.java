package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.FuseTransport;
import io.cbtfs.fs.mount.ProcMounts;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A mount acts on itself, not on its path: after a lazy unmount ({@code umount -l}) with a writer
 * still open, another file system mounted on the same path is neither flushed for the first mount's
 * sync nor unmounted by its stop.
 */
class MountIdentityIT {
  private static final int MIB = 1 << 20;

  @TempDir Path tmp;

  @Test
  void aSyncFailsInsteadOfFlushingAnotherMountOnThePath() throws Exception {
    Assumptions.assumeTrue(
        MountedFolder.transport() != FuseTransport.LIBFUSE2,
        "the writeback cache is the kernel transport's");
    try (DaemonMount a = DaemonMount.prepare(tmp)) {
      Files.write(a.backingFile("vm.img"), new byte[4 * MIB]);
      ProcessHandle daemonA = a.mount("--transport=kernel", "--writeback-cache");
      Path backingB = Files.createDirectory(tmp.resolve("other"));
      Files.write(backingB.resolve("vm.img"), new byte[4 * MIB]);
      try (FileChannel writer = FileChannel.open(a.image("vm.img"), StandardOpenOption.WRITE)) {
        writer.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), MIB);
        detachAndMountOther(a.mnt, backingB);
        try {
          Tools.Result sync =
              Cbtfs.run(
                  "sync", a.backingFile("vm.img").toString(), "file:" + tmp.resolve("replica.img"));
          assertThat(sync.exitCode()).as(sync.output()).isNotZero();
          assertThat(sync.output()).contains(a.mnt + " is no longer this mount (detached lazily?)");
          // a stop cannot flush it either, and goes on: it refuses changes and waits for the writer
          assertThat(daemonA.destroy()).isTrue();
          Path log = a.backingFile(".cbtfs/mount.log");
          awaitUntil(() -> Files.readString(log).contains("are refused from now on"));
          assertThat(Files.readString(log)).contains("cannot flush the kernel's cache of vm.img");
        } finally {
          Cbtfs.run("unmount", a.mnt.toString());
        }
      }
      // holding nothing of its own mount, the detached mount goes with its last writer
      daemonA.onExit().get(60, TimeUnit.SECONDS);
    }
  }

  @Test
  void aStopLeavesAnotherMountOnThePathAlone() throws Exception {
    try (DaemonMount a = DaemonMount.prepare(tmp)) {
      Files.write(a.backingFile("vm.img"), new byte[MIB]);
      FuseTransport t = MountedFolder.transport();
      ProcessHandle daemonA =
          t == FuseTransport.AUTO ? a.mount() : a.mount("--transport=" + t.label());
      Path backingB = Files.createDirectory(tmp.resolve("other"));
      Files.write(backingB.resolve("other.img"), new byte[MIB]);
      try (FileChannel writer = FileChannel.open(a.image("vm.img"), StandardOpenOption.WRITE)) {
        detachAndMountOther(a.mnt, backingB);
        try {
          assertThat(daemonA.destroy()).isTrue();
          // after its wait for the open image, the stop would unmount what the path shows
          Path log = a.backingFile(".cbtfs/mount.log");
          String notUnmounting = "not unmounting what is mounted there";
          awaitUntil(
              () ->
                  Files.readString(log).contains(notUnmounting)
                      || !Files.exists(a.mnt.resolve("other.img")));
          assertThat(Files.exists(a.mnt.resolve("other.img")))
              .as("the other mount still serves the path")
              .isTrue();
          assertThat(Files.readString(log)).contains(notUnmounting);
        } finally {
          Cbtfs.run("unmount", a.mnt.toString());
        }
      }
      daemonA.onExit().get(60, TimeUnit.SECONDS);
    }
  }

  /** Detaches the mount on {@code mnt} lazily and mounts {@code backing} there instead. */
  private static void detachAndMountOther(Path mnt, Path backing) throws java.io.IOException {
    Tools.Result umount = Tools.exec(List.of("umount", "-l", mnt.toString()), 30);
    assertThat(umount.exitCode()).as(umount.output()).isZero();
    assertThat(ProcMounts.isMounted(mnt)).isFalse();
    FuseTransport t = MountedFolder.transport();
    List<String> args = Tools.list("mount", "--daemon");
    if (t != FuseTransport.AUTO) {
      args.add("--transport=" + t.label());
    }
    args.add(backing.toString());
    args.add(mnt.toString());
    Tools.Result r = Cbtfs.run(args.toArray(String[]::new));
    assertThat(r.exitCode()).as(r.output()).isZero();
  }

  /** A condition polled by {@link #awaitUntil}. */
  private interface Condition {
    boolean holds() throws java.io.IOException;
  }

  /** Waits (polling, with a deadline of 60 s) until {@code condition} holds. */
  private static void awaitUntil(Condition condition) throws java.io.IOException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!condition.holds()) {
      assertThat(System.nanoTime()).as("condition within 60 s").isLessThan(deadline);
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
    }
  }
}
