package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cbtfs sync --metrics-textfile} with no mount: the sync's metrics for that image and target
 * only, written whether the sync succeeds or fails, and nothing left beside the file.
 */
class MetricsTextfileTest {
  @TempDir Path tmp;
  Path image;
  Path textfile;

  @BeforeEach
  void image() throws IOException {
    image = tmp.resolve("disk.img");
    try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
      f.setLength(1 << 20);
    }
    Files.createDirectories(tmp.resolve("metrics"));
    textfile = tmp.resolve("metrics").resolve("cbtfs-disk.prom");
  }

  private CliRun sync(String target) {
    return CliRun.of(
        "sync", "--json", "--metrics-textfile", textfile.toString(), image.toString(), target);
  }

  @Test
  void aSuccessfulSyncWritesItsTargetsMetrics() throws IOException {
    Files.createDirectories(tmp.resolve("a"));
    Files.createDirectories(tmp.resolve("b"));
    String a = "file:" + tmp.resolve("a/disk.img");
    String b = "file:" + tmp.resolve("b/disk.img");
    assertThat(sync(a).exitCode()).isZero();
    CliRun second = sync(b);
    assertThat(second.exitCode()).as(second.err()).isZero();
    Exposition e = new Exposition(Files.readString(textfile));
    String series = "{image=\"disk.img\",target=\"" + b + "\"}";
    assertThat(
            e.of("cbtfs_syncs_total{image=\"disk.img\",result=\"success\",target=\"" + b + "\"}"))
        .isEqualTo(1);
    assertThat(e.of(SyncMetrics.LAST_STATUS + series)).isEqualTo(1);
    assertThat(e.of(SyncMetrics.DURATION + "_count" + series)).isEqualTo(1);
    java.util.regex.Matcher generation =
        java.util.regex.Pattern.compile("\"generation\":(\\d+)").matcher(second.out());
    assertThat(generation.find()).isTrue();
    assertThat(e.of(TargetMetrics.TARGET_GENERATION + series))
        .as("the generation the sync reported (an offline load skips numbers ahead)")
        .isEqualTo(Long.parseLong(generation.group(1)));
    assertThat(e.of(TargetMetrics.LAG_GENERATIONS + series)).isZero();
    assertThat(e.of(TargetMetrics.LAST_SUCCESS + series))
        .isCloseTo(System.currentTimeMillis() / 1000.0, org.assertj.core.data.Offset.offset(60.0));
    assertThat(e.value(TargetMetrics.LAST_SUCCESS_AGE + series))
        .as("an age would stand still in a file")
        .isEmpty();
    assertThat(e.text())
        .as("only the image and target of this sync: files of other syncs never repeat a series")
        .doesNotContain(a)
        .doesNotContain("cbtfs_image_");
    assertThat(Files.list(textfile.getParent()).toList()).containsExactly(textfile);
  }

  @Test
  void aFailedSyncWritesItsFailure() throws IOException {
    Files.createDirectories(tmp.resolve("a"));
    String a = "file:" + tmp.resolve("a/disk.img");
    assertThat(sync(a).exitCode()).isZero();
    // the replica's folder replaced by a file: the sync fails once its target is open
    Path folder = tmp.resolve("a");
    MetricsTest.deleteFolder(folder);
    Files.writeString(folder, "not a folder");
    CliRun failed = sync(a);
    assertThat(failed.exitCode()).isEqualTo(CbtfsCommand.EXIT_FAILURE);
    Exposition e = new Exposition(Files.readString(textfile));
    String series = "{image=\"disk.img\",target=\"" + a + "\"}";
    assertThat(
            e.of("cbtfs_syncs_total{image=\"disk.img\",result=\"failure\",target=\"" + a + "\"}"))
        .isEqualTo(1);
    assertThat(e.of(SyncMetrics.LAST_STATUS + series)).isZero();
    assertThat(e.of(TargetMetrics.TARGET_GENERATION + series))
        .as("where the target stands: still at its last success")
        .isEqualTo(1);
  }

  /** A textfile that cannot be written is a warning that says why, the sync's result stands. */
  @Test
  void aTextfileInAMissingFolderIsAWarningThatSaysWhy() throws IOException {
    textfile = tmp.resolve("no-such-folder").resolve("cbtfs-disk.prom");
    Files.createDirectories(tmp.resolve("a"));
    CliRun run = sync("file:" + tmp.resolve("a/disk.img"));
    assertThat(run.exitCode()).as(run.err()).isZero();
    assertThat(run.out()) // --json: the report's warning
        .contains(
            "the metrics textfile "
                + textfile
                + " was not written: no such file: "
                + textfile
                + ".tmp");
  }
}
