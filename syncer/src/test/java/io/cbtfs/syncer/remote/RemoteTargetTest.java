package io.cbtfs.syncer.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** Remote replication on loopback: a real Receiver, TLS 1.3 with a pinned certificate. */
class RemoteTargetTest {
  static final BlockGeometry G = BlockGeometry.of(65536);
  @TempDir Path tmp;
  @RegisterExtension final LoopbackReceiver receiver = new LoopbackReceiver();
  Path root;
  Path image;
  TrackerStore store;
  TrackedImage tracked;
  final Syncer syncer = new Syncer(256 << 10, 2);

  @BeforeEach
  void start() throws IOException {
    root = receiver.root();
    image = tmp.resolve("disk.img");
    byte[] data = new byte[3 << 20];
    new Random(1).nextBytes(data);
    Files.write(image, data);
    store = TrackerStore.open(tmp.resolve(".cbtfs"), TrackingOptions.defaults(G));
    tracked = store.image("disk.img", new Fingerprint(3 << 20, 1, 1, 1));
  }

  @AfterEach
  void stop() throws IOException {
    receiver.close();
    ReplicaTarget.awaitSettles();
    store.close();
  }

  private String uri(String name, String extra) {
    return receiver.uri(name) + extra;
  }

  private io.cbtfs.syncer.SyncSource source() {
    return new io.cbtfs.syncer.SyncSource(tracked, image);
  }

  private void write(long off, int len, long seed) throws IOException {
    byte[] b = new byte[len];
    new Random(seed).nextBytes(b);
    tracked.beforeWrite(off, len);
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(b), off);
    }
    tracked.afterWrite(off, len);
  }

  @Test
  void syncsAReplicaAndAnArchiveOverTls() throws IOException {
    RemoteTarget replica = RemoteTarget.parse(uri("vm1", ""));
    SyncReport first = syncer.sync(source(), replica, false, SyncProgress.NONE);
    assertThat(first.full()).isTrue();
    assertThat(Files.mismatch(image, root.resolve("vm1.img"))).isEqualTo(-1L);
    write(100_000, 5000, 2);
    long connections = receiver.accepted();
    SyncReport second = syncer.sync(source(), replica, false, SyncProgress.NONE);
    assertThat(receiver.accepted() - connections).as("connections for one sync").isEqualTo(1);
    assertThat(second.full()).isFalse();
    assertThat(second.blocks()).isEqualTo(1);
    assertThat(Files.mismatch(image, root.resolve("vm1.img"))).isEqualTo(-1L);
    assertThat(replica.state().generation()).isEqualTo(2);
    assertThat(replica.describe()).doesNotContain("token").doesNotContain(receiver.pin());
  }

  /** The receiver's replica keeps a sparse image's holes, through a --full sync over it too. */
  @Test
  void aReceiversReplicaOfASparseImageStaysSparse() throws IOException {
    Path sparse = tmp.resolve("sparse.img");
    long size = 32L << 20;
    io.cbtfs.syncer.Allocation.sparseFile(sparse, size);
    byte[] data = new byte[1 << 20];
    new Random(4).nextBytes(data);
    TrackedImage img = store.image("sparse.img", Fingerprint.sizeOnly(size));
    img.beforeWrite(8L << 20, data.length);
    try (FileChannel ch = FileChannel.open(sparse, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(data), 8L << 20);
    }
    img.afterWrite(8L << 20, data.length);
    io.cbtfs.syncer.SyncSource source = new io.cbtfs.syncer.SyncSource(img, sparse);
    Path copy = root.resolve("sparse.img");
    for (boolean full : new boolean[] {false, true}) { // a new replica, then --full over it
      RemoteTarget target = RemoteTarget.parse(uri("sparse", ""));
      assertThat(syncer.sync(source, target, full, SyncProgress.NONE).full()).isTrue();
      ReplicaTarget.awaitSettles();
      assertThat(Files.mismatch(sparse, copy)).isEqualTo(-1L);
      assertThat(io.cbtfs.syncer.Allocation.allocatedBytes(copy))
          .as("after a %s sync", full ? "--full" : "first")
          .isLessThanOrEqualTo(data.length + (256 << 10));
    }
  }

  @Test
  void comparesWithTheRemoteReplicaByBlockHashes() throws IOException {
    RemoteTarget replica = RemoteTarget.parse(uri("vm1", ""));
    try (FileChannel ch = FileChannel.open(image)) { // nothing there yet: every block differs
      assertThat(Target.differing(replica, ch, ch.size(), G, Long.MAX_VALUE).blockCount())
          .isEqualTo(48);
    }
    syncer.sync(source(), replica, false, SyncProgress.NONE);
    try (FileChannel ch = FileChannel.open(image)) {
      assertThat(Target.differing(replica, ch, ch.size(), G, Long.MAX_VALUE).isEmpty()).isTrue();
    }
    // changed behind the tracker's back (blocks 2 and 40), then grown by half a block
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(new byte[] {1}), 2 * 65536 + 7);
      ch.write(ByteBuffer.wrap(new byte[] {1}), 40 * 65536);
    }
    try (FileChannel ch = FileChannel.open(image)) {
      assertThat(Target.differing(replica, ch, ch.size(), G, Long.MAX_VALUE).toBitmap().toArray())
          .containsExactly(2, 40);
      assertThat(Target.differing(replica, ch, ch.size(), G, 1).blockCount()).isEqualTo(1);
    }
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(new byte[32768]), 3 << 20); // the image grows: block 48, partial
    }
    try (FileChannel ch = FileChannel.open(image)) {
      assertThat(Target.differing(replica, ch, ch.size(), G, Long.MAX_VALUE).toBitmap().toArray())
          .containsExactly(2, 40, 48);
    }
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.truncate(1 << 20); // now the replica is the larger: the boundary block differs
    }
    try (FileChannel ch = FileChannel.open(image)) {
      assertThat(Target.differing(replica, ch, ch.size(), G, Long.MAX_VALUE).toBitmap().toArray())
          .containsExactly(2, 16);
    }
    assertThatThrownBy(
            () -> {
              try (FileChannel ch = FileChannel.open(image)) {
                Target.differing(RemoteTarget.parse(uri("vm1", "&archive")), ch, 1, G, 1);
              }
            })
        .isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void aWrongTokenIsRefusedAndNothingIsWritten() throws IOException {
    Path wrong = tmp.resolve("wrong-token");
    Files.writeString(wrong, Tokens.generate());
    RemoteTarget t =
        RemoteTarget.parse(
            uri("vm1", "").replace(receiver.tokenFile().toString(), wrong.toString()));
    assertThatThrownBy(() -> syncer.sync(source(), t, false, SyncProgress.NONE))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("authentication failed");
    try (var files = Files.list(root)) {
      assertThat(files).isEmpty();
    }
    assertThat(tracked.committedGeneration()).isZero();
  }

  @Test
  void aWrongCertificateFingerprintIsRefused() throws IOException {
    String other = "00".repeat(32);
    RemoteTarget t = RemoteTarget.parse(uri("vm1", "").replace(receiver.pin(), other));
    assertThatThrownBy(t::state)
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("TLS handshake failed");
  }

  @Test
  void aReceiverThatIsNotThereIsNamed() throws IOException {
    int port;
    try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
      port = free.getLocalPort(); // closed: nothing listens there now
    }
    String uri = "cbtfs://127.0.0.1:" + port + "/disk?insecure&token-file=" + receiver.tokenFile();
    try (var t = RemoteTarget.parse(uri)) {
      assertThatThrownBy(t::state)
          .isInstanceOf(IOException.class)
          .hasMessageContaining("the receiver 127.0.0.1:" + port);
    }
  }

  /** A server at the address that answers the TLS hello with bytes that are not TLS. */
  @Test
  void aServerAnsweringGarbageIsNamed() throws IOException {
    try (ServerSocket garbage = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      Thread server =
          new Thread(
              () -> {
                try (Socket c = garbage.accept()) {
                  byte[] noise = new byte[4096];
                  new Random(9).nextBytes(noise);
                  c.getOutputStream().write(noise);
                } catch (IOException e) {
                  // the client hung up first
                }
              });
      server.start();
      String uri =
          uri("vm1", "").replace(":" + receiver.port() + "/", ":" + garbage.getLocalPort() + "/");
      try (var t = RemoteTarget.parse(uri)) {
        assertThatThrownBy(t::state)
            .isInstanceOf(CbtfsException.class)
            .hasMessageStartingWith("cbtfs://127.0.0.1:" + garbage.getLocalPort() + "/vm1: ")
            .hasMessageContaining("TLS handshake failed");
      }
    }
  }

  /** A server that accepts and never answers: the error says who, and how long it waited. */
  @Test
  void aReceiverThatNeverAnswersIsNamed() throws IOException {
    try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      String uri =
          uri("vm1", "").replace(":" + receiver.port() + "/", ":" + silent.getLocalPort() + "/");
      try (var t = RemoteTarget.parse(uri, 300)) {
        assertThatThrownBy(t::state)
            .isInstanceOf(IOException.class)
            .hasMessage(
                "cbtfs://127.0.0.1:"
                    + silent.getLocalPort()
                    + "/vm1: the receiver did not answer within 0.3 s");
      }
    }
  }

  @Test
  void namesLeadingOutOfTheRootAreRefused() throws IOException {
    assertThatThrownBy(() -> RemoteTarget.parse(uri("..", "")))
        .isInstanceOf(IllegalArgumentException.class);
    // a hostile client sends such names anyway: the receiver refuses them
    for (String name : new String[] {"..", "../x", "a/b", ".hidden", "/etc", "x".repeat(65)}) {
      try (RawClient c = new RawClient()) {
        c.hello(name, 0, Tokens.load(receiver.tokenFile()));
        assertThat(c.reply()).as(name).startsWith("ERR").contains("refused target name");
      }
    }
    Files.createSymbolicLink(root.resolve("link.img"), tmp.resolve("outside.img"));
    try (RawClient c = new RawClient()) {
      c.hello("link", 0, Tokens.load(receiver.tokenFile()));
      assertThat(c.reply()).startsWith("ERR").contains("refused");
    }
    assertThat(Files.exists(tmp.resolve("outside.img"))).isFalse();
  }

  @Test
  void garbageOversizedFramesAndNoTokenAreRefused() throws IOException {
    try (RawClient c = new RawClient()) {
      c.out.writeByte(Frames.HELLO);
      c.out.writeInt(Integer.MAX_VALUE); // an oversized frame
      c.out.flush();
      assertThat(c.reply()).startsWith("ERR").contains("frame of");
    }
    try (RawClient c = new RawClient()) {
      c.out.write("GET / HTTP/1.1\r\n\r\n".getBytes());
      c.out.flush();
      assertThat(c.reply()).startsWith("ERR");
    }
    try (RawClient c = new RawClient()) {
      c.hello("vm1", 0, new byte[32]); // no token: a zero key proves nothing
      assertThat(c.reply()).startsWith("ERR").contains("authentication failed");
    }
    try (var files = Files.list(root)) {
      assertThat(files).isEmpty();
    }
  }

  @Test
  void aReplayedOldDeltaIsRefused() throws IOException {
    RemoteTarget replica = RemoteTarget.parse(uri("vm1", ""));
    syncer.sync(source(), replica, false, SyncProgress.NONE);
    write(0, 10, 3);
    syncer.sync(source(), replica, false, SyncProgress.NONE);
    byte[] before = Files.readAllBytes(root.resolve("vm1.img"));
    assertThatThrownBy(
            () ->
                replica.begin(
                    new DeltaHeader(tracked.lineage(), 3 << 20, 65536, 0, 1, false), false))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("out of order");
    assertThat(Files.readAllBytes(root.resolve("vm1.img"))).isEqualTo(before);
  }

  @Test
  void aConnectionCutMidStreamChangesNothingAndTheNextSyncSucceeds() throws Exception {
    RemoteTarget direct = RemoteTarget.parse(uri("vm1", ""));
    syncer.sync(source(), direct, false, SyncProgress.NONE);
    byte[] before = Files.readAllBytes(root.resolve("vm1.img"));
    write(0, 1 << 20, 4);
    for (long cutAfter : new long[] {200, 5_000, 300_000, 900_000}) {
      try (CuttingProxy proxy = new CuttingProxy(receiver.port())) {
        proxy.cutAfter(cutAfter);
        RemoteTarget viaProxy =
            RemoteTarget.parse(
                uri("vm1", "").replace(":" + receiver.port() + "/", ":" + proxy.port() + "/"));
        // a cut surfaces as an I/O error or, during the handshake, as a refused connection
        assertThatThrownBy(() -> syncer.sync(source(), viaProxy, false, SyncProgress.NONE))
            .isInstanceOfAny(IOException.class, CbtfsException.class);
      }
      assertThat(Files.readAllBytes(root.resolve("vm1.img"))).isEqualTo(before);
      assertThat(tracked.dirtyBlocks().blockCount()).isEqualTo(16);
    }
    syncer.sync(source(), direct, false, SyncProgress.NONE);
    assertThat(Files.mismatch(image, root.resolve("vm1.img"))).isEqualTo(-1L);
  }

  /**
   * A receiver that stops taking data mid-delta (a stopped process, a suspended host, a black hole
   * with the window shut) fails the sync after the timeout, naming it: a write that blocks forever
   * held the sync, and the group after it, until the receiver came back (Ctrl-C could not stop it).
   */
  @Test
  @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a hang fails it
  void aReceiverThatStopsTakingDataFailsTheSyncAfterTheTimeout() throws Exception {
    Path big = tmp.resolve("big.img");
    byte[] data = new byte[32 << 20]; // more than loopback's socket buffers can swallow
    new Random(5).nextBytes(data);
    Files.write(big, data);
    TrackedImage bigTracked = store.image("big.img", new Fingerprint(32 << 20, 1, 1, 2));
    try (StallingProxy proxy = new StallingProxy(receiver.port(), 4 << 20)) {
      String viaProxy =
          uri("big", "").replace(":" + receiver.port() + "/", ":" + proxy.port() + "/");
      try (RemoteTarget t = RemoteTarget.parse(viaProxy, 500)) {
        assertThatThrownBy(
                () ->
                    syncer.sync(
                        new io.cbtfs.syncer.SyncSource(bigTracked, big),
                        t,
                        false,
                        SyncProgress.NONE))
            .isInstanceOf(IOException.class)
            .hasMessage(
                "cbtfs://127.0.0.1:" + proxy.port() + "/big: the receiver took no data for 0.5 s");
      }
    }
    syncer.sync(
        new io.cbtfs.syncer.SyncSource(bigTracked, big),
        RemoteTarget.parse(uri("big", "")),
        false,
        SyncProgress.NONE);
    assertThat(Files.mismatch(big, root.resolve("big.img"))).isEqualTo(-1L);
  }

  /** A connection cut mid-delta names the receiver: "Connection reset by peer" alone did not. */
  @Test
  void aConnectionCutMidDeltaNamesTheReceiver() throws Exception {
    try (CuttingProxy proxy = new CuttingProxy(receiver.port())) {
      proxy.cutAfter(900_000);
      RemoteTarget viaProxy =
          RemoteTarget.parse(
              uri("vm1", "").replace(":" + receiver.port() + "/", ":" + proxy.port() + "/"));
      assertThatThrownBy(() -> syncer.sync(source(), viaProxy, false, SyncProgress.NONE))
          .isInstanceOf(IOException.class)
          .hasMessageStartingWith(
              "cbtfs://127.0.0.1:" + proxy.port() + "/vm1: the connection to the receiver broke");
    }
  }

  @Test
  void idleConnectionsThatNeverLogInAreClosedAndFreeTheirSlots() throws IOException {
    java.util.List<Socket> idle = new java.util.ArrayList<>();
    try {
      for (int i = 0; i < 4; i++) { // every slot of this receiver, held without a handshake
        Socket s = new Socket(InetAddress.getLoopbackAddress(), receiver.port());
        s.setSoTimeout(30_000);
        idle.add(s);
      }
      for (Socket s : idle) {
        // closed by the login deadline (after at most a TLS alert record)
        assertThat(s.getInputStream().readAllBytes().length).isLessThan(64);
      }
    } finally {
      for (Socket s : idle) {
        s.close();
      }
    }
    // the receiver releases a slot just after it closed the socket: wait for a free one
    RemoteTarget target = RemoteTarget.parse(uri("vm1", ""));
    for (int attempt = 0; ; attempt++) {
      try {
        target.state();
        break;
      } catch (CbtfsException | IOException e) {
        assertThat(attempt).as("a slot is free again: %s", e.getMessage()).isLessThan(500);
        java.util.concurrent.locks.LockSupport.parkNanos(10_000_000);
      }
    }
    SyncReport r = syncer.sync(source(), target, false, SyncProgress.NONE);
    assertThat(r.generation()).isEqualTo(1);
  }

  /** Issue 23: the receiver stores sealed records it cannot read, and enforces one key a chain. */
  @Test
  void anEncryptedArchiveIsStoredSealedAndReadOnlyWithItsKey() throws IOException {
    Path keyA = tmp.resolve("a.key");
    Path keyB = tmp.resolve("b.key");
    io.cbtfs.syncer.crypto.KeyFile.create(keyA, io.cbtfs.syncer.crypto.EncryptionKey.generate());
    io.cbtfs.syncer.crypto.KeyFile.create(keyB, io.cbtfs.syncer.crypto.EncryptionKey.generate());
    byte[] pattern = new byte[4096];
    new Random(4242).nextBytes(pattern);
    tracked.beforeWrite(1 << 20, pattern.length);
    try (FileChannel ch = FileChannel.open(image, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(pattern), 1 << 20);
    }
    tracked.afterWrite(1 << 20, pattern.length);
    RemoteTarget archive = RemoteTarget.parse(uri("vm1", "&archive&encrypt-key=" + keyA));
    long g1 = syncer.sync(source(), archive, false, SyncProgress.NONE).generation();
    write(70_000, 5000, 3);
    long g2 = syncer.sync(source(), archive, false, SyncProgress.NONE).generation();
    Path atTwo = Files.copy(image, tmp.resolve("at-2"));
    Path stored = root.resolve("vm1.archive");
    try (var files = Files.list(stored)) {
      for (Path f : files.toList()) {
        byte[] b = Files.readAllBytes(f);
        assertThat(
                java.util.Collections.indexOfSubList(
                    java.util.Arrays.asList(box(b)), java.util.Arrays.asList(box(pattern))))
            .as("%s holds the block", f)
            .isEqualTo(-1);
      }
    }
    write(0, 5000, 4);
    assertThatThrownBy(
            () ->
                syncer.sync(
                    source(),
                    RemoteTarget.parse(uri("vm1", "&archive&encrypt-key=" + keyB)),
                    false,
                    SyncProgress.NONE))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("encrypted with key");
    assertThatThrownBy(() -> RemoteTarget.parse(uri("vm2", "&encrypt-key=" + keyA)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("needs an archive");
    Path out = tmp.resolve("restored");
    new ArchiveTarget(stored, io.cbtfs.syncer.crypto.KeyFile.load(keyA))
        .restore(g2, out, io.cbtfs.syncer.local.Restorable.RestoreProgress.NONE);
    assertThat(g2).isGreaterThan(g1);
    assertThat(Files.mismatch(out, atTwo)).isEqualTo(-1L);
  }

  private static Byte[] box(byte[] b) {
    Byte[] out = new Byte[b.length];
    for (int i = 0; i < b.length; i++) {
      out[i] = b[i];
    }
    return out;
  }

  @Test
  void archivesLiveBesideReplicas() throws IOException {
    RemoteTarget archive = RemoteTarget.parse(uri("vm1", "&archive"));
    syncer.sync(source(), archive, false, SyncProgress.NONE);
    write(65536, 100, 5);
    syncer.sync(source(), archive, false, SyncProgress.NONE);
    Path out = tmp.resolve("restored.img");
    new ArchiveTarget(root.resolve("vm1.archive"))
        .restore(2, out, io.cbtfs.syncer.local.Restorable.RestoreProgress.NONE);
    assertThat(Files.mismatch(image, out)).isEqualTo(-1L);
  }

  @Test
  void randomAndMutatedStreamsNeverReachATarget() throws IOException {
    Random rnd = new Random(11);
    // a valid session to mutate: HELLO, BEGIN, DATA, END after a real challenge
    for (int i = 0; i < 60; i++) {
      try (RawClient c = new RawClient()) {
        byte[] junk = new byte[rnd.nextInt(2000)];
        rnd.nextBytes(junk);
        if (rnd.nextBoolean() && junk.length > 5) {
          junk[0] = (byte) (1 + rnd.nextInt(8)); // a plausible frame type
        }
        c.out.write(junk);
        c.out.flush();
        c.socket.shutdownOutput();
        String reply = c.replyOrClosed();
        assertThat(reply).isIn("closed", reply.startsWith("ERR") ? reply : "closed");
      }
    }
    try (var files = Files.list(root)) {
      assertThat(files).isEmpty();
    }
  }

  /** A hand-driven client for hostile inputs: TLS with the pin, then raw frames. */
  final class RawClient implements AutoCloseable {
    final Socket socket;
    final DataOutputStream out;
    final DataInputStream in;
    final byte[] nonce;

    RawClient() throws IOException {
      socket =
          Tls.pinned(receiver.pin()).getSocketFactory().createSocket("127.0.0.1", receiver.port());
      socket.setSoTimeout(10_000);
      out = new DataOutputStream(socket.getOutputStream());
      in = new DataInputStream(socket.getInputStream());
      byte[] challenge = Frames.read(in).payload();
      nonce = java.util.Arrays.copyOfRange(challenge, Frames.MAGIC.length, challenge.length);
    }

    void hello(String name, int flags, byte[] token) throws IOException {
      byte[] n = name.getBytes();
      ByteBuffer b =
          ByteBuffer.allocate(3 + n.length + 32)
              .put((byte) flags)
              .putShort((short) n.length)
              .put(n)
              .put(Tokens.proof(token, nonce, name, flags));
      Frames.write(out, Frames.HELLO, b.array());
    }

    String reply() throws IOException {
      Frames.Frame f = Frames.read(in);
      return (f.type() == Frames.ERR ? "ERR " : "T" + f.type() + " ") + f.text();
    }

    String replyOrClosed() {
      try {
        return reply();
      } catch (IOException | RuntimeException e) {
        return "closed";
      }
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }

  /**
   * Forwards connections to the receiver until upstream byte number {@code limit} (over all
   * connections), then stops reading from the sender without closing anything: the sender's writes
   * block once the socket buffers are full, as with a stopped receiver.
   */
  static final class StallingProxy implements AutoCloseable {
    private final ServerSocket server = new ServerSocket(0, 4, InetAddress.getLoopbackAddress());
    private final AtomicLong upstream = new AtomicLong();
    private volatile long limit;
    private final java.util.concurrent.CountDownLatch closed =
        new java.util.concurrent.CountDownLatch(1);
    private final java.util.List<Socket> sockets =
        java.util.Collections.synchronizedList(new java.util.ArrayList<>());

    StallingProxy(int target, long limit) throws IOException {
      this.limit = limit;
      server.setReceiveBufferSize(16 << 10);
      Thread acceptor =
          new Thread(
              () -> {
                while (!server.isClosed()) {
                  try {
                    Socket client = server.accept();
                    Socket up = new Socket(InetAddress.getLoopbackAddress(), target);
                    sockets.add(client);
                    sockets.add(up);
                    CuttingProxy.start(
                        () -> forward(up, client, new AtomicLong(), () -> Long.MAX_VALUE));
                    CuttingProxy.start(() -> forward(client, up, upstream, () -> this.limit));
                  } catch (IOException e) {
                    return;
                  }
                }
              });
      acceptor.setDaemon(true);
      acceptor.start();
    }

    int port() {
      return server.getLocalPort();
    }

    /** Stops reading from the senders now (after at most the read under way). */
    void stall() {
      limit = 0;
    }

    /** Copies until {@code limit}, then holds both sockets open, unread, until closed. */
    private void forward(
        Socket from, Socket to, AtomicLong counter, java.util.function.LongSupplier limit) {
      byte[] buf = new byte[8192];
      try {
        InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream();
        int r;
        while (counter.get() < limit.getAsLong() && (r = in.read(buf)) > 0) {
          out.write(buf, 0, r);
          counter.addAndGet(r);
        }
        closed.await(); // stalled: neither read nor closed, as a stopped receiver
      } catch (IOException e) {
        // closed
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    @Override
    public void close() throws IOException {
      closed.countDown();
      server.close();
      synchronized (sockets) {
        for (Socket s : sockets) {
          s.close();
        }
      }
    }
  }
}
