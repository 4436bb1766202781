package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A sync refuses targets that overwrite their own image, and leaves nothing behind. */
class TargetPlacementTest {
  @TempDir Path tmp;

  private Path image() throws IOException {
    byte[] data = new byte[1 << 20];
    new Random(3).nextBytes(data);
    return Files.write(Files.createDirectories(tmp.resolve("images")).resolve("disk.img"), data);
  }

  private static long listed(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> !p.getFileName().toString().equals(".cbtfs")).count();
    }
  }

  @Test
  void aSyncOntoTheImageItselfIsRefusedAndLeavesNoFiles() throws IOException {
    Path img = image();
    byte[] before = Files.readAllBytes(img);
    Files.createSymbolicLink(tmp.resolve("link"), img.getParent());
    for (String target :
        new String[] {"file:" + img, "file:" + tmp.resolve("link").resolve("disk.img")}) {
      CliRun run = CliRun.of("sync", img.toString(), target);
      assertThat(run.exitCode()).as(target).isEqualTo(1);
      assertThat(run.err()).contains("it is the image itself");
      assertThat(Files.readAllBytes(img)).isEqualTo(before);
      assertThat(listed(img.getParent())).as("no sidecar files beside the image").isEqualTo(1);
    }
  }

  @Test
  void anArchiveThatIsTheBackingFolderIsRefused() throws IOException {
    Path img = image();
    CliRun run = CliRun.of("sync", img.toString(), "archive:" + img.getParent());
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).contains("it is the backing folder");
    assertThat(listed(img.getParent())).isEqualTo(1);
  }

  @Test
  void anotherImageBesideIsLeftAloneAndAMountedFolderTakesNoReplica() throws IOException {
    Path img = image();
    Path other = Files.write(img.resolveSibling("vm2.img"), new byte[] {1, 2, 3});
    CliRun run = CliRun.of("sync", img.toString(), "file:" + other);
    assertThat(run.exitCode()).isEqualTo(1);
    assertThat(run.err()).contains("is not a cbtfs replica");
    assertThat(Files.readAllBytes(other)).containsExactly(1, 2, 3);
    assertThatThrownBy(
            () ->
                TargetPlacement.requireApart(
                    io.cbtfs.syncer.local.Targets.parse(
                        "file:" + img.resolveSibling("new.img"), Path.of("/")),
                    img,
                    img.getParent(),
                    img.resolveSibling(".cbtfs"),
                    tmp.resolve("mnt")))
        .as("a running mount would serve it as an image")
        .hasMessageContaining("lies in the backing folder");
  }

  @Test
  void anExistingFileThatIsNoReplicaIsOverwrittenOnlyWithFull() throws IOException {
    Path img = image();
    Path other =
        Files.write(Files.createDirectories(tmp.resolve("backup")).resolve("x.img"), new byte[7]);
    CliRun plain = CliRun.of("sync", img.toString(), "file:" + other);
    assertThat(plain.exitCode()).isEqualTo(1);
    assertThat(plain.err()).contains("is not a cbtfs replica", "--full");
    assertThat(Files.size(other)).isEqualTo(7);
    CliRun full = CliRun.of("sync", "--full", img.toString(), "file:" + other);
    assertThat(full.exitCode()).as(full.err()).isZero();
    assertThat(Files.mismatch(img, other)).isEqualTo(-1L);
  }

  @Test
  void aTargetInTheTrackingStateFolderIsRefusedAndItsFilesStay() throws IOException {
    Path img = image();
    Path backup = Files.createDirectories(tmp.resolve("backup"));
    CliRun first = CliRun.of("sync", img.toString(), "file:" + backup.resolve("r.img"));
    assertThat(first.exitCode()).as(first.err()).isZero();
    Path state = img.resolveSibling(".cbtfs");
    Path stateFile = state.resolve("disk.img.cbt");
    byte[] before = Files.readAllBytes(stateFile);
    for (String target : new String[] {"file:" + stateFile, "file:" + state.resolve("x.img")}) {
      CliRun run = CliRun.of("sync", "--full", img.toString(), target);
      assertThat(run.exitCode()).as(target).isEqualTo(1);
      assertThat(run.err()).contains("tracking state folder");
    }
    assertThat(Files.readAllBytes(stateFile)).isEqualTo(before);
    assertThat(state.resolve("x.img")).doesNotExist();
  }

  @Test
  void aRestoreIsNotWrittenIntoABackupArchive() throws IOException {
    Path img = image();
    Path archive = tmp.resolve("backup").resolve("chain");
    Files.createDirectories(archive.getParent());
    CliRun sync = CliRun.of("sync", img.toString(), "archive:" + archive);
    assertThat(sync.exitCode()).as(sync.err()).isZero();
    Path out = archive.resolve("gen-00000099.cbtd");
    CliRun restore = CliRun.of("restore", "archive:" + archive, out.toString());
    assertThat(restore.exitCode()).isEqualTo(1);
    assertThat(restore.err()).contains("inside a backup archive");
    assertThat(out).doesNotExist();
  }

  @Test
  void aTargetElsewhereIsNotRefused() throws IOException {
    Path img = image();
    Path elsewhere = Files.createDirectories(tmp.resolve("backup"));
    assertThatThrownBy(
            () ->
                TargetPlacement.requireApart(
                    io.cbtfs.syncer.local.Targets.parse("file:" + img, Path.of("/")),
                    img,
                    img.getParent(),
                    img.resolveSibling(".cbtfs"),
                    null))
        .hasMessageContaining("the image itself");
    TargetPlacement.requireApart(
        io.cbtfs.syncer.local.Targets.parse("file:" + elsewhere.resolve("r.img"), Path.of("/")),
        img,
        img.getParent(),
        img.resolveSibling(".cbtfs"),
        tmp.resolve("mnt"));
    assertThatThrownBy(
            () ->
                TargetPlacement.requireApart(
                    io.cbtfs.syncer.local.Targets.parse(
                        "file:" + tmp.resolve("mnt").resolve("r.img"), Path.of("/")),
                    img,
                    img.getParent(),
                    img.resolveSibling(".cbtfs"),
                    tmp.resolve("mnt")))
        .hasMessageContaining("under the mount");
  }
}
