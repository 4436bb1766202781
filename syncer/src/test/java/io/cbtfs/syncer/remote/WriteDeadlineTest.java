package io.cbtfs.syncer.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Closing a TLS connection whose send path is stuck (a peer that stopped reading, a write blocked
 * on the full buffer): the close must not wait for that write, which never ends.
 */
class WriteDeadlineTest {
  @TempDir static Path identityRoot;
  static LoopbackReceiver.Identity identity;

  ServerSocket server;
  Socket peer; // the server's plain socket: it completes the handshake, then reads nothing
  Socket plain;
  SSLSocket tls;
  CompletableFuture<Void> writer;

  @BeforeAll
  static void identity() throws IOException {
    identity = LoopbackReceiver.Identity.create(identityRoot);
  }

  @BeforeEach
  void connect() throws Exception {
    server = new ServerSocket();
    server.setReceiveBufferSize(16 << 10);
    server.bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    CompletableFuture<Socket> accepted =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                Socket s = server.accept();
                SSLSocket t =
                    (SSLSocket)
                        Tls.server(identity.dir()).getSocketFactory().createSocket(s, null, false);
                t.setEnabledProtocols(new String[] {Tls.PROTOCOL});
                t.setEnabledCipherSuites(Tls.CIPHER_SUITES);
                t.startHandshake();
                return s;
              } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
              }
            });
    plain = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
    tls =
        (SSLSocket)
            Tls.pinned(identity.pin())
                .getSocketFactory()
                .createSocket(plain, "127.0.0.1", server.getLocalPort(), true);
    tls.setEnabledProtocols(new String[] {Tls.PROTOCOL});
    tls.setEnabledCipherSuites(Tls.CIPHER_SUITES);
    tls.startHandshake();
    peer = accepted.get(30, TimeUnit.SECONDS);
    // one write of far more than the socket buffers hold: it blocks, holding the TLS socket's
    // write path, until the connection is closed under it
    writer =
        CompletableFuture.runAsync(
            () -> {
              try {
                tls.getOutputStream().write(new byte[64 << 20]);
              } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
              }
            });
    while (peer.getInputStream().available() == 0) { // the write is under way
      assertThat(writer).isNotDone();
      LockSupport.parkNanos(1_000_000);
    }
  }

  @AfterEach
  void close() throws IOException {
    plain.close();
    peer.close();
    server.close();
  }

  @Test
  void abortEndsAConnectionWhoseWriteIsStuckAtOnce() {
    assertTimeoutPreemptively(Duration.ofSeconds(10), () -> WriteDeadline.abort(tls, plain));
    assertThat(plain.isClosed()).isTrue();
    assertThatThrownBy(() -> writer.get(10, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class); // the stuck write failed
  }

  @Test
  void aGracefulCloseIsBoundedByItsDeadline() {
    assertTimeoutPreemptively(
        Duration.ofSeconds(10), () -> WriteDeadline.closeWithin(tls, plain, 300));
    assertThat(plain.isClosed()).isTrue();
    assertThatThrownBy(() -> writer.get(10, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class);
  }
}
