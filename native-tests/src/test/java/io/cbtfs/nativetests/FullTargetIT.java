package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.tracker.BlockGeometry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The hostile test that found a silently wrong replica, on a real full file system: a replica on a
 * small tmpfs runs out of space while the journal of a committed delta is applied. The sync is
 * committed (the journal is durable), so it succeeds with a warning; the journal is finished at the
 * replica's next use; the generation number it took is never given to another target; after the
 * disk grew, the replica is byte-identical to the image. Before the fix the failed apply let the
 * number go to a second replica and the first one then took a 0-block sync for current.
 */
class FullTargetIT {
  private static final BlockGeometry G = BlockGeometry.of(64 << 10);
  private static final int MIB = 1 << 20;

  @TempDir Path tmp;
  MountedFolder folder;
  Path small;

  @AfterEach
  void cleanUp() throws IOException {
    ReplicaTarget.awaitSettles();
    if (folder != null) {
      folder.close();
    }
    if (small != null) {
      Tools.exec(Tools.list("umount", small.toString()), 30);
    }
  }

  @Test
  void aReplicaThatFillsItsDiskWhileApplyingIsNeverLeftSilentlyWrong() throws Exception {
    Fuse.require();
    small = Tools.tmpfs(tmp.resolve("small"), "size=40m");
    folder = MountedFolder.prepare(tmp, G);
    byte[] data = new byte[32 * MIB];
    new Random(1).nextBytes(data);
    java.util.Arrays.fill(data, 8 * MIB, 28 * MIB, (byte) 0); // 20 MiB the replica keeps as a hole
    Files.write(folder.backingFile("disk.img"), data);
    folder.mount();
    Target first = new ReplicaTarget(small.resolve("disk.img"));
    folder.sync("disk.img", first);
    ReplicaTarget.awaitSettles();

    // 20 MiB of the hole rewritten: a 20 MiB journal fits, then applying it does not (12 + 20 + 20)
    write(8 * MIB, 20 * MIB, 2);
    SyncReport committed = folder.sync("disk.img", first);
    ReplicaTarget.awaitSettles();
    // the apply's ENOSPC came after the commit point: a warning, and the journal stays
    assertThat(committed.warning()).contains("not yet in the replica file", "No space left");
    assertThat(Files.exists(small.resolve(".disk.img.cbtfs-apply")))
        .as("a journal left by the full disk")
        .isTrue();

    write(0, 4096, 3); // block 0
    Target second =
        new ReplicaTarget(Files.createDirectory(tmp.resolve("second")).resolve("d.img"));
    SyncReport other = folder.sync("disk.img", second);
    assertThat(other.generation())
        .as("never the number the first replica holds")
        .isGreaterThan(committed.generation());

    Tools.run("grow the tmpfs", "mount", "-o", "remount,size=200m", small.toString());
    write(31 * MIB, 5000, 4);
    SyncReport last = folder.sync("disk.img", first);
    ReplicaTarget.awaitSettles();
    assertThat(last.blocks()).as("block 0 travels to the first replica").isPositive();
    assertThat(Files.mismatch(folder.backingFile("disk.img"), small.resolve("disk.img")))
        .as("the first replica equals the image")
        .isEqualTo(-1L);
  }

  @Test
  void aFirstSyncIntoANewReplicaOnAFullDiskNamesTheFileItCouldNotWrite() throws Exception {
    Fuse.require();
    small = Tools.tmpfs(tmp.resolve("small"), "size=8m");
    folder = MountedFolder.prepare(tmp, G);
    byte[] data = new byte[16 * MIB];
    new Random(5).nextBytes(data);
    Files.write(folder.backingFile("disk.img"), data);
    folder.mount();
    Target replica = new ReplicaTarget(small.resolve("disk.img"));
    // the operator's one line: which file met the full disk, not a bare "No space left on device"
    assertThatThrownBy(() -> folder.sync("disk.img", replica))
        .hasMessageContaining("No space left")
        .hasMessageContaining(small.resolve(".disk.img.cbtfs-new").toString());
    assertThat(Files.exists(small.resolve("disk.img"))).as("no replica made").isFalse();

    Tools.run("grow the tmpfs", "mount", "-o", "remount,size=40m", small.toString());
    folder.sync("disk.img", replica);
    ReplicaTarget.awaitSettles();
    assertThat(Files.mismatch(folder.backingFile("disk.img"), small.resolve("disk.img")))
        .as("the replica equals the image")
        .isEqualTo(-1L);
  }

  private void write(long offset, int length, long seed) throws IOException {
    byte[] b = new byte[length];
    new Random(seed).nextBytes(b);
    Tools.pwrite(folder.image("disk.img"), offset, b);
  }
}
