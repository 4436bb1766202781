package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cbtfs gc archive:DIR --keep N} on archives made by real syncs through a mount: the kept
 * generations restore as before, a read-only mount of the archive reads right across the gc, and a
 * gc killed (SIGKILL) in the middle of its fold leaves every listed generation restorable.
 */
class ArchiveGcIT {
  private static final Pattern GENERATION = Pattern.compile("generation (\\d+)");

  @TempDir Path tmp;
  DaemonMount folder;

  @AfterEach
  void tearDown() throws IOException {
    if (folder != null) {
      folder.close();
    }
  }

  /** A mounted folder with {@code name}, {@code bytes} of random data with a zero region. */
  void mountWith(String name, int bytes) throws IOException {
    folder = DaemonMount.prepare(tmp);
    byte[] image = Tools.random(bytes, 1);
    java.util.Arrays.fill(image, bytes / 4, bytes / 4 + (4 << 20), (byte) 0);
    Files.write(folder.backingFile(name), image);
    folder.mount();
  }

  static Tools.Result ok(String... args) {
    Tools.Result r = Cbtfs.run(args);
    assertThat(r.exitCode()).as(String.join(" ", args) + ":\n" + r.output()).isZero();
    return r;
  }

  /** Writes through the mount, then syncs; returns the generation and a copy of the image. */
  long sync(String name, String archive) {
    Tools.Result r = ok("sync", folder.image(name).toString(), archive);
    Matcher m = GENERATION.matcher(r.output());
    assertThat(m.find()).as(r.output()).isTrue();
    return Long.parseLong(m.group(1));
  }

  void writeRandom(String name, Random rnd, int writes) throws IOException {
    try (FileChannel ch = FileChannel.open(folder.image(name), StandardOpenOption.WRITE)) {
      long size = ch.size();
      for (int w = 0; w < writes; w++) {
        byte[] data = new byte[1 + rnd.nextInt(300_000)];
        rnd.nextBytes(data);
        ch.write(ByteBuffer.wrap(data), rnd.nextLong(size - data.length));
      }
      ch.write(ByteBuffer.wrap(new byte[1 << 20]), size / 2); // zeros over data
    }
  }

  Path restore(String archive, long generation, String tag) {
    Path out = tmp.resolve(tag + "-" + generation + ".img");
    ok("restore", archive, "--generation", Long.toString(generation), out.toString());
    return out;
  }

  List<Long> listed(String archive) {
    List<Long> out = new ArrayList<>();
    Matcher m = GENERATION.matcher(ok("restore", "--list", archive).output());
    while (m.find()) {
      out.add(Long.parseLong(m.group(1)));
    }
    return out;
  }

  static byte[] readAll(Path file) throws IOException {
    return Files.readAllBytes(file);
  }

  @Test
  void theKeptGenerationsRestoreAsBeforeAndAMountedViewReadsRightAcrossTheGc() throws Exception {
    mountWith("vm1.raw", 32 << 20);
    String archive = "archive:" + tmp.resolve("vm1.archive");
    Random rnd = new Random(2);
    List<Long> gens = new ArrayList<>();
    List<Path> copies = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      if (i > 0) {
        writeRandom("vm1.raw", rnd, 4);
      }
      gens.add(sync("vm1.raw", archive));
      Path copy = tmp.resolve("copy-" + i);
      Files.copy(folder.backingFile("vm1.raw"), copy);
      copies.add(copy);
    }
    List<Path> before = new ArrayList<>();
    for (long g : gens) {
      before.add(restore(archive, g, "before"));
    }
    try (ReadOnlyMountProcess ro =
        ReadOnlyMountProcess.start(tmp.resolve("ro"), java.util.Map.of(), archive)) {
      Path opened = ro.mnt.resolve("vm1@" + gens.get(1)); // read before the gc: opened
      assertThat(Files.mismatch(opened, copies.get(1))).isEqualTo(-1L);

      Tools.Result gc = ok("gc", archive, "--keep", "2");
      assertThat(gc.output())
          .contains("3 generations removed")
          .contains("generation " + gens.get(3) + " folded into a full delta");

      assertThat(listed(archive)).containsExactly(gens.get(3), gens.get(4));
      for (int i = 3; i < 5; i++) {
        Path after = restore(archive, gens.get(i), "after");
        Tools.run("cmp", "cmp", after.toString(), before.get(i).toString());
      }
      // the mount: what it opened still reads right, the folded generation reads as before,
      // a removed generation it never opened fails with EIO and a log line naming it
      assertThat(Files.mismatch(opened, copies.get(1))).isEqualTo(-1L);
      assertThat(Files.mismatch(ro.mnt.resolve("vm1@" + gens.get(3)), copies.get(3)))
          .isEqualTo(-1L);
      assertThat(Files.mismatch(ro.mnt.resolve("vm1"), copies.get(4))).isEqualTo(-1L);
      Path neverOpened = ro.mnt.resolve("vm1@" + gens.get(0));
      assertThatThrownBy(() -> readAll(neverOpened))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("Input/output error");
      ro.awaitOutput("has no generation " + gens.get(0));
    }
  }

  @Test
  void aGcKilledInTheMiddleOfItsFoldLeavesEveryGenerationRestorable() throws Exception {
    mountWith("big.raw", 128 << 20); // random: the fold writes ~128 MiB, killed long before
    Path dir = tmp.resolve("big.archive");
    String archive = "archive:" + dir;
    long first = sync("big.raw", archive);
    Path firstCopy = tmp.resolve("copy-first");
    Files.copy(folder.backingFile("big.raw"), firstCopy);
    writeRandom("big.raw", new Random(3), 8);
    long second = sync("big.raw", archive);
    Path secondCopy = tmp.resolve("copy-second");
    Files.copy(folder.backingFile("big.raw"), secondCopy);

    Process gc;
    try (WatchService watch = FileSystems.getDefault().newWatchService()) {
      dir.register(watch, StandardWatchEventKinds.ENTRY_CREATE);
      gc =
          new ProcessBuilder(Cbtfs.command("gc", archive, "--keep", "1"))
              .redirectErrorStream(true)
              .redirectOutput(tmp.resolve("gc.out").toFile())
              .start();
      awaitCreated(watch, ".gc-fold.cbtd");
      gc.destroyForcibly(); // SIGKILL
      assertThat(gc.waitFor(60, TimeUnit.SECONDS)).isTrue();
    }
    assertThat(dir.resolve(".gc-fold.cbtd"))
        .as("killed while folding: %s", Files.readString(tmp.resolve("gc.out")))
        .exists();
    assertThat(listed(archive)).containsExactly(first, second);
    Tools.run("cmp", "cmp", restore(archive, first, "killed").toString(), firstCopy.toString());
    Tools.run("cmp", "cmp", restore(archive, second, "killed").toString(), secondCopy.toString());

    assertThat(ok("gc", archive, "--keep", "1").output()).contains("1 generations removed");
    assertThat(dir.resolve(".gc-fold.cbtd")).doesNotExist();
    assertThat(listed(archive)).containsExactly(second);
    Tools.run("cmp", "cmp", restore(archive, second, "done").toString(), secondCopy.toString());
  }

  /**
   * An archive folder whose name is not UTF-8 (byte 0xff), named on a real command line: the JVM
   * reads that byte as U+FFFD, the name of another folder, and gc says it cannot name the path (it
   * said the folder "holds no archive").
   */
  @Test
  void anArchiveWhoseNameIsNotUtf8IsSaidToBeUnreadable() throws Exception {
    Path image = tmp.resolve("disk.img");
    Files.write(image, Tools.random(1 << 20, 4));
    Path made = tmp.resolve("made.archive");
    ok("sync", image.toString(), "archive:" + made);
    Tools.run(
        "rename",
        "bash",
        "-c",
        "mv \"$0\" \"$1\"/$'bad\\xff.archive'",
        made.toString(),
        tmp.toString());
    Tools.Result gc =
        Tools.exec(
            List.of(
                "bash",
                "-c",
                "exec \"$0\" -jar \"$1\" gc archive:\"$2\"/$'bad\\xff.archive' --keep 1",
                Cbtfs.java(),
                Cbtfs.jar().toString(),
                tmp.toString()),
            120);
    assertThat(gc.exitCode()).as(gc.output()).isEqualTo(2);
    assertThat(gc.output().strip())
        .contains("holds bytes that are not valid", "cannot name that path")
        .doesNotContain("holds no archive")
        .doesNotContain("\n");
  }

  /** Blocks (at most 120 s) until {@code name} is created in the watched folder. */
  static void awaitCreated(WatchService watch, String name) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (true) {
      long left = deadline - System.nanoTime();
      assertThat(left).as("waiting for %s", name).isPositive();
      WatchKey key = watch.poll(left, TimeUnit.NANOSECONDS);
      if (key == null) {
        continue;
      }
      for (WatchEvent<?> e : key.pollEvents()) {
        if (name.equals(String.valueOf(e.context()))) {
          return;
        }
      }
      key.reset();
    }
  }
}
