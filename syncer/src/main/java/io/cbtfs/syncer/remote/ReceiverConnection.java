package io.cbtfs.syncer.remote;

import io.cbtfs.tracker.CbtfsException;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.Arrays;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSocket;

/**
 * An authenticated connection to a {@link Receiver}, after its answer to the HELLO: the TLS
 * handshake against the pinned certificate, the challenge, the proof of the token. What a sync
 * ({@link RemoteTarget}) and a reader ({@link RemoteArchive}) both start with.
 */
class ReceiverConnection implements AutoCloseable {
  /**
   * Whom to log in to, and as what.
   *
   * @param pin the certificate's SHA-256, or null for plain TCP (insecure)
   * @param describe how messages name the target ({@code cbtfs://HOST:PORT/NAME…})
   */
  record Peer(String host, int port, String name, byte[] token, String pin, String describe) {}

  static final int CONNECT_TIMEOUT_MILLIS = 10_000;

  final Socket plain;
  final Socket socket;
  final DataInputStream in;
  final DataOutputStream out;

  /** The receiver's answer to the HELLO (OK): for a sync, the target's state. */
  final byte[] answer;

  private final String describe;
  private final int readTimeoutMillis;

  /**
   * Connects to {@code peer}, checks its certificate against the pin (unless insecure), and logs in
   * as {@code flags} to its name.
   *
   * @throws CbtfsException for a refusal (the receiver's ERR), a failed handshake or a peer that is
   *     no receiver
   * @throws IOException if the connection fails or the receiver does not answer in time
   */
  ReceiverConnection(Peer peer, int flags, int readTimeoutMillis) throws IOException {
    this.describe = peer.describe();
    this.readTimeoutMillis = readTimeoutMillis;
    String host = peer.host();
    int port = peer.port();
    String pin = peer.pin();
    String name = peer.name();
    Socket plain = new Socket();
    Socket s = plain;
    try {
      try {
        plain.connect(new InetSocketAddress(host, port), CONNECT_TIMEOUT_MILLIS);
      } catch (IOException e) { // "Connection refused" alone does not say which receiver
        throw new IOException(
            "cannot connect to the receiver " + host + ":" + port + ": " + e.getMessage(), e);
      }
      plain.setSoTimeout(readTimeoutMillis);
      if (pin != null) { // TLS over the plain socket, which a stalled write's deadline closes
        SSLSocket tls =
            (SSLSocket) Tls.pinned(pin).getSocketFactory().createSocket(plain, host, port, true);
        s = tls;
        tls.setEnabledProtocols(new String[] {Tls.PROTOCOL});
        tls.setEnabledCipherSuites(Tls.CIPHER_SUITES);
        tls.startHandshake();
      }
      in = new DataInputStream(new BufferedInputStream(s.getInputStream(), 1 << 16));
      out =
          new DataOutputStream(
              new BufferedOutputStream(
                  new WriteDeadline(
                      s.getOutputStream(),
                      plain,
                      readTimeoutMillis,
                      describe() + ": the receiver took no data for " + seconds(readTimeoutMillis)),
                  1 << 20));
      byte[] challenge = Frames.expect(in, Frames.CHALLENGE, describe()).payload();
      if (challenge.length != Frames.MAGIC.length + Frames.NONCE_BYTES
          || !Arrays.equals(
              challenge, 0, Frames.MAGIC.length, Frames.MAGIC, 0, Frames.MAGIC.length)) {
        throw new CbtfsException(describe() + " is not a cbtfs receiver");
      }
      byte[] nonce = Arrays.copyOfRange(challenge, Frames.MAGIC.length, challenge.length);
      Frames.write(
          out,
          Frames.HELLO,
          new RemoteMessages.Hello(flags, name, Tokens.proof(peer.token(), nonce, name, flags))
              .encode());
      answer = Frames.expect(in, Frames.OK, describe()).payload();
      socket = s;
      this.plain = plain;
    } catch (SSLException e) { // a wrong certificate, or no TLS server at all: neither says who
      closeBoth(s, plain);
      throw new CbtfsException(
          describe()
              + ": TLS handshake failed ("
              + (e.getMessage() == null ? "no reason" : e.getMessage())
              + ")");
    } catch (SocketTimeoutException e) { // "Read timed out" alone does not say which receiver
      closeBoth(s, plain);
      throw new IOException(
          describe() + ": the receiver did not answer within " + seconds(readTimeoutMillis), e);
    } catch (IOException | RuntimeException e) {
      closeBoth(s, plain);
      throw e;
    }
  }

  private static void closeBoth(Socket s, Socket plain) throws IOException {
    try {
      s.close();
    } finally {
      plain.close(); // a TLS socket made but not yet set up may not close what it wraps
    }
  }

  /**
   * The receiver's reason when writing to it failed: it sends an ERR frame before it closes (a full
   * disk, a refused delta); without one, the write's own error.
   */
  IOException peerError(IOException writeFailure) {
    Frames.Frame f;
    try {
      socket.setSoTimeout(2_000);
      f = Frames.read(in);
    } catch (IOException | RuntimeException e) {
      return broken(writeFailure);
    }
    if (f.type() == Frames.ERR) {
      throw new CbtfsException(describe() + ": " + f.text());
    }
    return broken(writeFailure);
  }

  /** A failure of the connection, naming the receiver ("Broken pipe" alone does not). */
  IOException broken(IOException e) {
    if (e instanceof StalledWriteException) {
      return e; // named already
    }
    return new IOException(
        describe()
            + ": the connection to the receiver broke ("
            + (e.getMessage() == null ? "no reason given" : e.getMessage())
            + ")",
        e);
  }

  /** Ends a connection that served its purpose: a TLS goodbye, bounded as a write is. */
  @Override
  public void close() throws IOException {
    WriteDeadline.closeWithin(socket, plain, readTimeoutMillis);
  }

  /**
   * Drops a connection given up on (a local failure mid-delta): no TLS goodbye, which a receiver
   * that stopped reading could hold forever, and which it has no use for (an unfinished delta is
   * dropped or kept either way).
   */
  void abort() {
    WriteDeadline.abort(socket, plain);
  }

  private String describe() {
    return describe;
  }

  static String seconds(int millis) {
    return (millis % 1000 == 0 ? String.valueOf(millis / 1000) : String.valueOf(millis / 1000.0))
        + " s";
  }
}
