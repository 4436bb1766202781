package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.ProcMounts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel transport mounts with mount(2), which needs root. A mount by another user falls back
 * to libfuse 2 (fusermount) by itself and says so; asking for the kernel transport fails clearly.
 */
class TransportFallbackIT {
  private static final String NOBODY = "65534";

  @TempDir Path tmp;

  @Test
  void aMountByAnotherUserFallsBackToLibfuse2AndSaysSo() throws Exception {
    Fuse.require();
    Tools.require("setpriv");
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
    Path backing = Files.createDirectory(tmp.resolve("images"));
    Path mnt = Files.createDirectory(tmp.resolve("mnt"));
    Files.write(backing.resolve("vm.img"), new byte[65536]);
    for (Path p : List.of(backing, mnt, backing.resolve("vm.img"))) {
      Tools.run("chown", "chown", NOBODY + ":" + NOBODY, p.toString());
    }
    try {
      Tools.Result refused =
          asNobody("mount", "--daemon", "--transport=kernel", backing.toString(), mnt.toString());
      assertThat(refused.exitCode()).as(refused.output()).isNotZero();
      assertThat(refused.output()).contains("kernel FUSE transport cannot mount here");

      Tools.Result mounted = asNobody("mount", "--daemon", backing.toString(), mnt.toString());
      assertThat(Files.readString(backing.resolve(".cbtfs/mount.log")))
          .as("the mount chose libfuse 2 by itself")
          .contains("the kernel FUSE transport cannot mount here")
          .contains("using libfuse 2");
      if (!othersMayOpen(Path.of("/dev/fuse"))) {
        return; // a machine (a container) that keeps FUSE to root: libfuse 2 cannot mount either
      }
      assertThat(mounted.exitCode()).as(mounted.output()).isZero();
      assertThat(mounted.output()).contains("FUSE transport: libfuse2");
      assertThat(Files.size(mnt.resolve("vm.img"))).isEqualTo(65536);
      Tools.Result unmount = Cbtfs.run("unmount", mnt.toString());
      assertThat(unmount.exitCode()).as(unmount.output()).isZero();
      assertThat(ProcMounts.isMounted(mnt)).isFalse();
    } finally {
      if (ProcMounts.isMounted(mnt)) {
        Tools.exec(List.of("fusermount", "-u", "-z", mnt.toString()), 30);
      }
    }
  }

  private static boolean othersMayOpen(Path device) throws java.io.IOException {
    var perms = Files.getPosixFilePermissions(device);
    return perms.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ)
        && perms.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_WRITE);
  }

  /** Runs cbtfs as user nobody, with no transport chosen by the environment. */
  private static Tools.Result asNobody(String... args) {
    List<String> cmd =
        Tools.list("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY, "--clear-groups", "--");
    cmd.addAll(Cbtfs.command(args));
    return Tools.exec(cmd, 120, Map.of("CBTFS_TRANSPORT", "", "HOME", "/tmp"));
  }
}
