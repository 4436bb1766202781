package io.cbtfs.syncer.remote;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real {@link Receiver} for each test, as a JUnit extension: {@code @RegisterExtension final
 * LoopbackReceiver receiver = new LoopbackReceiver();} starts one before each test, TLS 1.3 with a
 * self-signed certificate on a free loopback port, a token, its files in a new temporary folder,
 * and stops it and removes the folder after. The identity is made once for the whole run (keytool
 * takes a while), shared by every test class.
 */
public final class LoopbackReceiver implements BeforeEachCallback, AfterEachCallback {
  /** The idle timeout of a receiver that no test waits on. */
  private static final int IDLE_MILLIS = 10_000;

  private static final ExtensionContext.Namespace SHARED =
      ExtensionContext.Namespace.create(LoopbackReceiver.class);

  /**
   * A receiver's identity ({@code cbtfs receive --init}): key, certificate and token in {@code
   * dir}. The run's shared one is removed at the end of the run.
   *
   * @param pin the certificate's SHA-256 fingerprint, as a sender pins it
   */
  public record Identity(Path dir, String pin) implements ExtensionContext.Store.CloseableResource {
    /** A new identity in {@code parent}'s subfolder {@code id}. */
    public static Identity create(Path parent) throws IOException {
      Path dir = parent.resolve("id");
      return new Identity(dir, Tls.init(dir));
    }

    public Path tokenFile() {
      return Tls.tokenFile(dir);
    }

    @Override
    public void close() throws IOException {
      deleteTree(dir);
    }
  }

  private final int idleMillis;
  private Identity identity;
  private Path root;
  private Receiver receiver;

  public LoopbackReceiver() {
    this(IDLE_MILLIS);
  }

  /** A receiver that gives up on a silent or stalled peer after {@code idleMillis}. */
  public LoopbackReceiver(int idleMillis) {
    this.idleMillis = idleMillis;
  }

  @Override
  public void beforeEach(ExtensionContext context) throws IOException {
    identity =
        context
            .getRoot()
            .getStore(SHARED)
            .getOrComputeIfAbsent(Identity.class, k -> newIdentity(), Identity.class);
    root = Files.createTempDirectory("cbtfs-receiver");
    receiver = started();
  }

  @Override
  public void afterEach(ExtensionContext context) throws IOException {
    try {
      close();
    } finally {
      deleteTree(root);
    }
  }

  private static Identity newIdentity() {
    try {
      Path dir = Files.createTempDirectory("cbtfs-identity");
      return new Identity(dir, Tls.init(dir));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private Receiver started() throws IOException {
    return Receiver.start(
        new Receiver.Options(
            new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
            root,
            Tokens.load(identity.tokenFile()),
            Tls.server(identity.dir()),
            4,
            idleMillis));
  }

  /**
   * Starts another receiver over the same folder, with the same identity and timeout, as a restart
   * (another port); stops this one first if it still runs.
   */
  public void startAgain() throws IOException {
    receiver.close();
    receiver = started();
  }

  /** Stops the receiver (again: nothing); its folder stays until the test ends. */
  public void close() throws IOException {
    receiver.close();
  }

  /** The folder it keeps its files in. */
  public Path root() {
    return root;
  }

  public int port() {
    return receiver.address().getPort();
  }

  public InetSocketAddress address() {
    return receiver.address();
  }

  public String pin() {
    return identity.pin();
  }

  public Path tokenFile() {
    return identity.tokenFile();
  }

  /** The address of image {@code name} on this receiver, pinned, with its token. */
  public String uri(String name) {
    return uri(port(), name);
  }

  /** {@link #uri(String)} through another port of this host (a proxy before the receiver). */
  public String uri(int port, String name) {
    return "cbtfs://127.0.0.1:%d/%s?pin=%s&token-file=%s".formatted(port, name, pin(), tokenFile());
  }

  /** Connections accepted so far. */
  public long accepted() {
    return receiver.accepted.get();
  }

  /** Waits until no connection is being served. */
  public void awaitIdle() throws InterruptedException {
    receiver.awaitIdle();
  }

  private static void deleteTree(Path top) throws IOException {
    if (top == null || !Files.exists(top)) {
      return;
    }
    try (Stream<Path> all = Files.walk(top)) {
      for (Path p : (Iterable<Path>) all.sorted(Comparator.reverseOrder())::iterator) {
        Files.deleteIfExists(p);
      }
    }
  }
}
