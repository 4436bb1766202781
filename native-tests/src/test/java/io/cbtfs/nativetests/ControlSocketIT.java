package io.cbtfs.nativetests;

import static io.cbtfs.nativetests.Tools.random;
import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.cli.CbtfsCommand;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The control socket of a real daemon mount, driven by the cbtfs command: names of every byte value
 * sync and answer status, a name that looks like a request is only a name, a long target path
 * arrives whole, a user who may not use the socket is told so, and Ctrl-C of a sync stops the
 * mount's sync.
 */
class ControlSocketIT {
  @TempDir Path tmp;
  DaemonMount folder;

  @BeforeEach
  void folders() throws IOException {
    folder = DaemonMount.prepare(tmp);
    assertThat(System.getProperty("sun.jnu.encoding"))
        .as("file names are UTF-8 here (failsafe sets LC_ALL=C.UTF-8)")
        .isEqualTo("UTF-8");
  }

  @AfterEach
  void noMountLeft() throws IOException {
    folder.close();
  }

  /** The cbtfs command run in this JVM (the same code as the jar's, without a JVM start each). */
  private static Tools.Result inProcess(String... args) {
    StringWriter out = new StringWriter();
    var cli = CbtfsCommand.newCommandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(out));
    int code = cli.execute(args);
    return new Tools.Result(code, out.toString());
  }

  /**
   * Every character U+0001..U+00FF but '/' in names (so every byte value 1..127 as itself, and
   * 128..255 as UTF-8) and multi-byte UTF-8: each image syncs to the target asked for,
   * byte-identical, and its status comes from the mount. A name that is not UTF-8 (bytes 0x80 and
   * 0xff alone) is served neither by the mount nor by the socket: Java maps names through UTF-8.
   */
  @Test
  void everyNameTheMountServesSyncsAndAnswersStatus() throws IOException {
    List<String> names = new ArrayList<>();
    StringBuilder name = new StringBuilder("n");
    for (char c = 1; c <= 0xff; c++) {
      if (c != '/') {
        name.append(c);
      }
      if (name.length() == 9 || c == 0xff) { // eight values a name: 32 images, not 254 syncs
        names.add(name.append('m').toString());
        name = new StringBuilder("n");
      }
    }
    names.add("\u00e9t\u00e9 \u65e5\u672c \ud83d\udcbe.qcow2");
    for (int i = 0; i < names.size(); i++) {
      Files.write(folder.backingFile(names.get(i)), random(8192, i));
    }
    Tools.run(
        "a name that is not UTF-8",
        "bash",
        "-c",
        "head -c 8192 /dev/urandom > " + folder.backing + "/$'bad\\x80\\xff'");
    folder.mount();
    Path replicas = Files.createDirectory(tmp.resolve("replicas"));
    for (int i = 0; i < names.size(); i++) {
      String image = folder.image(names.get(i)).toString();
      Path replica = replicas.resolve(i + ".img");
      Tools.Result sync = inProcess("sync", "--json", image, "file:" + replica);
      assertThat(sync.exitCode()).as("sync of %s: %s", names.get(i), sync.output()).isZero();
      assertThat(sync.output()).contains("\"generation\":1", "\"full\":true");
      assertThat(Files.mismatch(folder.backingFile(names.get(i)), replica)).isEqualTo(-1L);
      Tools.Result status = inProcess("status", "--json", image);
      assertThat(status.exitCode()).as(status.output()).isZero();
      assertThat(status.output())
          .contains("\"tracking\":\"mounted\"", "\"generation\":1", "\"dirtyBlocks\":0");
    }
    // the jar itself, with a name of multi-byte UTF-8
    String multi = names.get(names.size() - 1);
    Tools.Result jar =
        Cbtfs.run("sync", folder.image(multi).toString(), "file:" + replicas.resolve("multi.img"));
    assertThat(jar.exitCode()).as(jar.output()).isZero();
    assertThat(Files.mismatch(folder.backingFile(multi), replicas.resolve("multi.img")))
        .isEqualTo(-1L);

    Tools.Result notUtf8 =
        Tools.exec(
            List.of(
                "bash",
                "-c",
                "exec \"$0\" -jar \"$1\" sync \"$2\"/$'bad\\x80\\xff' file:\"$3\"",
                Cbtfs.java(),
                Cbtfs.jar().toString(),
                folder.mnt.toString(),
                replicas.resolve("bad.img").toString()),
            120);
    assertThat(notUtf8.exitCode()).as(notUtf8.output()).isEqualTo(1);
    assertThat(notUtf8.output()).contains("no image named 'bad\ufffd\ufffd'");
    assertThat(replicas.resolve("bad.img")).doesNotExist();
  }

  /**
   * The name of the issue: before, the mount read it as a SYNC of image x to /NAME.img, full. Now
   * it syncs itself where the operator asked; no file appears at /NAME.img; image x is untouched. A
   * target path of about 4,000 bytes arrives whole too.
   */
  @Test
  void aNameThatLooksLikeARequestSyncsItselfWhereAsked() throws IOException {
    String elsewhere = "cbtfs-injection-" + UUID.randomUUID() + ".img";
    String name = "x\tfile:" + elsewhere + "\ttrue\nz";
    Files.write(folder.backingFile(name), random(1 << 20, 1));
    Files.write(folder.backingFile("x"), random(1 << 20, 2));
    folder.mount();
    Path replica = tmp.resolve("replica.img");
    try {
      Tools.Result sync = Cbtfs.run("sync", folder.image(name).toString(), "file:" + replica);
      assertThat(Path.of("/", elsewhere)).doesNotExist();
      assertThat(sync.exitCode()).as(sync.output()).isZero();
      assertThat(Files.mismatch(folder.backingFile(name), replica)).isEqualTo(-1L);
      Tools.Result status = Cbtfs.run("status", "--json", folder.image(name).toString());
      assertThat(status.exitCode()).as(status.output()).isZero();
      assertThat(status.output()).contains("\"generation\":1", "\"tracking\":\"mounted\"");
      Tools.Result x = Cbtfs.run("status", "--json", folder.image("x").toString());
      assertThat(x.output()).as("image x was never synced").contains("\"generation\":0");
    } finally {
      Files.deleteIfExists(Path.of("/", elsewhere));
    }

    Path deep = tmp.resolve("t");
    while (deep.toString().length() < 3900) {
      deep = deep.resolve("d".repeat(200));
    }
    Files.createDirectories(deep);
    Path far = deep.resolve("replica-\t\n.img");
    assertThat(far.toString().getBytes(StandardCharsets.UTF_8).length).isGreaterThan(3900);
    Tools.Result sync = Cbtfs.run("sync", folder.image("x").toString(), "file:" + far);
    assertThat(sync.exitCode()).as(sync.output()).isZero();
    assertThat(Files.mismatch(folder.backingFile("x"), far)).isEqualTo(-1L);
  }

  /** A user the socket's folder keeps out is told "permission denied", not "is it gone?". */
  @Test
  void aUserWhoMayNotUseTheSocketIsToldSo() throws IOException {
    Tools.require("setpriv");
    Files.write(folder.backingFile("vm.img"), random(1 << 16, 3));
    folder.mount();
    // the image's path names the mount (found in /proc/mounts); its socket is in folders that
    // only root may enter
    List<String> asNobody =
        new ArrayList<>(
            List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"));
    for (List<String> command :
        List.of(
            Cbtfs.command("status", folder.image("vm.img").toString()),
            Cbtfs.command(
                "sync", folder.image("vm.img").toString(), "file:/nonexistent/replica.img"))) {
      List<String> run = new ArrayList<>(asNobody);
      run.addAll(command);
      Tools.Result r = Tools.exec(run, 120);
      assertThat(r.exitCode()).as(r.output()).isEqualTo(1);
      assertThat(r.output())
          .contains("permission denied: cannot use the mount's control socket")
          .doesNotContain("is its process gone");
    }
  }

  /**
   * Ctrl-C (through a pseudo-terminal, as at a shell) of a cbtfs sync that the mount runs: the
   * client exits 130 once the mount stopped the sync; the replica is still the previous generation
   * byte for byte, the blocks are still dirty, the mount still serves, and the next sync completes.
   */
  @Test
  void ctrlCOfASyncStopsTheSyncInTheMount() throws Exception {
    Tools.require("script");
    int mib = 512; // long enough that Ctrl-C lands before the sync ends on a loaded machine
    Path image = folder.backingFile("vm.img");
    writeRandom(image, mib, 1);
    folder.mount();
    Path replica = tmp.resolve("replica.img");
    Tools.Result first = Cbtfs.run("sync", folder.image("vm.img").toString(), "file:" + replica);
    assertThat(first.exitCode()).as(first.output()).isZero();
    Path before = tmp.resolve("before.img");
    Files.copy(replica, before, StandardCopyOption.COPY_ATTRIBUTES);
    writeRandom(folder.image("vm.img"), mib, 2); // every block dirty

    String command =
        String.join(
            " ",
            Cbtfs.command("sync", folder.image("vm.img").toString(), "file:" + replica).stream()
                .map(a -> "'" + a + "'")
                .toList());
    Process client =
        new ProcessBuilder("script", "-q", "-e", "-c", command, "/dev/null")
            .redirectErrorStream(true)
            .start();
    ByteArrayOutputStream output = new ByteArrayOutputStream();
    InputStream in = client.getInputStream();
    OutputStream terminal = client.getOutputStream();
    // the progress line shows once the mount sends progress: the sync is running; then Ctrl-C
    waitFor(in, output, "ETA");
    terminal.write(3);
    terminal.flush();
    output.writeBytes(in.readAllBytes());
    assertThat(client.waitFor(120, TimeUnit.SECONDS)).isTrue();
    String said = output.toString(StandardCharsets.UTF_8);
    assertThat(client.exitValue()).as(said).isEqualTo(130);
    assertThat(said)
        .contains("interrupted: stopping the sync in the mount")
        .contains("the mount stopped the sync: sync cancelled")
        .contains("the target is as it was and the blocks stay dirty");

    assertThat(Files.mismatch(before, replica)).as("the replica is generation 1").isEqualTo(-1L);
    Tools.Result status = Cbtfs.run("status", "--json", folder.image("vm.img").toString());
    assertThat(status.output())
        .contains("\"generation\":1", "\"dirtyBlocks\":" + (mib << 20) / 65536);
    assertThat(firstBytes(folder.image("vm.img"), 1 << 16))
        .as("the mount still serves")
        .isEqualTo(firstBytes(image, 1 << 16));
    Tools.Result again =
        Cbtfs.run("sync", "--json", folder.image("vm.img").toString(), "file:" + replica);
    assertThat(again.exitCode()).as(again.output()).isZero();
    // 2 went to the cancelled sync: a number is never issued twice
    assertThat(again.output()).contains("\"generation\":3", "\"full\":false");
    assertThat(Files.mismatch(image, replica)).isEqualTo(-1L);
  }

  private static byte[] firstBytes(Path file, int n) throws IOException {
    try (InputStream in = Files.newInputStream(file)) {
      return in.readNBytes(n);
    }
  }

  /** Reads {@code in} into {@code output} until {@code text} appears. */
  private static void waitFor(InputStream in, ByteArrayOutputStream output, String text)
      throws IOException {
    byte[] buf = new byte[4096];
    while (!output.toString(StandardCharsets.UTF_8).contains(text)) {
      int n = in.read(buf);
      if (n < 0) {
        throw new AssertionError(
            "ended before '" + text + "': " + output.toString(StandardCharsets.UTF_8));
      }
      output.write(buf, 0, n);
    }
  }

  private static void writeRandom(Path file, int mib, long seed) throws IOException {
    Random rnd = new Random(seed);
    byte[] chunk = new byte[1 << 20];
    try (FileChannel ch =
        FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      for (int i = 0; i < mib; i++) {
        rnd.nextBytes(chunk);
        ByteBuffer b = ByteBuffer.wrap(chunk);
        while (b.hasRemaining()) {
          ch.write(b, (long) i * chunk.length + b.position());
        }
      }
    }
  }
}
