package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CbtfsCommandTest {
  @TempDir Path tmp;

  @Test
  void aSyncsSnapshotOptionsAreCheckedAsUsage() {
    CliRun both = CliRun.of("sync", "--no-snapshot", "--fleece-limit", "5%", "a.img", "file:/r");
    assertThat(both.exitCode()).isEqualTo(2);
    assertThat(both.err()).startsWith("cbtfs sync: --fleece-limit is for a point-in-time sync");
    CliRun bad = CliRun.of("sync", "--fleece-limit", "120%", "a.img", "file:/r");
    assertThat(bad.exitCode()).isEqualTo(2);
    assertThat(bad.err())
        .startsWith("cbtfs sync: bad fleece limit '120%': a percentage is 0% to 100%");
    java.io.PrintStream stderr = System.err;
    java.io.ByteArrayOutputStream warnings = new java.io.ByteArrayOutputStream();
    CliRun help;
    System.setErr(new java.io.PrintStream(warnings, true));
    try {
      help = CliRun.of("sync", "--help");
    } finally {
      System.setErr(stderr);
    }
    assertThat(help.out()).contains("(default 25%)").contains("--pre-hook=CMD");
    assertThat(warnings.toString())
        .as("picocli formats each description: a bare %% warns")
        .isEmpty();
  }

  @Test
  void aBackupsNameIsUsageAndABackupNeedsARunningMount() throws IOException {
    CliRun bad = CliRun.of("backup", "begin", "a.img", "--name", "no/slash");
    assertThat(bad.exitCode()).isEqualTo(2);
    assertThat(bad.err()).contains("bad backup name 'no/slash'");
    assertThat(CliRun.of("backup", "end", "a.img").exitCode())
        .as("--name is required")
        .isEqualTo(2);
    assertThat(CliRun.of("backup").exitCode()).isEqualTo(2);
    Path image = Files.createFile(tmp.resolve("a.img"));
    CliRun none = CliRun.of("backup", "begin", image.toString(), "--name", "nightly");
    assertThat(none.exitCode()).isEqualTo(1);
    assertThat(none.err().strip())
        .doesNotContain("\n")
        .contains("a pull backup needs a running mount with --nbd");
  }

  @Test
  void helpAndVersionOnEveryCommand() {
    for (String cmd :
        new String[] {
          "mount", "unmount", "status", "sync", "forget", "verify", "restore", "demo"
        }) {
      CliRun help = CliRun.of(cmd, "--help");
      assertThat(help.exitCode()).as(cmd).isZero();
      assertThat(help.out()).contains("Usage: cbtfs " + cmd);
      CliRun version = CliRun.of(cmd, "--version");
      assertThat(version.exitCode()).isZero();
      assertThat(version.out()).startsWith("cbtfs ");
    }
    assertThat(CliRun.of("--help").out()).contains("Exit codes");
  }

  /** Issue item 5: a daemon mount checks everything before it makes a folder or a process. */
  @Test
  void aDaemonMountOfAMissingFolderMakesNothing() throws IOException {
    Path missing = tmp.resolve("missing/images");
    Path mnt = Files.createDirectory(tmp.resolve("mnt"));
    CliRun r = CliRun.of("mount", "--daemon", missing.toString(), mnt.toString());
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err().strip())
        .isEqualTo("cbtfs mount: backing directory " + missing + " does not exist");
    assertThat(tmp.resolve("missing")).doesNotExist();
    assertThat(io.cbtfs.fs.mount.ProcMounts.isMounted(mnt)).as("no daemon started").isFalse();
  }

  @Test
  void usageErrorsExitTwo() {
    assertThat(CliRun.of("mount").exitCode()).isEqualTo(2);
    assertThat(CliRun.of("frobnicate").exitCode()).isEqualTo(2);
    CliRun bad = CliRun.of("mount", "--block-size", "3K", "a", "b");
    assertThat(bad.exitCode()).isEqualTo(2);
    assertThat(bad.err()).contains("invalid --block-size '3K'").contains("power of two");
  }

  @Test
  void mountFailuresAreOneLineAndExitOne() throws IOException {
    Path backing = Files.createDirectory(tmp.resolve("b"));
    CliRun missing = CliRun.of("mount", tmp.resolve("nope").toString(), tmp.toString());
    assertThat(missing.exitCode()).isEqualTo(1);
    assertThat(missing.err().strip())
        .isEqualTo("cbtfs mount: backing directory " + tmp.resolve("nope") + " does not exist");
    Path mp = Files.createDirectory(tmp.resolve("mp"));
    Files.writeString(mp.resolve("x"), "x");
    CliRun notEmpty = CliRun.of("mount", backing.toString(), mp.toString());
    assertThat(notEmpty.exitCode()).isEqualTo(1);
    assertThat(notEmpty.err()).contains("is not empty").doesNotContain("Exception");
  }

  @Test
  void statusOfAnUntrackedImageSaysSo() throws IOException {
    Path img = Files.write(tmp.resolve("disk.img"), new byte[10]);
    CliRun r = CliRun.of("status", img.toString());
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err()).contains("is not tracked").contains("cbtfs mount");
    assertThat(r.err().lines().count()).isOne();
  }

  @Test
  void statusReadsSavedStateOffline() throws IOException {
    Path img = Files.write(tmp.resolve("disk.img"), new byte[200_000]);
    try (TrackerStore store =
        TrackerStore.open(
            tmp.resolve(".cbtfs"), TrackingOptions.defaults(BlockGeometry.of(65536)))) {
      Fingerprint fp = new Fingerprint(200_000, 1, 2, 3);
      TrackedImage image = store.image("disk.img", fp);
      image.beforeWrite(199_000, 100);
      image.afterWrite(199_000, 100);
      store.closeClean(Map.of("disk.img", fp));
    }
    CliRun json = CliRun.of("status", "--json", img.toString());
    assertThat(json.exitCode()).isZero();
    assertThat(json.out())
        .contains(
            "\"imageSize\":200000",
            "\"blockSize\":65536",
            "\"dirtyBlocks\":1",
            "\"dirtyBytes\":3392",
            "\"generation\":0",
            "\"tracking\":\"offline\"",
            "\"clean\":true",
            "\"verifyNextSync\":false");
    CliRun text = CliRun.of("status", img.toString());
    assertThat(text.out()).contains("dirty        1 blocks");
  }

  /** An unclean stop, then one bit of the newest activity-log slot flipped: status says so. */
  @Test
  void statusSaysWhenADamagedLogMakesTheNextSyncAVerifiedOne() throws IOException {
    long size = 8L << 20;
    Path img = tmp.resolve("disk.img");
    try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(img.toFile(), "rw")) {
      f.setLength(size);
    }
    Path stateDir = tmp.resolve(".cbtfs");
    TrackedImage image;
    TrackerStore store =
        TrackerStore.open(stateDir, new TrackingOptions(BlockGeometry.of(4096), 65536, 16, false));
    image = store.image("disk.img", new Fingerprint(size, 1, 2, 3));
    for (long at : new long[] {0, 40L * 65536}) { // extent 0, then extent 40
      image.beforeWrite(at, 4096);
      image.afterWrite(at, 4096);
    }
    store.close(); // a crash: the state stays unclean
    assertThat(CliRun.of("status", "--json", img.toString()).out())
        .contains("\"clean\":false", "\"verifyNextSync\":false");

    Path log = stateDir.resolve("disk.img.alog");
    byte[] bytes = Files.readAllBytes(log);
    long newest =
        io.cbtfs.tracker.ActivityLog.read(bytes, image.lineage()).orElseThrow().sequence();
    bytes[(int) (newest & 1) * (bytes.length / 2) + 44 + 8 + 7] ^= 1; // extent 40 -> 41
    Files.write(log, bytes);
    CliRun json = CliRun.of("status", "--json", img.toString());
    assertThat(json.exitCode()).isZero();
    assertThat(json.out()).contains("\"clean\":false", "\"verifyNextSync\":true");
    assertThat(CliRun.of("status", img.toString()).out())
        .contains("next sync    verified: compares every block with the target");
  }

  @Test
  void corruptStateIsAClearError() throws IOException {
    Path img = Files.write(tmp.resolve("disk.img"), new byte[10]);
    Files.createDirectories(tmp.resolve(".cbtfs"));
    Files.write(tmp.resolve(".cbtfs/disk.img.cbt"), new byte[] {1, 2, 3});
    CliRun r = CliRun.of("status", img.toString());
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.err()).contains("is corrupt").contains("--reset-tracking");
  }
}
