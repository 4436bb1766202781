package io.cbtfs.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A server on a Unix socket, driven by a raw client that sends what a bad client would. */
class NbdSessionTest {
  private static final int IMAGE_BYTES = 3 << 20;

  @TempDir Path dir;
  private Path images;
  private Path socket;
  private byte[] content;
  private FileCatalog catalog;
  private NbdServer server;

  @BeforeEach
  void setUp() throws IOException {
    images = Files.createDirectories(dir.resolve("images"));
    content = new byte[IMAGE_BYTES];
    new Random(21).nextBytes(content);
    Files.write(images.resolve("disk.img"), content);
    Files.write(images.resolve("other.img"), new byte[4096]);
    socket = dir.resolve("nbd.sock");
    catalog = new FileCatalog(images);
  }

  @AfterEach
  void tearDown() throws IOException {
    if (server != null) {
      server.close();
    }
    catalog.close();
  }

  private void serve(boolean writable) throws IOException {
    server = NbdServer.start(List.of(NbdAddress.parse("unix:" + socket)), catalog, writable);
  }

  private byte[] read(TestClient c, long offset, int length) throws IOException {
    c.request(0, Nbd.CMD_READ, 7, offset, length, null);
    List<TestClient.Chunk> chunks = c.structuredReply();
    assertThat(TestClient.errorOf(chunks)).isZero();
    byte[] out = new byte[length];
    for (TestClient.Chunk chunk : chunks) {
      ByteBuffer p = ByteBuffer.wrap(chunk.payload());
      if (chunk.type() == Nbd.REPLY_TYPE_OFFSET_DATA) {
        long at = p.getLong();
        p.get(out, (int) (at - offset), p.remaining());
      }
    }
    return out;
  }

  @Test
  void readsWhatTheImageHolds() throws IOException {
    serve(false);
    try (TestClient c = new TestClient(socket).go("disk.img")) {
      assertThat(read(c, 0, IMAGE_BYTES)).isEqualTo(content);
      assertThat(read(c, 12345, 999)).isEqualTo(Arrays.copyOfRange(content, 12345, 12345 + 999));
    }
  }

  @Test
  void aWriteLandsAndIsTrackedAndTheDirtyBitmapShowsIt() throws IOException {
    serve(true);
    byte[] data = new byte[4096];
    Arrays.fill(data, (byte) 0x5a);
    try (TestClient c = new TestClient(socket).go("disk.img", MetaContexts.LIVE)) {
      c.request(Nbd.CMD_FLAG_FUA, Nbd.CMD_WRITE, 1, 70_000, data.length, data);
      assertThat(TestClient.errorOf(c.structuredReply())).isZero();
      assertThat(read(c, 70_000, 4096)).isEqualTo(data);
      c.request(0, Nbd.CMD_BLOCK_STATUS, 2, 0, IMAGE_BYTES, null);
      List<TestClient.Chunk> chunks = c.structuredReply();
      assertThat(chunks).hasSize(1);
      assertThat(extents(chunks.get(0)))
          .containsExactly(
              new Extent(65536, 0),
              new Extent(65536, Nbd.STATE_DIRTY),
              new Extent(IMAGE_BYTES - 131072, 0));
    }
    var tracking = catalog.store.loaded("disk.img").orElseThrow();
    assertThat(tracking.tracker().isDirty(1)).isTrue();
    assertThat(tracking.tracker().dirtyBlockCount()).isEqualTo(1);
    byte[] onDisk = Files.readAllBytes(images.resolve("disk.img"));
    assertThat(Arrays.copyOfRange(onDisk, 70_000, 74_096)).isEqualTo(data);
  }

  private static List<Extent> extents(TestClient.Chunk chunk) {
    ByteBuffer p = ByteBuffer.wrap(chunk.payload());
    p.getInt(); // context id
    List<Extent> out = new java.util.ArrayList<>();
    while (p.hasRemaining()) {
      out.add(new Extent(Integer.toUnsignedLong(p.getInt()), p.getInt()));
    }
    return out;
  }

  @Test
  void reqOneAnswersOneExtentPerContextWithinTheLength() throws IOException {
    serve(true);
    try (TestClient c =
        new TestClient(socket).go("disk.img", MetaContexts.BASE_ALLOCATION, MetaContexts.LIVE)) {
      c.request(0, Nbd.CMD_WRITE, 1, 3 * 65536, 10, new byte[10]);
      c.structuredReply();
      c.request(Nbd.CMD_FLAG_REQ_ONE, Nbd.CMD_BLOCK_STATUS, 2, 100, 5 * 65536, null);
      List<TestClient.Chunk> chunks = c.structuredReply();
      assertThat(chunks).hasSize(2);
      for (TestClient.Chunk chunk : chunks) {
        assertThat(extents(chunk)).hasSize(1);
        assertThat(extents(chunk).get(0).byteLength()).isPositive().isLessThanOrEqualTo(5 * 65536);
      }
      assertThat(extents(chunks.get(1))).containsExactly(new Extent(3 * 65536 - 100, 0));
      // without the flag: every extent of the range, the dirty block among them
      c.request(0, Nbd.CMD_BLOCK_STATUS, 3, 100, 5 * 65536, null);
      assertThat(extents(c.structuredReply().get(1)))
          .containsExactly(
              new Extent(3 * 65536 - 100, 0),
              new Extent(65536, Nbd.STATE_DIRTY),
              new Extent(65536 + 100, 0));
    }
  }

  @Test
  void listsExportsAndContextsAndRefusesUnknownOnes() throws IOException {
    serve(false);
    try (TestClient c = new TestClient(socket).hello()) {
      List<TestClient.OptionReply> list = c.option(Nbd.OPT_LIST, new byte[0]);
      assertThat(list).hasSize(3);
      assertThat(list.get(0).text()).endsWith("disk.img");
      assertThat(c.option(Nbd.OPT_INFO, TestClient.exportQuery("nope.img")).get(0).type())
          .isEqualTo(Nbd.REP_ERR_UNKNOWN);
      // meta contexts before structured replies: invalid
      assertThat(
              c.option(Nbd.OPT_LIST_META_CONTEXT, TestClient.metaQuery("disk.img")).get(0).type())
          .isEqualTo(Nbd.REP_ERR_INVALID);
      TestClient.expectAck(c.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]));
      List<TestClient.OptionReply> contexts =
          c.option(
              Nbd.OPT_LIST_META_CONTEXT, TestClient.metaQuery("disk.img", "qemu:", "x-other:y"));
      assertThat(contexts).hasSize(2);
      assertThat(new String(contexts.get(0).data(), 4, contexts.get(0).data().length - 4))
          .isEqualTo(MetaContexts.LIVE);
    }
  }

  @Test
  void unknownAndMalformedOptionsAreAnsweredAndHagglingGoesOn() throws IOException {
    serve(false);
    try (TestClient c = new TestClient(socket).hello()) {
      assertThat(c.option(99, new byte[] {1, 2, 3}).get(0).type()).isEqualTo(Nbd.REP_ERR_UNSUP);
      assertThat(c.option(Nbd.OPT_STARTTLS, new byte[0]).get(0).type())
          .isEqualTo(Nbd.REP_ERR_UNSUP);
      byte[] pastTheEnd = ByteBuffer.allocate(8).putInt(1000).putInt(0).array();
      assertThat(c.option(Nbd.OPT_GO, pastTheEnd).get(0).type()).isEqualTo(Nbd.REP_ERR_INVALID);
      byte[] notUtf8 =
          ByteBuffer.allocate(8)
              .putInt(2)
              .put((byte) 0xc3)
              .put((byte) 0x28)
              .putShort((short) 0)
              .array();
      assertThat(c.option(Nbd.OPT_GO, notUtf8).get(0).type()).isEqualTo(Nbd.REP_ERR_INVALID);
      TestClient.expectAck(c.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]));
      TestClient.expectAck(c.option(Nbd.OPT_GO, TestClient.exportQuery("disk.img")));
      assertThat(read(c, 0, 10)).isEqualTo(Arrays.copyOf(content, 10));
    }
  }

  @Test
  void anImageThatCannotBeOpenedIsAnErrorReplyAndHagglingGoesOn() throws IOException {
    ExportCatalog refusing =
        new ExportCatalog() {
          @Override
          public List<String> names() throws IOException {
            return catalog.names();
          }

          @Override
          public java.util.Optional<ExportedImage> open(String name, boolean writable)
              throws IOException {
            if (name.equals("other.img")) {
              throw new ExportIoException(ExportIoException.EPERM, "the mount is stopping", null);
            }
            return catalog.open(name, writable);
          }
        };
    server = NbdServer.start(List.of(NbdAddress.parse("unix:" + socket)), refusing, true);
    try (TestClient c = new TestClient(socket).hello()) {
      List<TestClient.OptionReply> refused =
          c.option(Nbd.OPT_GO, TestClient.exportQuery("other.img"));
      assertThat(refused).hasSize(1);
      assertThat(refused.get(0).type()).isEqualTo(Nbd.REP_ERR_POLICY);
      assertThat(refused.get(0).text()).contains("the mount is stopping");
      TestClient.expectAck(c.option(Nbd.OPT_STRUCTURED_REPLY, new byte[0]));
      TestClient.expectAck(c.option(Nbd.OPT_GO, TestClient.exportQuery("disk.img")));
      assertThat(read(c, 0, 10)).isEqualTo(Arrays.copyOf(content, 10));
    }
  }

  @Test
  void badRequestsGetErrorsAndTheSessionGoesOn() throws IOException {
    serve(false);
    try (TestClient c = new TestClient(socket).go("disk.img")) {
      c.request(0, Nbd.CMD_READ, 1, IMAGE_BYTES - 10, 20, null); // past the end
      assertThat(TestClient.errorOf(c.structuredReply())).isEqualTo(Nbd.EINVAL);
      c.request(0, Nbd.CMD_READ, 2, 0, 64L << 20, null); // over the largest payload
      assertThat(TestClient.errorOf(c.structuredReply())).isEqualTo(Nbd.EINVAL);
      c.request(0, Nbd.CMD_READ, 3, -4096, 4096, null); // an offset past 2^63
      assertThat(TestClient.errorOf(c.structuredReply())).isEqualTo(Nbd.EINVAL);
      c.request(0, Nbd.CMD_WRITE, 4, 0, 5, new byte[5]); // read-only: its payload is skipped
      assertThat(TestClient.errorOf(c.structuredReply())).isEqualTo(Nbd.EPERM);
      c.request(0, Nbd.CMD_BLOCK_STATUS, 5, 0, 4096, null); // no context selected
      assertThat(TestClient.errorOf(c.structuredReply())).isEqualTo(Nbd.EINVAL);
      c.request(0, 42, 6, 0, 1, null); // unknown command
      assertThat(TestClient.errorOf(c.structuredReply())).isEqualTo(Nbd.EINVAL);
      c.request(1 << 9, Nbd.CMD_READ, 7, 0, 1, null); // unknown flag
      assertThat(TestClient.errorOf(c.structuredReply())).isEqualTo(Nbd.EINVAL);
      assertThat(read(c, 0, 100)).isEqualTo(Arrays.copyOf(content, 100));
    }
  }

  @Test
  void aBrokenClientEndsOnlyItsOwnSessionAndReleasesItsImage() throws IOException {
    serve(true);
    try (TestClient good = new TestClient(socket).go("disk.img")) {
      try (TestClient badMagic = new TestClient(socket).hello()) {
        badMagic.send(ByteBuffer.allocate(16).putLong(0x1234).putInt(7).putInt(0).flip());
        assertThat(badMagic.closedByServer()).isTrue();
      }
      try (TestClient huge = new TestClient(socket).hello()) {
        huge.send(ByteBuffer.allocate(16).putLong(Nbd.IHAVEOPT).putInt(7).putInt(1 << 30).flip());
        assertThat(huge.closedByServer()).isTrue(); // refused before a byte of it is read
      }
      try (TestClient tooLong = new TestClient(socket).go("disk.img")) {
        tooLong.request(0, Nbd.CMD_WRITE, 1, 0, 64L << 20, null);
        assertThat(TestClient.errorOf(tooLong.structuredReply())).isEqualTo(Nbd.EINVAL);
        assertThat(tooLong.closedByServer()).isTrue();
      }
      TestClient halfway = new TestClient(socket).go("other.img");
      halfway.request(0, Nbd.CMD_WRITE, 1, 0, 4096, new byte[100]); // then hangs up
      halfway.close();
      awaitTrue(() -> server.sessionCount() == 1); // only the good one is left
      awaitTrue(() -> catalog.open.get() == 1);
      assertThat(read(good, 0, 4096)).isEqualTo(Arrays.copyOf(content, 4096));
    }
    awaitTrue(() -> server.sessionCount() == 0);
    assertThat(Files.readAllBytes(images.resolve("other.img"))).isEqualTo(new byte[4096]);
  }

  @Test
  void closingTheServerEndsEverySessionAndItsExport() throws IOException {
    serve(false);
    try (TestClient c = new TestClient(socket).go("disk.img")) {
      awaitTrue(() -> catalog.open.get() == 1);
      server.close();
      assertThat(server.sessionCount()).isZero();
      assertThat(catalog.open.get()).isZero();
      assertThat(c.closedByServer()).isTrue();
      assertThat(Files.exists(socket)).isFalse();
    }
  }

  @Test
  void anUnknownHostIsAnIoErrorNamingTheAddress() {
    assertThatThrownBy(
            () -> NbdServer.bind(List.of(NbdAddress.parse("nosuchhost.invalid:10809")), false))
        .isInstanceOf(IOException.class)
        .hasMessage("cannot listen for NBD on nosuchhost.invalid:10809: unknown host");
  }

  @Test
  void simpleRepliesWithoutStructuredOnes() throws IOException {
    serve(false);
    try (TestClient c = new TestClient(socket).hello()) {
      TestClient.expectAck(c.option(Nbd.OPT_GO, TestClient.exportQuery("")));
    } catch (IOException e) {
      assertThat(e).hasMessageContaining("option refused"); // two images: no default export
    }
    Files.delete(images.resolve("other.img"));
    try (TestClient c = new TestClient(socket).hello()) {
      TestClient.expectAck(c.option(Nbd.OPT_GO, TestClient.exportQuery(""))); // the only image
      c.request(0, Nbd.CMD_READ, 9, 2 * IMAGE_BYTES / 3, 3 << 19, null);
      ByteBuffer header = c.read(16);
      assertThat(header.getInt()).isEqualTo(Nbd.SIMPLE_REPLY_MAGIC);
      assertThat(header.getInt()).isEqualTo(Nbd.EINVAL);
      c.request(0, Nbd.CMD_READ, 10, 100, 3 << 19, null);
      header = c.read(16);
      assertThat(header.getInt()).isEqualTo(Nbd.SIMPLE_REPLY_MAGIC);
      assertThat(header.getInt()).isZero();
      assertThat(header.getLong()).isEqualTo(10);
      byte[] data = new byte[3 << 19];
      c.read(3 << 19).get(data);
      assertThat(data).isEqualTo(Arrays.copyOfRange(content, 100, 100 + (3 << 19)));
    }
  }

  /** Waits for a condition another thread makes true, at most 10 s. */
  private static void awaitTrue(BooleanSupplier condition) {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("condition within 10 s").isLessThan(deadline);
      java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
    }
  }
}
