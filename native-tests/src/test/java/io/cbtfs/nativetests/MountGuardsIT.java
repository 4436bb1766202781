package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.ProcMounts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code cbtfs mount} refuses before it touches anything: a backing folder another mount
 * serves (whatever path names it), a backing folder inside a cbtfs mount or holding the mount
 * point, missing folders, unsafe state directories. And what it serves: a backing folder named
 * through a symbolic link, as the folder it leads to.
 */
class MountGuardsIT {
  @TempDir Path tmp;
  Path real;
  Path link;
  Path mnt;
  Path mnt2;
  byte[] image;
  final List<Path> mounts = new ArrayList<>();

  @BeforeEach
  void folders() throws IOException {
    Fuse.require();
    real = Files.createDirectory(tmp.resolve("real"));
    link = Files.createSymbolicLink(tmp.resolve("link"), real);
    mnt = Files.createDirectory(tmp.resolve("mnt"));
    mnt2 = Files.createDirectory(tmp.resolve("mnt2"));
    image = new byte[4 << 20];
    new Random(4).nextBytes(image);
    Files.write(real.resolve("vm.raw"), image);
  }

  @AfterEach
  void noMountLeft() throws IOException {
    for (Path p : List.of(mnt, mnt2, real.resolve("sub"))) { // sub: where a regression mounts
      if (ProcMounts.isMounted(p)) {
        Tools.exec(List.of("fusermount", "-u", "-z", p.toString()), 30);
      }
    }
    for (Path p : mounts) {
      if (ProcMounts.isMounted(p)) {
        Tools.exec(List.of("umount", "-l", p.toString()), 30);
      }
    }
  }

  private static Tools.Result mount(String... args) {
    List<String> all = new ArrayList<>(List.of("mount", "--daemon"));
    all.addAll(List.of(args));
    return Cbtfs.run(all.toArray(String[]::new));
  }

  /** Issue item 4: the backing folder is locked by identity, not by the spelling of its path. */
  @Test
  void aBackingFolderIsServedByOneMountWhateverPathNamesIt() throws IOException {
    Tools.require("mount");
    Tools.Result first = mount(real.toString(), mnt.toString());
    assertThat(first.exitCode()).as(first.output()).isZero();

    Path bind = Files.createDirectory(tmp.resolve("bind"));
    Tools.run("bind-mount the backing folder", "mount", "--bind", real.toString(), bind.toString());
    mounts.add(bind);
    for (Path spelling : List.of(link, real.resolve("../real"), bind)) {
      Tools.Result second =
          mount(
              "--state-dir",
              tmp.resolve("state-of-" + spelling.getFileName()).toString(),
              spelling.toString(),
              mnt2.toString());
      assertThat(second.exitCode()).as(spelling + ": " + second.output()).isEqualTo(1);
      Path named = spelling.equals(bind) ? bind : real; // a bind mount has a real path of its own
      assertThat(second.output())
          .contains("backing directory " + named + " is already served by another cbtfs mount");
      assertThat(ProcMounts.isMounted(mnt2)).isFalse();
      assertThat(tmp.resolve("state-of-" + spelling.getFileName())).doesNotExist();
    }
    assertThat(Cbtfs.run("unmount", mnt.toString()).exitCode()).isZero();
  }

  /** Issue item 4: a backing folder named through a symbolic link serves the folder it names. */
  @Test
  void aBackingFolderNamedThroughALinkIsServedAsTheFolderItself() throws IOException {
    Tools.Result r = mount(link.toString(), mnt.toString());
    assertThat(r.exitCode()).as(r.output()).isZero();
    assertThat(r.output()).contains("serving " + real + " on " + mnt);
    assertThat(Files.isDirectory(mnt)).isTrue();
    try (var names = Files.list(mnt)) {
      assertThat(names.map(p -> p.getFileName().toString())).containsExactly("vm.raw");
    }
    assertThat(Files.readAllBytes(mnt.resolve("vm.raw"))).isEqualTo(image);
    Tools.run(
        "dd through the mount",
        "dd",
        "if=/dev/zero",
        "of=" + mnt.resolve("vm.raw"),
        "bs=4096",
        "count=1",
        "seek=20",
        "conv=notrunc",
        "status=none");
    Tools.Result status = Cbtfs.run("status", "--json", mnt.resolve("vm.raw").toString());
    assertThat(status.output()).as(status.output()).contains("\"dirtyBlocks\":1");
    assertThat(Cbtfs.run("unmount", mnt.toString()).exitCode()).isZero();
    assertThat(real.resolve(".cbtfs/vm.raw.cbt")).as("state in the real folder").exists();
  }

  /** Issue item 4: no backing folder inside a cbtfs mount, none holding its own mount point. */
  @Test
  void aBackingFolderInsideACbtfsMountOrAroundItsMountPointIsRefused() throws IOException {
    assertThat(mount(real.toString(), mnt.toString()).exitCode()).isZero();
    Tools.Result inside = mount(mnt.toString(), mnt2.toString());
    assertThat(inside.exitCode()).as(inside.output()).isEqualTo(1);
    assertThat(inside.output())
        .contains("backing directory " + mnt + " is inside the cbtfs mount on " + mnt);
    assertThat(ProcMounts.isMounted(mnt2)).isFalse();
    assertThat(Cbtfs.run("unmount", mnt.toString()).exitCode()).isZero();

    // the mount point inside the backing folder, spelled through the link: still the same folder
    Files.createDirectory(real.resolve("sub"));
    Tools.Result around = mount(real.toString(), link.resolve("sub").toString());
    assertThat(around.exitCode()).as(around.output()).isEqualTo(1);
    assertThat(around.output()).contains("must not contain each other");
    assertThat(ProcMounts.isMounted(real.resolve("sub"))).isFalse();
  }

  /**
   * Issue item 5: --daemon checks first, makes nothing the user did not ask for, chmods nothing.
   */
  @Test
  void aDaemonMountChecksBeforeItMakesOrChangesAnything() throws IOException {
    Path missing = tmp.resolve("missing");
    for (String mode : List.of("--daemon", "--no-direct-io")) { // a daemon, and a foreground mount
      Tools.Result r =
          Cbtfs.run("mount", mode, missing.resolve("images").toString(), mnt.toString());
      assertThat(r.exitCode()).as(r.output()).isEqualTo(1);
      assertThat(r.output()).contains("backing directory " + missing.resolve("images"));
      assertThat(missing).as(mode + " made nothing").doesNotExist();
    }

    Path shared = Files.createDirectory(tmp.resolve("shared"));
    Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
    Tools.Result s = mount("--state-dir", shared.toString(), real.toString(), mnt.toString());
    assertThat(s.exitCode()).as(s.output()).isEqualTo(1);
    assertThat(s.output()).contains("is writable by other users");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(shared)))
        .isEqualTo("rwxrwxrwx");
    assertThat(isEmpty(shared)).isTrue();

    Path theirs = Files.createDirectory(tmp.resolve("theirs"));
    Files.setAttribute(theirs, "unix:uid", 65534);
    Tools.Result t = mount("--state-dir", theirs.toString(), real.toString(), mnt.toString());
    assertThat(t.exitCode()).as(t.output()).isEqualTo(1);
    assertThat(t.output()).contains("belongs to another user");
    assertThat(isEmpty(theirs)).isTrue();
    assertThat(real.resolve(".cbtfs")).as("no default state folder either").doesNotExist();
    assertThat(ProcMounts.isMounted(mnt)).isFalse();
  }

  /**
   * A start that fails after the kernel mount exists (here: the control socket cannot be made)
   * unmounts again and saves the tracking, instead of leaving a dead mount point behind.
   */
  @Test
  void aStartThatFailsAfterMountingUnmountsAgain() throws IOException {
    Path state = Files.createDirectory(tmp.resolve("state"));
    Files.createDirectories(state.resolve("control.sock").resolve("in-the-way"));
    Tools.Result r = mount("--state-dir", state.toString(), real.toString(), mnt.toString());
    assertThat(r.exitCode()).as(r.output()).isEqualTo(1);
    assertThat(r.output()).contains("control.sock");
    assertThat(ProcMounts.isMounted(mnt)).as(r.output()).isFalse();

    Tools.Result again =
        mount("--state-dir", tmp.resolve("state2").toString(), real.toString(), mnt.toString());
    assertThat(again.exitCode()).as("the backing folder is free again: " + again.output()).isZero();
    mounts.add(mnt);
    assertThat(Files.readAllBytes(mnt.resolve("vm.raw"))).isEqualTo(image);
    assertThat(Cbtfs.run("unmount", mnt.toString()).exitCode()).isZero();
  }

  /** Issue item 11: a daemon that fails appends to the log it shares, never truncates it. */
  @Test
  void aFailedSecondDaemonKeepsTheLogOfTheRunningMount() throws IOException {
    Path state = tmp.resolve("state");
    Path other = Files.createDirectory(tmp.resolve("other"));
    Tools.Result first = mount("--state-dir", state.toString(), real.toString(), mnt.toString());
    assertThat(first.exitCode()).as(first.output()).isZero();
    Path log = state.resolve("mount.log");
    String before = Files.readString(log);
    assertThat(before).contains("mounted " + real);

    Tools.Result second = mount("--state-dir", state.toString(), other.toString(), mnt2.toString());
    assertThat(second.exitCode()).as(second.output()).isEqualTo(1);
    assertThat(second.output())
        .contains("state directory " + state + " is in use by another cbtfs mount")
        .doesNotContain("mounted " + real); // only the failed mount's own lines are shown
    assertThat(Files.readString(log)).startsWith(before).contains("is in use");
    assertThat(Cbtfs.run("unmount", mnt.toString()).exitCode()).isZero();
  }

  private static boolean isEmpty(Path dir) throws IOException {
    try (var entries = Files.list(dir)) {
      return entries.findAny().isEmpty();
    }
  }
}
