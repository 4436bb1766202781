package io.cbtfs.nativetests;

import static io.cbtfs.nativetests.Tools.random;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue #21's point-in-time export, with real clients: {@code cbtfs backup begin} on a daemon mount
 * with {@code --nbd unix:}, then writes through the mount; {@code nbdcopy} and {@code qemu-img
 * convert} of the export {@code IMAGE@NAME} give the image as it was at the drain while the live
 * export gives it as it is; {@code nbdinfo --map} lists the drained blocks; {@code backup end}
 * moves the cursor ({@code status}), and the next backup lists only what was written since. A full
 * fleece fails the export's reads and the end, which commits nothing. Runs once per FUSE transport
 * (native-tests/pom.xml).
 */
class PullBackupIT {
  private static final int BLOCK = 64 << 10;
  private static final int IMAGE_BYTES = 16 << 20; // 256 blocks
  private static final String IMAGE = "vm.img";

  @TempDir Path tmp;
  DaemonMount folder;
  Path socket;

  @BeforeEach
  void prepare() throws IOException {
    for (String tool : List.of("nbdinfo", "nbdcopy", "qemu-img")) {
      Tools.require(tool);
    }
    folder = DaemonMount.prepare(tmp);
    socket = tmp.resolve("nbd.sock");
    Tools.sparse(folder.backingFile(IMAGE), IMAGE_BYTES);
  }

  @AfterEach
  void unmount() throws IOException {
    if (folder != null) {
      folder.close();
    }
  }

  private String uri(String export) {
    return "nbd+unix:///" + export + "?socket=" + socket;
  }

  private static final Pattern MAP_LINE = Pattern.compile("^\\s*(\\d+)\\s+(\\d+)\\s+(\\d+)\\s.*$");

  /** The blocks {@code nbdinfo --map=CONTEXT} gives {@code flag}, the map covering the image. */
  private TreeSet<Long> blocksWith(String uri, String context, int flag) {
    String out = Tools.run("nbdinfo --map", "nbdinfo", "--map=" + context, uri);
    TreeSet<Long> blocks = new TreeSet<>();
    long end = 0;
    for (String line : out.split("\n")) {
      Matcher m = MAP_LINE.matcher(line);
      if (!m.matches()) {
        continue;
      }
      long offset = Long.parseLong(m.group(1));
      long length = Long.parseLong(m.group(2));
      assertThat(offset).as("extents are consecutive:\n" + out).isEqualTo(end);
      end += length;
      if ((Integer.parseInt(m.group(3)) & flag) != 0) {
        for (long b = offset / BLOCK; b < (offset + length + BLOCK - 1) / BLOCK; b++) {
          blocks.add(b);
        }
      }
    }
    assertThat(end).as("the map covers the image:\n" + out).isEqualTo(IMAGE_BYTES);
    return blocks;
  }

  private static TreeSet<Long> blocks(long... indexes) {
    TreeSet<Long> s = new TreeSet<>();
    for (long b : indexes) {
      s.add(b);
    }
    return s;
  }

  private static TreeSet<Long> range(long from, long to) {
    TreeSet<Long> s = new TreeSet<>();
    for (long b = from; b < to; b++) {
      s.add(b);
    }
    return s;
  }

  /** {@code cbtfs backup begin --json}: the export's URI, checked against the name scheme. */
  private String begin(String name, String... options) {
    List<String> args = Tools.list("backup", "begin", "--json");
    args.addAll(List.of(options));
    args.addAll(List.of(folder.image(IMAGE).toString(), "--name", name));
    Tools.Result r = Cbtfs.run(args.toArray(String[]::new));
    assertThat(r.exitCode()).as(r.output()).isZero();
    Matcher uri = Pattern.compile("\"uris\":\\[\"([^\"]+)\"").matcher(r.output());
    assertThat(uri.find()).as(r.output()).isTrue();
    assertThat(uri.group(1)).isEqualTo(uri(IMAGE + "@" + name));
    return uri.group(1);
  }

  private Tools.Result end(String name, String... options) {
    List<String> args = Tools.list("backup", "end");
    args.addAll(List.of(options));
    args.addAll(List.of(folder.image(IMAGE).toString(), "--name", name));
    return Cbtfs.run(args.toArray(String[]::new));
  }

  /** The generation {@code status --json} gives the cursor {@code cursor}; -1 if it has none. */
  private long cursorGeneration(String cursor) {
    Tools.Result r = Cbtfs.run("status", "--json", folder.image(IMAGE).toString());
    assertThat(r.exitCode()).as(r.output()).isZero();
    Matcher m =
        Pattern.compile("\"target\":\"" + Pattern.quote(cursor) + "\",\"generation\":(\\d+)")
            .matcher(r.output());
    return m.find() ? Long.parseLong(m.group(1)) : -1;
  }

  private byte[] copy(String uri, String file) throws IOException {
    Path out = tmp.resolve(file);
    Tools.run("nbdcopy", "nbdcopy", uri, out.toString());
    return Files.readAllBytes(out);
  }

  @Test
  void theExportIsTheDrainInstantItsBitmapTheDrainedBlocksAndEndMovesTheCursor() throws Exception {
    folder.mount("--nbd", "unix:" + socket);
    Path image = folder.image(IMAGE);
    Tools.pwrite(image, 10L * BLOCK, random(4 * BLOCK, 1)); // A
    Tools.pwrite(image, 100L * BLOCK, random(BLOCK, 2));
    byte[] aState = Files.readAllBytes(folder.backingFile(IMAGE));

    String backup = begin("nightly");
    Tools.pwrite(image, 11L * BLOCK + 100, random(2 * BLOCK, 3)); // B over part of A
    Tools.pwrite(image, 200L * BLOCK, random(BLOCK, 4)); // and where A had a hole
    byte[] bState = Files.readAllBytes(folder.backingFile(IMAGE));
    assertThat(Arrays.mismatch(bState, aState)).isNotEqualTo(-1);

    assertThat(Arrays.mismatch(copy(backup, "backup.raw"), aState))
        .as("the drain's instant")
        .isEqualTo(-1);
    Path converted = tmp.resolve("converted.raw");
    Tools.run(
        "qemu-img convert",
        "qemu-img",
        "convert",
        "-f",
        "raw",
        "-O",
        "raw",
        backup,
        "" + converted);
    assertThat(Arrays.mismatch(Files.readAllBytes(converted), aState)).isEqualTo(-1);
    assertThat(Arrays.mismatch(copy(uri(IMAGE), "live.raw"), bState))
        .as("the live export")
        .isEqualTo(-1);

    // a new cursor lacks every block; holes are the drain's, a block written since counts as data
    assertThat(blocksWith(backup, "qemu:dirty-bitmap:cbtfs", 1)).isEqualTo(range(0, 256));
    assertThat(blocksWith(backup, "qemu:dirty-bitmap:nightly", 1)).isEqualTo(range(0, 256));
    TreeSet<Long> data = range(0, 256);
    data.removeAll(blocksWith(backup, "base:allocation", 1));
    TreeSet<Long> expectedData = range(10, 14);
    expectedData.addAll(blocks(100, 200));
    assertThat(data).isEqualTo(expectedData);

    Tools.Result sync = Cbtfs.run("sync", image.toString(), "file:" + tmp.resolve("replica.raw"));
    assertThat(sync.exitCode()).as(sync.output()).isEqualTo(1);
    assertThat(sync.output().strip())
        .doesNotContain("\n")
        .contains("a pull backup of this image is open (cursor nbd:nightly)");

    Tools.Result ended = end("nightly");
    assertThat(ended.exitCode()).as(ended.output()).isZero();
    Matcher committed =
        Pattern.compile("committed nbd:nightly at generation (\\d+)").matcher(ended.output());
    assertThat(committed.find()).as(ended.output()).isTrue();
    long generation = Long.parseLong(committed.group(1));
    assertThat(cursorGeneration("nbd:nightly")).isEqualTo(generation);
    Tools.Result gone = Tools.exec(List.of("nbdinfo", backup), 60);
    assertThat(gone.exitCode()).as("the export is withdrawn: " + gone.output()).isNotZero();

    // the next backup lists only what was written since the drain; abort leaves the cursor
    String second = begin("nightly");
    TreeSet<Long> sinceDrain = blocks(11, 12, 13, 200);
    assertThat(blocksWith(second, "qemu:dirty-bitmap:cbtfs", 1)).isEqualTo(sinceDrain);
    assertThat(Arrays.mismatch(copy(second, "second.raw"), bState)).isEqualTo(-1);
    Tools.Result aborted = end("nightly", "--abort");
    assertThat(aborted.exitCode()).as(aborted.output()).isZero();
    assertThat(aborted.output()).contains("aborted");
    assertThat(cursorGeneration("nbd:nightly")).isEqualTo(generation);
    String third = begin("nightly");
    assertThat(blocksWith(third, "qemu:dirty-bitmap:cbtfs", 1)).isEqualTo(sinceDrain);
    assertThat(end("nightly").exitCode()).isZero();
    assertThat(cursorGeneration("nbd:nightly")).isGreaterThan(generation);
  }

  @Test
  void aFullFleeceFailsTheExportsReadsAndTheEndWhichCommitsNothing() throws Exception {
    folder.mount("--nbd", "unix:" + socket);
    Path image = folder.image(IMAGE);
    Tools.pwrite(image, 0, random(8 * BLOCK, 5));
    String backup = begin("small", "--fleece-limit", "64K"); // one block's old bytes
    Tools.pwrite(image, 2L * BLOCK, random(BLOCK, 6)); // copied
    Tools.pwrite(image, 5L * BLOCK, random(BLOCK, 7)); // the fleece is full: the view breaks
    byte[] written = Files.readAllBytes(folder.backingFile(IMAGE));
    assertThat(Arrays.copyOfRange(written, 5 * BLOCK, 6 * BLOCK)).isEqualTo(random(BLOCK, 7));

    Tools.Result read = Tools.exec(List.of("nbdcopy", backup, tmp.resolve("x.raw").toString()), 60);
    assertThat(read.exitCode()).as("no read of a broken view: " + read.output()).isNotZero();
    Tools.Result ended = end("small");
    assertThat(ended.exitCode()).as(ended.output()).isEqualTo(1);
    assertThat(ended.output().strip()).doesNotContain("\n").contains("broke, nothing committed");
    assertThat(cursorGeneration("nbd:small")).isEqualTo(-1);
  }
}
