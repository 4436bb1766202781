package io.cbtfs.syncer.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import io.cbtfs.syncer.Allocation;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncSource;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.local.ReplicaTarget;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.Fingerprint;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A peer that stops reading (a stopped process, a suspended host) costs the other side at most its
 * timeout, over TLS, on both sides: a write to it, and the close after a failure, are bounded.
 */
class StalledPeerTest {
  static final BlockGeometry G = BlockGeometry.of(65536);

  /** The receiver's idle timeout: the bound of each of its writes. */
  static final int IDLE_MILLIS = 1_000;

  @TempDir Path tmp;
  @RegisterExtension final LoopbackReceiver receiver = new LoopbackReceiver(IDLE_MILLIS);
  Path root;
  TrackerStore store;
  final Syncer syncer = new Syncer(256 << 10, 2);

  @BeforeEach
  void start() throws IOException {
    root = receiver.root();
    store = TrackerStore.open(tmp.resolve(".cbtfs"), TrackingOptions.defaults(G));
  }

  @AfterEach
  void stop() throws IOException {
    receiver.close();
    ReplicaTarget.awaitSettles();
    store.close();
  }

  /** A sparse image of {@code size} bytes with 1 MiB of data at 8 MiB, all of it to sync. */
  private SyncSource image(String name, long size) throws IOException {
    Path path = tmp.resolve(name + ".img");
    Allocation.sparseFile(path, size);
    byte[] data = new byte[1 << 20];
    new Random(7).nextBytes(data);
    TrackedImage img = store.image(name + ".img", Fingerprint.sizeOnly(size));
    img.beforeWrite(8L << 20, data.length);
    try (FileChannel ch = FileChannel.open(path, StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.wrap(data), 8L << 20);
    }
    img.afterWrite(8L << 20, data.length);
    return new SyncSource(img, path);
  }

  /**
   * A sender that asks for the hashes of a big replica and never reads them: the receiver's write
   * blocks once the socket buffers are full. It must give up after its idle timeout, over TLS too
   * (closing a TLS socket waits for the write it should end), and serve others meanwhile.
   */
  @Test
  void aSenderThatStopsReadingLosesItsConnectionAfterTheIdleTimeout() throws Exception {
    long size = 1L << 30; // 8 MiB of 4 KiB block hashes: more than the socket buffers hold
    syncer.sync(
        image("big", size), new ReplicaTarget(root.resolve("big.img")), false, SyncProgress.NONE);
    syncer.sync(
        image("vm1", 16L << 20), RemoteTarget.parse(receiver.uri("vm1")), false, SyncProgress.NONE);
    receiver.awaitIdle();

    Socket plain = new Socket();
    plain.setReceiveBufferSize(4 << 10); // before connecting: the window stays small
    plain.connect(receiver.address(), 10_000);
    plain.setSoTimeout(10_000);
    SSLSocket stalled =
        (SSLSocket)
            Tls.pinned(receiver.pin())
                .getSocketFactory()
                .createSocket(plain, "127.0.0.1", plain.getPort(), true);
    try (stalled) {
      DataOutputStream out = new DataOutputStream(stalled.getOutputStream());
      DataInputStream in = new DataInputStream(stalled.getInputStream());
      byte[] challenge = Frames.expect(in, Frames.CHALLENGE, "receiver").payload();
      byte[] nonce = Arrays.copyOfRange(challenge, Frames.MAGIC.length, challenge.length);
      Frames.write(
          out,
          Frames.HELLO,
          new RemoteMessages.Hello(
                  0, "big", Tokens.proof(Tokens.load(receiver.tokenFile()), nonce, "big", 0))
              .encode());
      assertThat(
              RemoteMessages.decode(Frames.expect(in, Frames.OK, "receiver").payload()).imageSize())
          .isEqualTo(size);
      Frames.write(out, Frames.HASHES, ByteBuffer.allocate(4).putInt(4096).array());
      // and reads nothing more

      // meanwhile another sender is served
      try (RemoteTarget other = RemoteTarget.parse(receiver.uri("vm1"))) {
        assertThat(other.state().exists()).isTrue();
      }

      // the stalled connection ends, freeing its slot, its thread and its name
      assertTimeoutPreemptively(Duration.ofSeconds(30), receiver::awaitIdle);
      long got = 0;
      InputStream raw = plain.getInputStream(); // what reached us before the receiver gave up
      byte[] sink = new byte[1 << 16];
      try {
        for (int n; (n = raw.read(sink)) > 0; ) {
          got += n;
        }
      } catch (IOException e) {
        // reset: the receiver closed with data unread, as it should
      }
      assertThat(got).isLessThan((size / 4096) * 32);
    }
    // and the replica is still served
    try (RemoteTarget again = RemoteTarget.parse(receiver.uri("big"))) {
      assertThat(again.state().imageSize()).isEqualTo(size);
    }
  }

  /**
   * A sync that fails here (a cancel, an image read error) while the receiver stopped reading fails
   * at once with its own error: the connection is dropped without a TLS goodbye, which a full
   * socket buffer could hold forever. The receiver keeps its replica, and the next sync succeeds.
   */
  @Test
  @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a hang fails it
  void aSyncFailingLocallyToAReceiverThatStoppedReadingFailsAtOnce() throws Exception {
    Path path = tmp.resolve("big.img");
    byte[] data = new byte[32 << 20];
    new Random(5).nextBytes(data);
    Files.write(path, data);
    SyncSource big =
        new SyncSource(store.image("big.img", Fingerprint.sizeOnly(data.length)), path);
    int port = receiver.port();
    try (RemoteTargetTest.StallingProxy proxy =
            new RemoteTargetTest.StallingProxy(port, Long.MAX_VALUE);
        RemoteTarget viaProxy = RemoteTarget.parse(receiver.uri(proxy.port(), "big"), 120_000)) {
      SyncProgress cancelOnceStalled =
          (doneBytes, totalBytes, doneBlocks, totalBlocks) -> {
            if (doneBytes >= (8 << 20)) {
              proxy.stall(); // the receiver stops reading, then the sync fails here
              throw new IOException("cancelled");
            }
          };
      assertTimeoutPreemptively(
          Duration.ofSeconds(20), // far less than the 120 s a write may wait
          () ->
              assertThatThrownBy(() -> syncer.sync(big, viaProxy, false, cancelOnceStalled))
                  .isInstanceOf(IOException.class)
                  .hasMessage("cancelled"));
    }
    receiver.awaitIdle();
    assertThat(root.resolve("big.img")).doesNotExist();
    syncer.sync(big, RemoteTarget.parse(receiver.uri("big")), false, SyncProgress.NONE);
    assertThat(Files.mismatch(path, root.resolve("big.img"))).isEqualTo(-1L);
  }
}
