package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.WritableFile;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.TargetState;
import io.cbtfs.syncer.local.Restorable;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code mount --read-only}: its names, and what it refuses before anything is mounted. */
class GenerationMountTest {
  private static final UUID LINEAGE = UUID.fromString("00000000-0000-0000-0000-00000000000a");
  @TempDir Path tmp;

  /** A store nobody reads: only the names are looked at. */
  private static Restorable store() {
    return (Restorable)
        Proxy.newProxyInstance(
            Restorable.class.getClassLoader(),
            new Class<?>[] {Restorable.class},
            (proxy, method, args) -> {
              if (method.getName().equals("close")) {
                return null;
              }
              if (method.getName().equals("state")) {
                return new TargetState(true, LINEAGE, 7, 2000);
              }
              throw new UnsupportedOperationException(method.getName());
            });
  }

  @Test
  void everyGenerationIsNameAtNAndTheNewestIsName() throws IOException {
    Restorable.Generation g3 = new Restorable.Generation(3, true, 1000, Instant.EPOCH, -1);
    Restorable.Generation g7 = new Restorable.Generation(7, false, 2000, Instant.EPOCH, -1);
    Restorable.Generation g1 = new Restorable.Generation(1, true, 500, Instant.EPOCH, -1);
    try (GenerationFiles files =
        new GenerationFiles(
            List.of(
                new GenerationFiles.Source("vm1", store(), List.of(g3, g7)),
                new GenerationFiles.Source("db", store(), List.of(g1))),
            new PieceCache(0))) {
      assertThat(files.names()).containsExactly("db", "db@1", "vm1", "vm1@3", "vm1@7");
      assertThat(files.file("vm1").byteSize()).isEqualTo(2000);
      assertThat(files.file("vm1")).isSameAs(files.file("vm1@7"));
      assertThat(files.file("vm1@3").byteSize()).isEqualTo(1000);
      assertThat(files.file("vm1@4")).isNull();
    }
  }

  @Test
  void anImageNamedLikeAnotherImagesGenerationNeverHidesThatGeneration() throws IOException {
    // a store holding "vm" and "vm@2": the newest of "vm@2" must not pass for generation 2 of "vm"
    Restorable.Generation g1 = new Restorable.Generation(1, true, 1000, Instant.EPOCH, -1);
    Restorable.Generation g2 = new Restorable.Generation(2, false, 2000, Instant.EPOCH, -1);
    Restorable.Generation g5 = new Restorable.Generation(5, true, 5000, Instant.EPOCH, -1);
    for (boolean vmFirst : new boolean[] {true, false}) {
      GenerationFiles.Source vm = new GenerationFiles.Source("vm", store(), List.of(g1, g2));
      GenerationFiles.Source other = new GenerationFiles.Source("vm@2", store(), List.of(g5));
      try (GenerationFiles files =
          new GenerationFiles(
              vmFirst ? List.of(vm, other) : List.of(other, vm), new PieceCache(0))) {
        assertThat(files.file("vm@2").byteSize()).as("vm@2, vm first: " + vmFirst).isEqualTo(2000);
        assertThat(files.file("vm@2@5").byteSize()).isEqualTo(5000);
        assertThat(files.names()).containsExactly("vm", "vm@1", "vm@2", "vm@2@5");
      }
    }
  }

  /** Every generation gets an overlay of its own, made at its first write; NAME shares NAME@N's. */
  @Test
  void anOverlaidGenerationIsWritableAndItsNewestNameSharesItsOverlay() throws IOException {
    Restorable.Generation g3 = new Restorable.Generation(3, true, 1000, Instant.EPOCH, -1);
    Restorable.Generation g7 = new Restorable.Generation(7, false, 2000, Instant.EPOCH, -1);
    Path dir = Files.createDirectory(tmp.resolve("overlay"));
    try (GenerationFiles files =
        new GenerationFiles(
            List.of(new GenerationFiles.Source("vm1", store(), List.of(g3, g7))),
            new PieceCache(0))) {
      files.overlayIn(dir);
      assertThat(files.file("vm1")).isSameAs(files.file("vm1@7")).isInstanceOf(WritableFile.class);
      assertThat(files.file("vm1@3")).isInstanceOf(WritableFile.class);
      assertThat(dir).isEmptyDirectory();
      byte[] whole = new byte[2000]; // the image's one block, whole: nothing copied from the store
      whole[5] = 42;
      ((WritableFile) files.file("vm1")).write(0, whole, whole.length);
    }
    byte[] expected = new byte[2000];
    expected[5] = 42;
    assertThat(Files.readAllBytes(dir.resolve("vm1@7.img"))).isEqualTo(expected);
    assertThat(dir.resolve("vm1@7.present")).exists();
    assertThat(dir.resolve("vm1@3.img")).doesNotExist();
  }

  @Test
  void usageErrorsExitTwoAndAnEmptyArchiveExitsOne() throws IOException {
    Path mnt = Files.createDirectory(tmp.resolve("mnt"));
    CliRun overlay =
        CliRun.of("mount", "--overlay", tmp.toString(), tmp.toString(), mnt.toString());
    assertThat(overlay.exitCode()).isEqualTo(2);
    assertThat(overlay.err()).contains("--overlay makes the generations of a --read-only mount");
    CliRun hydrate =
        CliRun.of("mount", "--read-only", "--hydrate", "x@1", "archive:" + tmp, mnt.toString());
    assertThat(hydrate.exitCode()).isEqualTo(2);
    assertThat(hydrate.err()).contains("--hydrate fills an overlay: give --overlay DIR too");
    CliRun daemon = CliRun.of("mount", "--read-only", "--daemon", "archive:" + tmp, mnt.toString());
    assertThat(daemon.exitCode()).isEqualTo(2);
    assertThat(daemon.err()).contains("--read-only runs in the foreground");
    CliRun huge =
        CliRun.of("mount", "--read-only", "--cache-size", "1T", "archive:" + tmp, mnt.toString());
    assertThat(huge.exitCode()).isEqualTo(2);
    assertThat(huge.err()).contains("more than half of this JVM's heap").contains("--max-memory");
    CliRun replica =
        CliRun.of("mount", "--read-only", "file:" + tmp.resolve("x.img"), mnt.toString());
    assertThat(replica.exitCode()).isEqualTo(2);
    assertThat(replica.err()).contains("archive:DIR, s3://");
    CliRun empty =
        CliRun.of("mount", "--read-only", "archive:" + tmp.resolve("none.archive"), mnt.toString());
    assertThat(empty.exitCode()).isEqualTo(1);
    assertThat(empty.err().strip()).contains("holds no generation").doesNotContain("\n");
  }

  /**
   * A receiver's replica is no source (a usage error, before any connection); a receiver that is
   * not there fails in one line naming it, exit 1, as the other sources' errors.
   */
  @Test
  void aReceiverSourceNeedsItsArchiveAndANamedReceiver() throws IOException {
    Path mnt = Files.createDirectory(tmp.resolve("mnt"));
    Path token = Files.writeString(tmp.resolve("token"), "ab".repeat(32));
    int port;
    try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
      port = free.getLocalPort(); // closed: nothing listens there now
    }
    String replica = "cbtfs://127.0.0.1:" + port + "/vm1?insecure&token-file=" + token;
    CliRun noArchive = CliRun.of("mount", "--read-only", replica, mnt.toString());
    assertThat(noArchive.exitCode()).as(noArchive.err()).isEqualTo(2);
    assertThat(noArchive.err()).contains("cbtfs://127.0.0.1:" + port + "/vm1?archive");
    CliRun down = CliRun.of("mount", "--read-only", replica + "&archive", mnt.toString());
    assertThat(down.exitCode()).as(down.err()).isEqualTo(1);
    assertThat(down.err().strip())
        .contains("cannot connect to the receiver 127.0.0.1:" + port)
        .doesNotContain("\n");
    CliRun restore = CliRun.of("restore", "--list", replica.replace("/vm1?", "/vm1?archive&"));
    assertThat(restore.exitCode()).as(restore.err()).isEqualTo(1);
    assertThat(restore.err()).contains("cannot connect to the receiver 127.0.0.1:" + port);
    assertThat(mnt).isEmptyDirectory();
  }

  /**
   * An overlay folder at or under the mount point would be hidden by the mount, and its lock file
   * made the mount point non-empty ("mount point is not empty", the lock left behind for every
   * later mount): a usage error, before anything is made.
   */
  @Test
  void anOverlayInsideTheMountPointIsAUsageErrorThatMakesNothing() throws IOException {
    Path mnt = Files.createDirectory(tmp.resolve("mnt"));
    for (Path overlay : List.of(mnt, mnt.resolve("overlay"), tmp.resolve("x/../mnt/o"))) {
      CliRun r =
          CliRun.of(
              "mount",
              "--read-only",
              "--overlay",
              overlay.toString(),
              "archive:" + tmp.resolve("none.archive"),
              mnt.toString());
      assertThat(r.exitCode()).as(r.err()).isEqualTo(2);
      assertThat(r.err()).contains("--overlay " + overlay + " is inside the mount point " + mnt);
      assertThat(mnt).isEmptyDirectory();
    }
  }

  @Test
  void aStoredImageIsNeverOpenedJustToListIt() throws IOException {
    // the sizes come from the listing: StoredImage.open is not called (the proxy would throw)
    Restorable.Generation g = new Restorable.Generation(2, true, 4096, null, -1);
    try (GenerationFiles files =
        new GenerationFiles(
            List.of(new GenerationFiles.Source("x", store(), List.of(g))), new PieceCache(0))) {
      assertThat(files.file("x@2").byteSize()).isEqualTo(4096);
      assertThat(files.file("x@2").modifiedSeconds()).isZero();
    }
  }
}
