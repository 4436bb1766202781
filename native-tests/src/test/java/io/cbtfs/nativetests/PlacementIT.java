package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.ProcMounts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Nothing cbtfs writes may land in a folder a running mount serves, however that folder is named:
 * its files would be served as images and could be changed through the mount, a replica silently so
 * (found by hostile testing: a bind mount of the backing folder, another mount's backing folder as
 * a state directory or as a receiver's root).
 */
class PlacementIT {
  @TempDir Path tmp;
  DaemonMount folder;
  Path bind;
  DaemonMount second;

  @BeforeEach
  void mounted() throws IOException {
    folder = DaemonMount.prepare(tmp);
    Files.write(folder.backingFile("vm.img"), new byte[1 << 20]);
    folder.mount();
  }

  @AfterEach
  void cleanUp() throws IOException {
    if (second != null) {
      second.close();
    }
    if (bind != null && ProcMounts.isMounted(bind)) {
      Tools.exec(List.of("umount", "-l", bind.toString()), 30);
    }
    folder.close();
  }

  @Test
  void aReplicaInTheServedFolderThroughABindMountIsRefused() throws IOException {
    bind = Files.createDirectory(tmp.resolve("bind"));
    Tools.run(
        "bind the backing folder", "mount", "--bind", folder.backing.toString(), bind.toString());
    for (String target :
        new String[] {"file:" + bind.resolve("copy.img"), "archive:" + bind.resolve("chain")}) {
      Tools.Result r = Cbtfs.run("sync", folder.image("vm.img").toString(), target);
      assertThat(r.exitCode()).as(r.output()).isEqualTo(1);
      assertThat(r.output()).contains("refusing to sync to");
    }
    assertThat(folder.backingFile("copy.img")).doesNotExist();
    assertThat(folder.backingFile("chain")).doesNotExist();
  }

  @Test
  void anotherMountsBackingFolderIsNoStateDirectory() throws IOException {
    second = DaemonMount.prepare(Files.createDirectory(tmp.resolve("second")));
    Tools.Result r =
        Cbtfs.run(
            "mount",
            "--daemon",
            "--state-dir",
            folder.backing.toString(),
            second.backing.toString(),
            second.mnt.toString());
    assertThat(r.exitCode()).as(r.output()).isEqualTo(1);
    assertThat(r.output()).contains("is the backing folder of a running cbtfs mount");
    assertThat(ProcMounts.isMounted(second.mnt)).isFalse();
  }

  @Test
  void aReceiverDoesNotStoreReplicasInAServedFolder() {
    for (Path root : new Path[] {folder.backing, folder.backing.resolve(".cbtfs")}) {
      Tools.Result r = Cbtfs.run("receive", "--init", "--root", root.toString());
      assertThat(r.exitCode()).as(r.output()).isEqualTo(1);
      assertThat(r.output()).contains("choose another");
      assertThat(root.resolve(".cbtfs-receiver")).doesNotExist();
    }
  }
}
