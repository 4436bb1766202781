package io.cbtfs.nativetests;

import static io.cbtfs.nativetests.OverlayMountIT.ok;
import static io.cbtfs.nativetests.OverlayMountIT.qemuIo;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
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
      }
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
          .contains("generation " + generation);
      assertThat(overlayImage).doesNotExist();
      assertThat(overlay.resolve(name + ".written")).doesNotExist();
      assertThat(Files.mismatch(adopted.backingFile("vm"), expected)).isEqualTo(-1L);

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
}
