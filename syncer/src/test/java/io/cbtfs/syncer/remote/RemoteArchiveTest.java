package io.cbtfs.syncer.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.CorruptDeltaException;
import io.cbtfs.syncer.DeltaIndex;
import io.cbtfs.syncer.PieceCache;
import io.cbtfs.syncer.RecordKind;
import io.cbtfs.syncer.StoredImage;
import io.cbtfs.syncer.SyncFixture;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.local.ArchiveGc;
import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A receiver's archive read over read sessions ({@code cbtfs://…?archive}): what {@link
 * RemoteArchive} serves is what the local archive serves, checked on the reader's side; the
 * receiver serves nothing but the archive's own files, whatever a hostile reader asks.
 */
@Timeout(120)
class RemoteArchiveTest {
  private static final int IMAGE_BYTES = 2 << 20;
  @TempDir Path tmp;
  @RegisterExtension final LoopbackReceiver receiver = new LoopbackReceiver();
  Path root;
  SyncFixture fx;
  final Syncer syncer = new Syncer(256 << 10, 2);

  /** The generations synced, and the image as it was at each. */
  final List<Long> generations = new ArrayList<>();

  final List<byte[]> images = new ArrayList<>();

  @BeforeEach
  void start() throws IOException {
    root = receiver.root();
    fx = new SyncFixture(Files.createDirectory(tmp.resolve("src")), IMAGE_BYTES, 5);
    Random rnd = new Random(6);
    for (int step = 0; step < 3; step++) {
      if (step > 0) {
        fx.write(rnd.nextInt(IMAGE_BYTES - 300_000), SyncFixture.random(200_000, step));
        fx.write(1 << 20, new byte[70_000]); // zeros over data
      }
      sync();
    }
  }

  void sync() throws IOException {
    try (RemoteTarget t = RemoteTarget.parse(uri(receiver.port(), "&archive"))) {
      generations.add(syncer.sync(fx.source(), t, false, SyncProgress.NONE).generation());
    }
    images.add(Files.readAllBytes(fx.image));
  }

  @AfterEach
  void stop() throws IOException {
    receiver.close();
    fx.close();
  }

  String uri(int port, String extra) {
    return receiver.uri(port, "vm1") + extra;
  }

  RemoteArchive remote() throws IOException {
    return RemoteArchive.open(uri(receiver.port(), "&archive"));
  }

  static byte[] readAll(StoredImage image) throws IOException {
    byte[] all = new byte[(int) image.imageSize()];
    for (int at = 0; at < all.length; at += 100_000) {
      byte[] part = new byte[Math.min(100_000, all.length - at)];
      image.read(at, part, part.length);
      System.arraycopy(part, 0, all, at, part.length);
    }
    return all;
  }

  @Test
  void everyGenerationReadsAndRestoresAsTheReceiversArchiveHoldsIt() throws Exception {
    ArchiveTarget local = new ArchiveTarget(root.resolve("vm1.archive"));
    try (RemoteArchive remote = remote()) {
      assertThat(remote.generations()) // the times to the millisecond, as the LIST has them
          .isEqualTo(
              local.generations().stream()
                  .map(
                      g ->
                          new Restorable.Generation(
                              g.generation(),
                              g.full(),
                              g.imageSize(),
                              g.created().truncatedTo(java.time.temporal.ChronoUnit.MILLIS),
                              g.storedBytes()))
                  .toList());
      assertThat(remote.generations().stream().map(Restorable.Generation::generation))
          .isEqualTo(generations);
      assertThat(remote.state()).isEqualTo(local.state());
      PieceCache cache = new PieceCache(1 << 20);
      for (int i = 0; i < generations.size(); i++) {
        try (StoredImage image = remote.open(generations.get(i), cache)) {
          assertThat(readAll(image))
              .as("generation %d", generations.get(i))
              .isEqualTo(images.get(i));
        }
        Path out = tmp.resolve("restored-" + i);
        remote.restore(generations.get(i), out, Restorable.RestoreProgress.NONE);
        assertThat(Files.readAllBytes(out)).isEqualTo(images.get(i));
      }
      // many readers at once share the pool of sessions
      ExecutorService pool = Executors.newFixedThreadPool(12);
      try (StoredImage newest = remote.open(generations.get(2), new PieceCache(0));
          StoredImage oldest = remote.open(generations.get(0), new PieceCache(0))) {
        List<Future<Boolean>> reads = new ArrayList<>();
        for (int r = 0; r < 48; r++) {
          int at = new Random(r).nextInt(IMAGE_BYTES - 70_000);
          StoredImage image = r % 2 == 0 ? newest : oldest;
          byte[] expected = images.get(r % 2 == 0 ? 2 : 0);
          reads.add(
              pool.submit(
                  () -> {
                    byte[] got = new byte[70_000];
                    image.read(at, got, got.length);
                    return java.util.Arrays.equals(got, 0, got.length, expected, at, at + 70_000);
                  }));
        }
        for (Future<Boolean> f : reads) {
          assertThat(f.get()).isTrue();
        }
      } finally {
        pool.shutdownNow();
      }
    }
    assertThat(receiver.accepted())
        .as("sessions: the 3 syncs' and at most the pool's")
        .isLessThanOrEqualTo(3 + RemoteArchiveFiles.POOL);
  }

  @Test
  void aDamagedRecordFailsTheReadsOfItsRangeAndNamesTheObject() throws IOException {
    Path delta = root.resolve("vm1.archive").resolve(ArchiveTarget.fileName(generations.get(1)));
    DeltaIndex.Entry record;
    try (FileChannel ch = FileChannel.open(delta)) {
      record =
          DeltaIndex.of(ch, delta.toString()).entries().stream()
              .filter(e -> e.kind() != RecordKind.ZERO)
              .findFirst()
              .orElseThrow();
    }
    try (RandomAccessFile f = new RandomAccessFile(delta.toFile(), "rw")) {
      long at = record.payloadAt() + record.payloadLength() / 2;
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x40);
    }
    try (RemoteArchive remote = remote();
        StoredImage image = remote.open(generations.get(1), new PieceCache(0))) {
      byte[] into = new byte[4096];
      assertThatThrownBy(() -> image.read(record.byteOffset(), into, into.length))
          .isInstanceOf(CorruptDeltaException.class)
          .hasMessageContaining(
              "cbtfs://127.0.0.1:"
                  + receiver.port()
                  + "/vm1.archive/"
                  + ArchiveTarget.fileName(generations.get(1)))
          .hasMessageContaining("checksum mismatch");
      long after = record.byteOffset() + record.byteLength();
      image.read(after, into, into.length);
      assertThat(into)
          .isEqualTo(java.util.Arrays.copyOfRange(images.get(1), (int) after, (int) after + 4096));
    }
  }

  /** An encrypted archive: its generations read with its key; without it, refused from headers. */
  @Test
  void anEncryptedArchiveReadsWithItsKeyAndIsRefusedWithoutIt() throws IOException {
    Path key = tmp.resolve("vm1.key");
    io.cbtfs.syncer.crypto.KeyFile.create(key, io.cbtfs.syncer.crypto.EncryptionKey.generate());
    String plain = uri(receiver.port(), "&archive").replace("/vm1?", "/sealed?");
    String sealed = plain + "&encrypt-key=" + key;
    List<Long> sealedGenerations = new ArrayList<>();
    List<byte[]> sealedImages = new ArrayList<>();
    for (int step = 0; step < 2; step++) {
      if (step > 0) {
        fx.write(300_000, SyncFixture.random(100_000, 11));
      }
      try (RemoteTarget t = RemoteTarget.parse(sealed)) {
        sealedGenerations.add(syncer.sync(fx.source(), t, false, SyncProgress.NONE).generation());
      }
      sealedImages.add(Files.readAllBytes(fx.image));
    }
    try (RemoteArchive remote = RemoteArchive.open(sealed)) {
      for (int i = 0; i < 2; i++) {
        remote.requireKeyFor(sealedGenerations.get(i));
        try (StoredImage image = remote.open(sealedGenerations.get(i), new PieceCache(1 << 20))) {
          assertThat(readAll(image)).isEqualTo(sealedImages.get(i));
        }
      }
    }
    try (RemoteArchive remote = RemoteArchive.open(plain)) {
      assertThatThrownBy(() -> remote.requireKeyFor(sealedGenerations.get(1)))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("encrypted");
    }
  }

  /**
   * A sync commits while the archive is read: the reader keeps its snapshot, the sync waits for no
   * one.
   */
  @Test
  void aSyncCommitsBesideAReaderWhoseListIsASnapshot() throws IOException {
    try (RemoteArchive remote = remote()) {
      assertThat(remote.generations()).hasSize(3);
      fx.write(4096, SyncFixture.random(5000, 9));
      sync();
      assertThat(remote.generations()).hasSize(3);
      // archive.meta, replaced by that sync, still reads (as it is now): no "replaced" refusal
      assertThat(remote.state().lineage()).isNotNull();
      try (StoredImage image = remote.open(generations.get(2), new PieceCache(0))) {
        assertThat(readAll(image)).isEqualTo(images.get(2));
      }
      // a delta removed on the receiver since the list (a gc, an operator): its reads fail, named
      String second = ArchiveTarget.fileName(generations.get(1));
      Files.delete(root.resolve("vm1.archive").resolve(second));
      assertThatThrownBy(() -> remote.open(generations.get(1), new PieceCache(0)))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("vm1.archive has no file " + second + " (any more)");
    }
    try (RemoteArchive again = remote()) {
      assertThat(again.generations().stream().map(Restorable.Generation::generation))
          .as("a new reader lists anew: the new generation, not the removed one")
          .containsExactly(generations.get(0), generations.get(2), generations.get(3));
    }
  }

  /**
   * A gc on the receiver folds the newest generation into a new file renamed over it: a reader that
   * listed the old one is refused its ranges, saying why, instead of reading bytes at offsets that
   * mean something else in the new file (which failed as checksum errors).
   */
  @Test
  void aGenerationReplacedByAGcOnTheReceiverIsRefusedSayingSo() throws IOException {
    byte[] before = images.get(1);
    byte[] newest = images.get(2);
    int first = 0; // a byte the newest generation's own record holds (not zeros: no read)
    while (before[first] == newest[first] || newest[first] == 0) {
      first++;
    }
    int changed = first;
    try (RemoteArchive remote = remote();
        StoredImage image = remote.open(generations.get(2), new PieceCache(0))) {
      byte[] into = new byte[10];
      image.read(changed, into, into.length);
      assertThat(into).isEqualTo(java.util.Arrays.copyOfRange(newest, changed, changed + 10));
      ArchiveGc.Report gc =
          new ArchiveGc(new ArchiveTarget(root.resolve("vm1.archive"), null)).run(1, false);
      assertThat(gc.foldedGeneration()).isEqualTo(generations.get(2));
      assertThatThrownBy(() -> image.read(changed, into, into.length))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining(
              "vm1.archive/"
                  + ArchiveTarget.fileName(generations.get(2))
                  + " was replaced since the reader listed it (a cbtfs gc of the archive?)");
    }
    try (RemoteArchive again = remote();
        StoredImage image = again.open(generations.get(2), new PieceCache(0))) {
      assertThat(readAll(image)).as("a new reader reads the folded generation").isEqualTo(newest);
    }
  }

  /** The receiver restarts (its sessions end): the next read logs in again, once. */
  @Test
  void aDroppedSessionIsReplacedOnce() throws IOException {
    try (CuttingProxy proxy = new CuttingProxy(receiver.port());
        RemoteArchive remote = RemoteArchive.open(uri(proxy.port(), "&archive"));
        StoredImage image = remote.open(generations.get(2), new PieceCache(0))) {
      byte[] into = new byte[100_000];
      image.read(0, into, into.length);
      receiver.startAgain();
      proxy.retarget(receiver.port());
      // more than StoredImage's sequential slack away: no read-ahead, whose loads in the
      // background would log in beside this read
      image.read(1_500_000, into, into.length);
      assertThat(into).isEqualTo(java.util.Arrays.copyOfRange(images.get(2), 1_500_000, 1_600_000));
      assertThat(receiver.accepted()).isEqualTo(1);
      receiver.close(); // and gone for good: the read fails, naming the receiver
      proxy.close();
      assertThatThrownBy(() -> image.read(200_000, into, into.length))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("127.0.0.1:" + proxy.port());
    }
  }

  @Test
  void refusalsAreOneLineEach() throws IOException {
    Path wrong = tmp.resolve("wrong-token");
    Files.writeString(wrong, Tokens.generate());
    int port = receiver.port();
    try (RemoteArchive r =
        RemoteArchive.open(
            uri(port, "&archive").replace(receiver.tokenFile().toString(), wrong.toString()))) {
      assertThatThrownBy(r::generations)
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("authentication failed");
    }
    try (RemoteArchive r =
        RemoteArchive.open(uri(port, "&archive").replace(receiver.pin(), "00".repeat(32)))) {
      assertThatThrownBy(r::generations)
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("TLS handshake failed");
    }
    assertThatThrownBy(() -> RemoteArchive.open(uri(port, "")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("?archive");
    try (RemoteTarget replica = RemoteTarget.parse(uri(port, "").replace("/vm1?", "/vm2?"))) {
      syncer.sync(fx.source(), replica, false, SyncProgress.NONE);
    }
    try (RemoteArchive r = RemoteArchive.open(uri(port, "&archive").replace("/vm1?", "/vm2?"))) {
      assertThatThrownBy(r::generations)
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("no archive 'vm2' here: 'vm2' is a replica");
    }
    try (RemoteArchive r =
        RemoteArchive.open(uri(port, "&archive").replace("/vm1?", "/nothing?"))) {
      assertThatThrownBy(r::generations)
          .isInstanceOf(CbtfsException.class)
          .hasMessage("cbtfs://127.0.0.1:" + port + "/nothing?archive: no archive 'nothing' here");
    }
  }

  /** A logged-in read session, as a hostile reader would use it. */
  ReceiverConnection session(int flags) throws IOException {
    RemoteTarget t = RemoteTarget.parse(uri(receiver.port(), "&archive"));
    return new ReceiverConnection(t.peer(), flags, 10_000);
  }

  String answer(ReceiverConnection c, int type, byte[] payload) throws IOException {
    Frames.write(c.out, type, payload);
    try {
      Frames.Frame f = Frames.read(c.in);
      return (f.type() == Frames.ERR ? "ERR " : "T" + f.type() + " ") + f.payload().length;
    } catch (CbtfsException e) {
      return "ERR " + e.getMessage();
    }
  }

  String errorOf(ReceiverConnection c, int type, byte[] payload) throws IOException {
    Frames.write(c.out, type, payload);
    Frames.Frame f = Frames.read(c.in);
    return f.type() == Frames.ERR ? f.text() : "frame " + f.type() + " of " + f.payload().length;
  }

  /** A READ of file {@code name} of the archive as it is now (its size and id; 0 if none). */
  byte[] read(String name, long offset, int length) throws IOException {
    Path f = root.resolve("vm1.archive").resolve(name);
    boolean there = Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS);
    long size = there ? Files.size(f) : 0;
    long id = there ? (Long) Files.getAttribute(f, "unix:ino") : 0;
    return new RemoteMessages.Read(name, offset, length, size, id).encode();
  }

  @Test
  void aReadSessionServesOnlyTheArchivesOwnFilesInBoundedPieces() throws IOException {
    Path archive = root.resolve("vm1.archive");
    Files.write(root.resolve("secret"), "the receiver's own".getBytes());
    Files.createSymbolicLink(archive.resolve("gen-99999999.cbtd"), root.resolve("secret"));
    Files.write(archive.resolve("notes.txt"), new byte[10]);
    String first = ArchiveTarget.fileName(generations.get(0));
    try (ReceiverConnection c = session(RemoteMessages.FLAG_ARCHIVE | RemoteMessages.FLAG_READ)) {
      assertThat(c.answer).hasSize(4);
      Frames.write(c.out, Frames.LIST, new byte[0]);
      List<String> names = new ArrayList<>();
      for (Frames.Frame f = Frames.read(c.in); f.type() != Frames.END; f = Frames.read(c.in)) {
        RemoteMessages.Listed.decodeAll(f.payload(), n -> true).forEach(l -> names.add(l.name()));
      }
      assertThat(names)
          .containsExactlyInAnyOrder(
              "archive.meta",
              first,
              ArchiveTarget.fileName(generations.get(1)),
              ArchiveTarget.fileName(generations.get(2)));
      // a whole READ of the first delta's start, then one past its end: nothing
      Frames.write(c.out, Frames.READ, read(first, 0, 76));
      assertThat(Frames.read(c.in).payload())
          .isEqualTo(java.util.Arrays.copyOf(Files.readAllBytes(archive.resolve(first)), 76));
      Frames.write(c.out, Frames.READ, read(first, 1L << 40, 10));
      assertThat(Frames.read(c.in).payload()).isEmpty();
    }
    // each refusal ends its session with an ERR
    String[][] refused = {
      {"../secret", "refused READ of '../secret'"},
      {"vm1.img", "refused READ of 'vm1.img'"},
      {"notes.txt", "refused READ of 'notes.txt'"},
      {"gen-99999999.cbtd", "vm1.archive has no file gen-99999999.cbtd"},
      {".staging.cbtd", "refused READ"},
    };
    for (String[] r : refused) {
      try (ReceiverConnection c = session(RemoteMessages.FLAG_ARCHIVE | RemoteMessages.FLAG_READ)) {
        assertThat(errorOf(c, Frames.READ, read(r[0], 0, 10))).as(r[0]).contains(r[1]);
      }
    }
    byte[][] hostile = {
      read(first, 0, 0),
      read(first, 0, -1),
      read(first, -1, 10),
      read(first, 0, RemoteMessages.MAX_READ_BYTES + 1),
      java.util.Arrays.copyOf(read(first, 0, 10), 12), // cut short
      ByteBuffer.allocate(5).put((byte) 200).array(), // a name longer than the frame
    };
    for (byte[] h : hostile) {
      try (ReceiverConnection c = session(RemoteMessages.FLAG_ARCHIVE | RemoteMessages.FLAG_READ)) {
        assertThat(errorOf(c, Frames.READ, h)).startsWith("protocol error: READ of");
      }
    }
    try (ReceiverConnection c = session(RemoteMessages.FLAG_ARCHIVE | RemoteMessages.FLAG_READ)) {
      assertThat(errorOf(c, Frames.READ, new byte[4096]))
          .isEqualTo("protocol error: frame of 4096 bytes (limit 284)");
    }
    try (ReceiverConnection c = session(RemoteMessages.FLAG_ARCHIVE | RemoteMessages.FLAG_READ)) {
      assertThat(errorOf(c, Frames.BEGIN, new byte[77])).contains("in a read session");
    }
    assertThatThrownBy(() -> session(RemoteMessages.FLAG_READ).close())
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("is read as an archive only");
    assertThat(Files.readString(root.resolve("secret"))).isEqualTo("the receiver's own");
  }

  /** A receiver without read sessions answers the HELLO with a target state: refused clearly. */
  @Test
  void anOlderReceiverIsRefusedClearly() throws Exception {
    try (java.net.ServerSocket old =
        new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      Thread server =
          new Thread(
              () -> {
                try (java.net.Socket s = old.accept()) {
                  var out = new java.io.DataOutputStream(s.getOutputStream());
                  var in = new java.io.DataInputStream(s.getInputStream());
                  Frames.write(
                      out,
                      Frames.CHALLENGE,
                      ByteBuffer.allocate(40).put(Frames.MAGIC).put(new byte[32]).array());
                  Frames.read(in);
                  Frames.write(out, Frames.OK, new byte[33]);
                  Frames.read(in); // until the reader hangs up
                } catch (IOException e) {
                  // the reader hung up
                }
              });
      server.start();
      String uri =
          "cbtfs://127.0.0.1:"
              + ((InetSocketAddress) old.getLocalSocketAddress()).getPort()
              + "/vm1?archive&insecure&token-file="
              + receiver.tokenFile();
      try (RemoteArchive r = RemoteArchive.open(uri)) {
        assertThatThrownBy(r::generations)
            .isInstanceOf(CbtfsException.class)
            .hasMessageContaining("does not serve reads of its archives");
      }
      server.join(10_000);
    }
  }
}
