package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cbtfs mount --read-only --overlay DIR}: an ext4 generation of an archive made writable.
 * qemu-io writes through the overlay (a block in part, a block boundary), the mount is killed with
 * SIGKILL and mounted again, and the image then equals its restore with the same writes (qemu-img
 * compare) and checks clean (e2fsck); debugfs changes the filesystem through the overlay while
 * {@code --hydrate} copies the rest, after which the overlay file alone is the image (cmp, e2fsck);
 * the generation in the archive restores as before.
 */
class OverlayMountIT {
  private static final Pattern GENERATION = Pattern.compile("generation (\\d+)");
  private static final Pattern BLOCK = Pattern.compile("^(\\d+)\\s*$", Pattern.MULTILINE);

  @TempDir Path tmp;
  DaemonMount folder;

  @BeforeEach
  void setUp() throws IOException {
    folder = DaemonMount.prepare(tmp);
    folder.mount();
  }

  @AfterEach
  void tearDown() throws Exception {
    folder.close();
  }

  static Tools.Result ok(String... args) {
    Tools.Result r = Cbtfs.run(args);
    assertThat(r.exitCode()).as(String.join(" ", args) + ":\n" + r.output()).isZero();
    return r;
  }

  /** The filesystem block (4 KiB) where block {@code index} of {@code file} lies in {@code img}. */
  static long physicalBlock(Path img, String file, long index) {
    String out =
        Tools.run("debugfs bmap", "debugfs", "-R", "bmap " + file + " " + index, img.toString());
    Matcher m = BLOCK.matcher(out);
    assertThat(m.find()).as(out).isTrue();
    return Long.parseLong(m.group(1));
  }

  static void qemuIo(Path img, List<String> writes) {
    List<String> command = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
    for (String w : writes) {
      command.add("-c");
      command.add(w);
    }
    command.add(img.toString());
    String out = Tools.run("qemu-io on " + img, command);
    assertThat(out).doesNotContain("error").doesNotContain("failed");
  }

  ReadOnlyMountProcess mount(String name, String archive, Path overlay, String... more)
      throws Exception {
    List<String> options = new ArrayList<>();
    if (overlay != null) {
      options.addAll(List.of("--overlay", overlay.toString()));
    }
    options.addAll(List.of(more));
    return ReadOnlyMountProcess.start(
        tmp.resolve(name), Map.of(), archive, options.toArray(String[]::new));
  }

  @Test
  void qemuIoWritesThroughTheOverlaySurviveAKillAndHydrationMakesTheOverlayFileTheImage()
      throws Exception {
    for (String tool : List.of("mke2fs", "debugfs", "e2fsck", "qemu-io", "qemu-img", "cmp")) {
      Tools.require(tool);
    }
    Path tree = Files.createDirectories(tmp.resolve("tree"));
    Files.writeString(tree.resolve("hello.txt"), "hello from the backup\n");
    byte[] big = new byte[3 << 20];
    new Random(4).nextBytes(big);
    Files.write(tree.resolve("big.bin"), big);
    Path img = folder.image("fs.img");
    Tools.run(
        "mke2fs -d onto the mount",
        "mke2fs",
        "-q",
        "-F",
        "-t",
        "ext4",
        "-b",
        "4096",
        "-d",
        tree.toString(),
        img.toString(),
        "64M");
    String archive = "archive:" + tmp.resolve("fs.archive");
    Matcher synced = GENERATION.matcher(ok("sync", img.toString(), archive).output());
    assertThat(synced.find()).isTrue();
    long generation = Long.parseLong(synced.group(1));
    Path restored = tmp.resolve("restored.img");
    ok("restore", archive, "--generation", Long.toString(generation), restored.toString());

    // big.bin's 768 blocks lie in one run (mke2fs -d), so these writes change its bytes only
    long first = physicalBlock(restored, "/big.bin", 0);
    assertThat(physicalBlock(restored, "/big.bin", 767)).isEqualTo(first + 767);
    long at = first * 4096;
    long boundary = (at / 65536 + 2) * 65536; // an overlay block boundary inside big.bin
    List<String> writes =
        List.of(
            "write -P 0xab " + (at + 100) + " 3000", // inside one block
            "write -P 0xcd " + (boundary - 5000) + " 70000", // two blocks, each in part
            "write -P 0xef " + (boundary + 65536 * 4) + " 65536"); // one block whole
    Path expected = tmp.resolve("expected.img");
    Files.copy(restored, expected);
    qemuIo(expected, writes);

    Path overlay = tmp.resolve("overlay");
    String name = "fs@" + generation;
    try (ReadOnlyMountProcess m = mount("overlaid", archive, overlay)) {
      assertThat(m.output()).contains("writable, with an overlay in " + overlay.toRealPath());
      qemuIo(m.mnt.resolve(name), writes);
      // one mount per overlay folder: a second is refused in one line, before it mounts
      Path other = Files.createDirectories(tmp.resolve("overlaid-2"));
      Tools.Result second =
          Cbtfs.run(
              "mount",
              "--read-only",
              "--transport",
              MountedFolder.transport().label(),
              "--overlay",
              overlay.toString(),
              archive,
              other.toString());
      assertThat(second.exitCode()).as(second.output()).isEqualTo(1);
      assertThat(second.output().strip()).contains("in use by another cbtfs mount");
      assertThat(second.output().strip().lines()).hasSize(1);
      // killed: what qemu-io was told was written must be there at the next mount
      ProcessHandle.of(m.pid()).orElseThrow().destroyForcibly();
      ProcessHandle.of(m.pid()).ifPresent(p -> p.onExit().orTimeout(60, TimeUnit.SECONDS).join());
    }

    // the overlay file: the image's size, sparse: only the blocks written hold bytes
    Path overlayImage = overlay.resolve(name + ".img");
    assertThat(Files.size(overlayImage)).isEqualTo(64L << 20);
    long allocated =
        512
            * Long.parseLong(
                Tools.run("stat", "stat", "-c", "%b", overlayImage.toString()).strip());
    assertThat(allocated).isLessThan(1L << 20);

    Path snapshot = tmp.resolve("overlaid-copy.img");
    try (ReadOnlyMountProcess m = mount("overlaid", archive, overlay, "--hydrate", name)) {
      Path image = m.mnt.resolve(name);
      Tools.run(
          "qemu-img compare: the overlaid image = the restore with the same writes",
          "qemu-img",
          "compare",
          "-f",
          "raw",
          "-F",
          "raw",
          image.toString(),
          expected.toString());
      Tools.run("e2fsck -fn of the overlaid image", "e2fsck", "-fn", image.toString());
      // the filesystem itself changed through the overlay: a new file, then a check again
      Path local = Files.writeString(tmp.resolve("new.txt"), "written after the boot\n");
      Tools.run(
          "debugfs write through the overlay",
          "debugfs",
          "-w",
          "-R",
          "write " + local + " new.txt",
          image.toString());
      Tools.run("e2fsck -fn after debugfs", "e2fsck", "-fn", image.toString());
      assertThat(Tools.run("debugfs cat", "debugfs", "-R", "cat /new.txt", image.toString()))
          .contains("written after the boot");
      assertThat(Tools.run("debugfs cat", "debugfs", "-R", "cat /hello.txt", image.toString()))
          .contains("hello from the backup");
      // hydration ran meanwhile: the overlay file alone is the image now
      m.awaitOutput("cbtfs: hydrated " + name + ": " + overlay.toRealPath().resolve(name + ".img"));
      assertThat(m.output()).contains("cbtfs: hydrating " + name + ": 50% (32 of 64 MiB)");
      Files.copy(image, snapshot);
    }
    Tools.run("cmp the hydrated overlay file", "cmp", overlayImage.toString(), snapshot.toString());
    Tools.run("e2fsck -fn of the overlay file alone", "e2fsck", "-fn", overlayImage.toString());
    assertThat(Tools.run("debugfs cat", "debugfs", "-R", "cat /new.txt", overlayImage.toString()))
        .contains("written after the boot");

    // the generation in the archive is what it was: restored again, and read without an overlay
    Path again = tmp.resolve("restored-again.img");
    ok("restore", archive, "--generation", Long.toString(generation), again.toString());
    Tools.run("cmp the two restores", "cmp", restored.toString(), again.toString());
    try (ReadOnlyMountProcess m = mount("read-only", archive, null)) {
      Tools.run("cmp without the overlay", "cmp", m.mnt.resolve(name).toString(), again.toString());
    }
  }
}
