package io.cbtfs.nativetests;

import static io.cbtfs.nativetests.OverlayMountIT.ok;
import static io.cbtfs.nativetests.OverlayMountIT.qemuIo;
import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.nativetests.RestoreInPlace.Booted;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A restore in place, to its end: a generation of an archive booted with {@code --overlay}, written
 * (qemu-io), hydrated, then {@code cbtfs adopt}ed into a tracking mount's folder. Its first sync
 * back to the archive sends only the blocks written over the generation (not the 32 MiB image), and
 * the archive's new generation restores to exactly the written image. Before that, adopting an
 * overlay that is not whole yet, or from a target that does not hold its generation, is refused in
 * one line and moves nothing.
 */
class AdoptIT {
  private static final Pattern GENERATION = Pattern.compile("generation (\\d+)");
  private static final Pattern WIRE = Pattern.compile("\"wireBytes\":(\\d+)");
  private static final int SIZE = 32 << 20;

  @TempDir Path tmp;

  @Test
  void anAdoptedOverlaySyncsToItsArchiveOnlyWhatWasWrittenOverItsGeneration() throws Exception {
    Tools.require("qemu-io");
    byte[] data = new byte[SIZE];
    new Random(11).nextBytes(data); // incompressible: a full copy would send all of it
    String archive = "archive:" + tmp.resolve("vm.archive");
    long generation;
    try (DaemonMount old = DaemonMount.prepare(Files.createDirectory(tmp.resolve("old")))) {
      old.mount();
      Files.write(old.image("vm"), data);
      Matcher synced = GENERATION.matcher(ok("sync", old.image("vm").toString(), archive).output());
      assertThat(synced.find()).isTrue();
      generation = Long.parseLong(synced.group(1));
    }
    List<String> writes =
        List.of(
            "write -P 0xab 100 3000",
            "write -P 0xcd 10000000 70000", // across an overlay block boundary
            "write -P 0xef 20971520 65536");
    Path expected = Files.write(tmp.resolve("expected.img"), data);
    qemuIo(expected, writes);

    Path overlay = tmp.resolve("overlay");
    String name = "vm@" + generation;
    Path overlayImage = overlay.resolve(name + ".img");
    try (ReadOnlyMountProcess m =
        ReadOnlyMountProcess.start(
            tmp.resolve("booted"), Map.of(), archive, "--overlay", overlay.toString())) {
      qemuIo(m.mnt.resolve(name), writes);
    }
    DaemonMount adopted = DaemonMount.prepare(Files.createDirectory(tmp.resolve("new")));
    try (adopted) {
      Tools.Result early =
          Cbtfs.run(
              "adopt", overlayImage.toString(), adopted.backing.toString(), "--from", archive);
      assertThat(early.exitCode()).as(early.output()).isEqualTo(1);
      assertThat(early.output().strip()).contains("is not hydrated yet").doesNotContain("\n");

      try (ReadOnlyMountProcess m =
          ReadOnlyMountProcess.start(
              tmp.resolve("booted"),
              Map.of(),
              archive,
              "--overlay",
              overlay.toString(),
              "--hydrate",
              name)) {
        m.awaitOutput("cbtfs: hydrated " + name);
        Tools.Result mounted =
            Cbtfs.run(
                "adopt", overlayImage.toString(), adopted.backing.toString(), "--from", archive);
        assertThat(mounted.exitCode()).as(mounted.output()).isEqualTo(1);
        assertThat(mounted.output().strip())
            .contains("the overlay in " + overlay.toRealPath() + " is in use: mounted")
            .doesNotContain("\n");
      }
      Tools.Result usage =
          Cbtfs.run("adopt", tmp.toString(), adopted.backing.toString(), "--from", archive);
      assertThat(usage.exitCode()).as(usage.output()).isEqualTo(2);
      assertThat(usage.output().strip()).contains("see --help").doesNotContain("\n");

      Tools.Result wrong =
          Cbtfs.run(
              "adopt",
              overlayImage.toString(),
              adopted.backing.toString(),
              "--from",
              "archive:" + tmp.resolve("another.archive"));
      assertThat(wrong.exitCode()).as(wrong.output()).isEqualTo(1);
      assertThat(wrong.output().strip()).contains("holds nothing").doesNotContain("\n");
      assertThat(overlayImage).exists();
      try (var left = Files.list(adopted.backing)) {
        assertThat(left.filter(p -> !p.getFileName().toString().startsWith("."))).isEmpty();
      }

      // the mount point of a running mount, then its backing folder: refused, nothing moved
      adopted.mount();
      Tools.Result intoMount =
          Cbtfs.run("adopt", overlayImage.toString(), adopted.mnt.toString(), "--from", archive);
      assertThat(intoMount.exitCode()).as(intoMount.output()).isEqualTo(1);
      assertThat(intoMount.output().strip())
          .contains("is a cbtfs mount point")
          .doesNotContain("\n");
      Tools.Result underMount =
          Cbtfs.run(
              "adopt", overlayImage.toString(), adopted.backing.toString(), "--from", archive);
      assertThat(underMount.exitCode()).as(underMount.output()).isEqualTo(1);
      assertThat(underMount.output().strip())
          .contains("in use by another cbtfs mount")
          .doesNotContain("\n");
      assertThat(overlayImage).exists();
      adopted.close();

      assertThat(
              ok("adopt", overlayImage.toString(), adopted.backing.toString(), "--from", archive)
                  .output())
          .contains("adopted " + overlayImage)
          .contains("generation " + generation)
          .as("a clean unmount's overlay is trusted: no compare")
          .doesNotContain("compares every block");
      assertThat(overlayImage).doesNotExist();
      assertThat(overlay.resolve(name + ".written")).doesNotExist();
      assertThat(Files.mismatch(adopted.backingFile("vm"), expected)).isEqualTo(-1L);
      Tools.Result again =
          Cbtfs.run(
              "adopt", overlayImage.toString(), adopted.backing.toString(), "--from", archive);
      assertThat(again.exitCode()).as(again.output()).isEqualTo(1);
      assertThat(again.output().strip())
          .isEqualTo(
              "cbtfs adopt: "
                  + overlayImage
                  + " does not exist; "
                  + adopted.backingFile("vm")
                  + " does: was it adopted already?");

      adopted.mount();
      Tools.Result sync = ok("sync", "--json", adopted.image("vm").toString(), archive);
      Matcher wire = WIRE.matcher(sync.output());
      assertThat(wire.find()).as(sync.output()).isTrue();
      // four 64 KiB blocks were written over the generation; a full copy would send 32 MiB
      assertThat(Long.parseLong(wire.group(1))).as(sync.output()).isBetween(1L, 1L << 20);
    }
    Path restored = tmp.resolve("restored.img");
    ok("restore", archive, restored.toString());
    assertThat(Files.mismatch(restored, expected)).isEqualTo(-1L);
  }

  /** An archive of a random image, its generation hydrated whole in an overlay with writes. */
  private static Booted bootAndHydrate(Path dir, int size, long seed) throws Exception {
    return RestoreInPlace.bootAndHydrate(
        dir,
        "archive:" + dir.resolve("vm.archive"),
        size,
        seed,
        1,
        List.of("write -P 0xab 100 3000", "write -P 0xef 1048576 65536"));
  }

  /** Adopts, syncs back through a mount of the folder, restores: the restore must be expected. */
  private static void adoptSyncAndRestore(Booted b, Path dir, String mustSay) throws Exception {
    // the line that says why ends in what the first sync does
    try (DaemonMount adopted = DaemonMount.prepare(Files.createDirectory(dir.resolve("new")))) {
      Tools.Result r =
          ok(
              "adopt",
              b.overlayImage().toString(),
              adopted.backing.toString(),
              "--from",
              b.target());
      assertThat(r.output())
          .contains(mustSay)
          .contains("compares every block")
          .contains("adopted " + b.overlayImage());
      assertThat(Files.mismatch(adopted.backingFile("vm"), b.expected())).isEqualTo(-1L);
      adopted.mount();
      ok("sync", adopted.image("vm").toString(), b.target());
    }
    Path restored = dir.resolve("restored.img");
    ok("restore", b.target(), restored.toString());
    assertThat(Files.mismatch(restored, b.expected())).isEqualTo(-1L);
  }

  /**
   * A write to the overlay file made after the unmount, not through the mount (the file is "usable
   * without the mount"): the .written map does not have it, the fingerprint the unmount sealed in
   * does not match, so adopt says so and the first sync back compares every block. The restored
   * generation has that write.
   */
  @Test
  void aWriteToTheOverlayFileAfterTheUnmountReachesTheBackup() throws Exception {
    Booted b = bootAndHydrate(tmp, 8 << 20, 21);
    byte[] outside = Tools.random(4096, 22);
    int at = 5 << 20; // a block the mount never wrote
    Path patch = Files.write(tmp.resolve("patch"), outside);
    for (Path f : List.of(b.overlayImage(), b.expected())) {
      Tools.run(
          "dd into " + f,
          "dd",
          "if=" + patch,
          "of=" + f,
          "bs=4096",
          "seek=" + at / 4096,
          "conv=notrunc",
          "status=none");
    }
    // a second name (its removal changes the ctime: the file is distrusted already here)
    Path folder = Files.createDirectory(tmp.resolve("folder"));
    Path second = Files.createLink(tmp.resolve("second.img"), b.overlayImage());
    Tools.Result twoNames =
        Cbtfs.run("adopt", b.overlayImage().toString(), folder.toString(), "--from", b.target());
    assertThat(twoNames.exitCode()).as(twoNames.output()).isEqualTo(1);
    assertThat(twoNames.output().strip()).contains("has 2 names").doesNotContain("\n");
    Files.delete(second);

    // FOLDER on another file system: refused before anything is made there
    Path otherFs = Tools.tmpfs(tmp.resolve("otherfs"), "size=1m,mode=0700");
    try {
      Tools.Result across =
          Cbtfs.run("adopt", b.overlayImage().toString(), otherFs.toString(), "--from", b.target());
      assertThat(across.exitCode()).as(across.output()).isEqualTo(1);
      assertThat(across.output().strip())
          .contains("FOLDER must be on the same file system as the overlay")
          .doesNotContain("\n");
      try (var made = Files.list(otherFs)) {
        assertThat(made).isEmpty();
      }
    } finally {
      Tools.exec(Tools.list("umount", otherFs.toString()), 30);
    }

    adoptSyncAndRestore(
        b,
        tmp,
        b.overlayImage()
            + " was changed outside the mount since the mount closed it: the first sync to ");
  }

  /**
   * A damaged .written map (a word of it zeroed: the bits of the block written at 1 MiB are gone)
   * fails its checksum: adopt says so and the first sync back compares every block. The restored
   * generation has the block the damaged map forgot.
   */
  @Test
  void aDamagedWrittenMapIsNotTrusted() throws Exception {
    Booted b = bootAndHydrate(tmp, 8 << 20, 31);
    Path written = b.map(".written");
    try (FileChannel ch = FileChannel.open(written, StandardOpenOption.WRITE)) {
      long block = (1 << 20) / (64 << 10); // the overlay's 64 KiB blocks
      ch.write(ByteBuffer.allocate(8), 4096 + block / 64 * 8);
    }
    adoptSyncAndRestore(b, tmp, "its .written map is damaged (its checksum fails)");
  }

  /**
   * The tracking cannot be saved (its state directory on a full disk): adopt fails in one line,
   * FOLDER has no new file and the overlay is as it was; once there is room, adopt works.
   */
  @Test
  void aFailedSaveOfTheTrackingLeavesTheOverlayAsItWas() throws Exception {
    Booted b = bootAndHydrate(tmp, 4 << 20, 41);
    Path states = Tools.tmpfs(tmp.resolve("states"), "size=1m,mode=0700");
    try (DaemonMount adopted = DaemonMount.prepare(Files.createDirectory(tmp.resolve("new")))) {
      Path filler = states.resolve("filler");
      try (FileChannel ch =
          FileChannel.open(filler, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
        ByteBuffer chunk = ByteBuffer.allocate(4096);
        while (true) {
          chunk.clear();
          ch.write(chunk);
        }
      } catch (IOException full) {
        // the disk is full
      }
      List<String> adopt =
          List.of(
              "adopt",
              b.overlayImage().toString(),
              adopted.backing.toString(),
              "--from",
              b.target(),
              "--state-dir",
              states.toString());
      Tools.Result failed = Cbtfs.run(adopt.toArray(String[]::new));
      assertThat(failed.exitCode()).as(failed.output()).isEqualTo(1);
      assertThat(failed.output().strip())
          .contains("nothing was moved, the overlay is as it was")
          .doesNotContain("\n");
      assertThat(b.overlayImage()).exists();
      assertThat(b.map(".present")).exists();
      assertThat(b.map(".written")).exists();
      assertThat(Files.getAttribute(b.overlayImage(), "unix:nlink")).isEqualTo(1);
      try (var left = Files.list(adopted.backing)) {
        assertThat(left.filter(p -> !p.getFileName().toString().startsWith("."))).isEmpty();
      }
      assertThat(states.resolve("vm.cbt")).doesNotExist();

      Files.delete(filler);
      assertThat(ok(adopt.toArray(String[]::new)).output())
          .contains("adopted " + b.overlayImage())
          .doesNotContain("compares every block");
      assertThat(b.overlayImage()).doesNotExist();
      assertThat(Files.mismatch(adopted.backingFile("vm"), b.expected())).isEqualTo(-1L);
    } finally {
      Tools.exec(Tools.list("umount", states.toString()), 30);
    }
  }
}
