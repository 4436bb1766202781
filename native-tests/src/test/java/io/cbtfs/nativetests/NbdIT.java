package io.cbtfs.nativetests;

import static io.cbtfs.nativetests.Tools.random;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
 * Issue #21, the NBD export, with real clients: a daemon mount with {@code --nbd}, blocks written
 * through the mount; {@code nbdinfo --map} of {@code qemu:dirty-bitmap:cbtfs} lists exactly the
 * dirty blocks {@code status --map --json} counts (one block per cell), {@code base:allocation}
 * exactly the sparse image's data; {@code qemu-img compare}/{@code convert} and {@code nbdcopy}
 * read it byte for byte; after a sync the bitmap is empty. A writable export's writes (qemu-io) are
 * tracked and synced; a read-only one refuses them; bad clients leave the mount and other clients
 * alone.
 */
class NbdIT {
  private static final int BLOCK = 64 << 10;
  private static final int IMAGE_BYTES = 64 << 20; // 1024 blocks: status --map has a cell each
  private static final String IMAGE = "vm.img";

  @TempDir Path tmp;
  DaemonMount folder;
  Path socket;

  @BeforeEach
  void prepare() throws IOException {
    for (String tool : List.of("nbdinfo", "nbdcopy", "qemu-img", "qemu-io")) {
      Tools.require(tool);
    }
    folder = DaemonMount.prepare(tmp);
    socket = tmp.resolve("nbd.sock");
    Path image = folder.backingFile(IMAGE);
    Tools.sparse(image, IMAGE_BYTES);
    Tools.pwrite(image, 200L * BLOCK, random(4 * BLOCK, 1)); // data before the mount: not dirty
  }

  @AfterEach
  void unmount() throws IOException {
    if (folder != null) {
      folder.close();
    }
  }

  private String uri() {
    return "nbd+unix:///" + IMAGE + "?socket=" + socket;
  }

  /** One line of {@code nbdinfo --map}: offset, length, flags. */
  private record Extent(long offset, long length, int flags) {}

  private static final Pattern MAP_LINE = Pattern.compile("^\\s*(\\d+)\\s+(\\d+)\\s+(\\d+)\\s.*$");

  private List<Extent> map(String context) {
    String out = Tools.run("nbdinfo --map", "nbdinfo", "--map=" + context, uri());
    List<Extent> extents = new ArrayList<>();
    for (String line : out.split("\n")) {
      Matcher m = MAP_LINE.matcher(line);
      if (m.matches()) {
        extents.add(
            new Extent(
                Long.parseLong(m.group(1)),
                Long.parseLong(m.group(2)),
                Integer.parseInt(m.group(3))));
      }
    }
    long end = 0;
    for (Extent e : extents) {
      assertThat(e.offset()).as("extents are consecutive").isEqualTo(end);
      end += e.length();
    }
    assertThat(end).as("the map covers the image:\n" + out).isEqualTo(IMAGE_BYTES);
    return extents;
  }

  /** The blocks of the extents with {@code flag} set. */
  private static TreeSet<Long> blocksWith(List<Extent> extents, int flag) {
    TreeSet<Long> blocks = new TreeSet<>();
    for (Extent e : extents) {
      if ((e.flags() & flag) != 0) {
        assertThat(e.offset() % BLOCK).isZero();
        for (long b = e.offset() / BLOCK; b < (e.offset() + e.length() + BLOCK - 1) / BLOCK; b++) {
          blocks.add(b);
        }
      }
    }
    return blocks;
  }

  /** The dirty blocks {@code status --map --json} counts, one block per cell. */
  private TreeSet<Long> statusDirtyBlocks(String... target) {
    return statusDirtyBlocks(folder.image(IMAGE), target);
  }

  /**
   * {@link #statusDirtyBlocks(String...)} of {@code image} (under the mount, or the backing file).
   */
  private TreeSet<Long> statusDirtyBlocks(Path image, String... target) {
    List<String> args = Tools.list("status", "--map", "--json");
    args.addAll(List.of(target));
    args.add(image.toString());
    Tools.Result r = Cbtfs.run(args.toArray(String[]::new));
    assertThat(r.exitCode()).as(r.output()).isZero();
    assertThat(r.output()).contains("\"blocksPerCell\":1");
    Matcher cells = Pattern.compile("\"cellDirtyBlocks\":\\[([0-9,]*)\\]").matcher(r.output());
    assertThat(cells.find()).as(r.output()).isTrue();
    String[] counts = cells.group(1).split(",");
    assertThat(counts).hasSize(IMAGE_BYTES / BLOCK);
    TreeSet<Long> dirty = new TreeSet<>();
    for (int i = 0; i < counts.length; i++) {
      if (!counts[i].equals("0")) {
        dirty.add((long) i);
      }
    }
    return dirty;
  }

  private static TreeSet<Long> range(long from, long to) {
    TreeSet<Long> s = new TreeSet<>();
    for (long b = from; b < to; b++) {
      s.add(b);
    }
    return s;
  }

  @Test
  void theDirtyBitmapAndTheHolesAreWhatCbtfsKnowsAndEveryClientReadsTheImage() throws Exception {
    folder.mount("--nbd", "unix:" + socket);
    Path image = folder.image(IMAGE);
    Tools.pwrite(image, 10L * BLOCK, random(3 * BLOCK, 2));
    Tools.pwrite(image, 500L * BLOCK + 100, random(10, 3));
    Tools.pwrite(image, 1023L * BLOCK, random(BLOCK, 4));

    TreeSet<Long> written = range(10, 13);
    written.add(500L);
    written.add(1023L);
    List<Extent> dirtyMap = map("qemu:dirty-bitmap:cbtfs");
    assertThat(blocksWith(dirtyMap, 1)).isEqualTo(written).isEqualTo(statusDirtyBlocks());

    // base:allocation: data exactly where something was written (file-system blocks of 4 KiB)
    List<Extent> allocation = map("base:allocation");
    List<long[]> data = new ArrayList<>();
    for (Extent e : allocation) {
      assertThat(e.flags()).isIn(0, 3); // data, or hole and zero
      if (e.flags() == 0) {
        data.add(new long[] {e.offset(), e.offset() + e.length()});
      }
    }
    assertThat(data)
        .containsExactly(
            new long[] {10L * BLOCK, 13L * BLOCK},
            new long[] {200L * BLOCK, 204L * BLOCK},
            new long[] {500L * BLOCK, 500L * BLOCK + 4096},
            new long[] {1023L * BLOCK, IMAGE_BYTES});

    byte[] expected = Files.readAllBytes(folder.backingFile(IMAGE));
    Tools.Result compare =
        Tools.exec(
            List.of("qemu-img", "compare", "-f", "raw", "-F", "raw", uri(), image.toString()), 120);
    assertThat(compare.exitCode()).as(compare.output()).isZero();
    assertThat(compare.output()).contains("Images are identical");
    Path converted = tmp.resolve("converted.raw");
    Tools.run(
        "qemu-img convert",
        "qemu-img",
        "convert",
        "-f",
        "raw",
        "-O",
        "raw",
        uri(),
        converted.toString());
    assertThat(Files.readAllBytes(converted)).isEqualTo(expected);
    Path copied = tmp.resolve("copied.raw");
    Tools.run("nbdcopy", "nbdcopy", uri(), copied.toString());
    assertThat(Files.readAllBytes(copied)).isEqualTo(expected);
    assertThat(statusDirtyBlocks()).as("a pull clears no bit").isEqualTo(written);

    // after a sync the live set is empty; the target's own bitmap follows its cursor
    Path replica = tmp.resolve("replica.raw");
    String target = "file:" + replica;
    Tools.Result sync = Cbtfs.run("sync", image.toString(), target);
    assertThat(sync.exitCode()).as(sync.output()).isZero();
    assertThat(blocksWith(map("qemu:dirty-bitmap:cbtfs"), 1)).isEmpty();
    String targetContext = "qemu:dirty-bitmap:" + target;
    assertThat(Tools.run("nbdinfo", "nbdinfo", uri())).contains(targetContext);
    assertThat(blocksWith(map(targetContext), 1)).isEmpty();
    Tools.pwrite(image, 77L * BLOCK, random(100, 5));
    assertThat(blocksWith(map("qemu:dirty-bitmap:cbtfs"), 1)).containsExactly(77L);
    assertThat(blocksWith(map(targetContext), 1))
        .containsExactly(77L)
        .isEqualTo(statusDirtyBlocks("--target", target));
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void writesOverAWritableExportAreTrackedAndSyncedAndAReadOnlyOneRefusesThem() throws Exception {
    int port = freePort();
    folder.mount("--nbd", "unix:" + socket, "--nbd", String.valueOf(port), "--nbd-writable");
    Path image = folder.image(IMAGE);
    Path replica = tmp.resolve("replica.raw");
    Tools.Result first = Cbtfs.run("sync", image.toString(), "file:" + replica);
    assertThat(first.exitCode()).as(first.output()).isZero();

    String tcp = "nbd://127.0.0.1:" + port + "/" + IMAGE;
    Tools.run(
        "qemu-io write",
        "qemu-io",
        "-f",
        "raw",
        "-c",
        "write -P 0x61 " + (300L * BLOCK + 512) + " 70000",
        "-c",
        "flush",
        tcp);
    Tools.run(
        "qemu-io discard",
        "qemu-io",
        "-f",
        "raw",
        "-c",
        "discard " + (200L * BLOCK) + " " + BLOCK,
        uri());
    assertThat(statusDirtyBlocks()).isEqualTo(new TreeSet<>(List.of(200L, 300L, 301L)));
    assertThat(blocksWith(map("qemu:dirty-bitmap:cbtfs"), 1)).containsExactly(200L, 300L, 301L);

    Tools.Result sync = Cbtfs.run("sync", "--json", image.toString(), "file:" + replica);
    assertThat(sync.exitCode()).as(sync.output()).isZero();
    assertThat(sync.output()).contains("\"blocks\":3");
    byte[] replicaBytes = Files.readAllBytes(replica);
    assertThat(replicaBytes).isEqualTo(Files.readAllBytes(folder.backingFile(IMAGE)));
    byte[] pattern = new byte[70000];
    Arrays.fill(pattern, (byte) 0x61);
    assertThat(Arrays.copyOfRange(replicaBytes, 300 * BLOCK + 512, 300 * BLOCK + 512 + 70000))
        .isEqualTo(pattern);
    assertThat(Arrays.copyOfRange(replicaBytes, 200 * BLOCK, 201 * BLOCK))
        .isEqualTo(new byte[BLOCK]);

    folder.close();
    folder.mount("--nbd", "unix:" + socket); // read-only by default
    Tools.Result refused =
        Tools.exec(List.of("qemu-io", "-f", "raw", "-c", "write -P 0x62 0 4096", uri()), 60);
    assertThat(refused.exitCode()).as(refused.output()).isNotZero();
    assertThat(statusDirtyBlocks()).isEmpty();
  }

  @Test
  void badClientsAreDroppedAndTheMountAndOtherClientsGoOn() throws Exception {
    folder.mount("--nbd", "unix:" + socket);
    Path image = folder.image(IMAGE);
    try (SocketChannel garbage = SocketChannel.open(UnixDomainSocketAddress.of(socket));
        SocketChannel halfway = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      garbage.write(ByteBuffer.wrap(random(4096, 6)));
      assertThat(garbage.read(ByteBuffer.allocate(1 << 16))).isPositive(); // the greeting
      // an option that announces 1 GiB: refused without reading it
      halfway.write(
          ByteBuffer.allocate(20)
              .putInt(3)
              .putLong(0x49484156454F5054L)
              .putInt(7)
              .putInt(1 << 30)
              .flip());
      ByteBuffer sink = ByteBuffer.allocate(1 << 16);
      while (halfway.read(sink.clear()) >= 0) {
        // read until the server hangs up
      }
    }
    Tools.pwrite(image, 5L * BLOCK, random(10, 7));
    assertThat(blocksWith(map("qemu:dirty-bitmap:cbtfs"), 1)).containsExactly(5L);
    Tools.Result compare =
        Tools.exec(
            List.of("qemu-img", "compare", "-f", "raw", "-F", "raw", uri(), image.toString()), 120);
    assertThat(compare.exitCode()).as(compare.output()).isZero();
  }

  /** A client that finished the handshake (NBD_OPT_GO) and now sits in transmission. */
  private SocketChannel connected() throws IOException {
    SocketChannel c = SocketChannel.open(UnixDomainSocketAddress.of(socket));
    readFully(c, 18); // greeting
    byte[] name = IMAGE.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    c.write(
        ByteBuffer.allocate(4 + 16 + 6 + name.length)
            .putInt(3)
            .putLong(0x49484156454F5054L)
            .putInt(7) // NBD_OPT_GO
            .putInt(6 + name.length)
            .putInt(name.length)
            .put(name)
            .putShort((short) 0)
            .flip());
    while (true) {
      ByteBuffer header = readFully(c, 20);
      header.getLong();
      header.getInt();
      int type = header.getInt();
      readFully(c, header.getInt());
      assertThat(type).as("GO answered").isPositive();
      if (type == 1) { // NBD_REP_ACK
        return c;
      }
    }
  }

  private static ByteBuffer readFully(SocketChannel c, int n) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    while (b.hasRemaining()) {
      if (c.read(b) < 0) {
        throw new java.io.EOFException("closed by the server");
      }
    }
    return b.flip();
  }

  private static boolean endedByServer(SocketChannel c) throws IOException {
    try {
      return c.read(ByteBuffer.allocate(1)) < 0;
    } catch (IOException e) {
      return true;
    }
  }

  @Test
  void unmountAndSigtermEndTheNbdSessionsFirstAndSaveTheTracking() throws Exception {
    folder.mount("--nbd", "unix:" + socket);
    Tools.pwrite(folder.image(IMAGE), 9L * BLOCK, random(10, 8));
    try (SocketChannel client = connected()) {
      Tools.Result unmount = Cbtfs.run("unmount", folder.mnt.toString());
      assertThat(unmount.exitCode()).as(unmount.output()).isZero();
      assertThat(endedByServer(client)).isTrue();
      assertThat(socket).doesNotExist();
    }
    assertThat(statusDirtyBlocks(folder.backingFile(IMAGE))).containsExactly(9L); // saved clean

    ProcessHandle daemon = folder.mount("--nbd", "unix:" + socket);
    try (SocketChannel client = connected()) {
      long start = System.nanoTime();
      daemon.destroy(); // SIGTERM: the NBD handles are closed, not waited for as a guest's
      daemon.onExit().get(60, java.util.concurrent.TimeUnit.SECONDS);
      assertThat((System.nanoTime() - start) / 1_000_000_000L).isLessThan(20);
      assertThat(endedByServer(client)).isTrue();
    }
    assertThat(statusDirtyBlocks(folder.backingFile(IMAGE))).containsExactly(9L);
  }

  @Test
  void anAddressThatCannotBeBoundFailsTheMountBeforeItMounts() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      Tools.Result r =
          Cbtfs.run(
              "mount",
              "--daemon",
              "--nbd",
              String.valueOf(taken.getLocalPort()),
              folder.backing.toString(),
              folder.mnt.toString());
      assertThat(r.exitCode()).as(r.output()).isEqualTo(1);
      assertThat(r.output())
          .contains("cannot listen for NBD on 127.0.0.1:" + taken.getLocalPort())
          .doesNotContain("mounted");
    }
    assertThat(io.cbtfs.fs.mount.ProcMounts.isMounted(folder.mnt)).isFalse();
  }
}
