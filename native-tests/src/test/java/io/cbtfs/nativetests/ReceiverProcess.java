package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code cbtfs receive} as an operator runs it: an identity made in a root with {@code --init},
 * then the receiver in its own process on a free port of 127.0.0.1, started and killed at will.
 * {@link #close} kills it if it runs.
 */
final class ReceiverProcess implements AutoCloseable {
  private static final Pattern PIN = Pattern.compile("fingerprint \\(pin\\): ([0-9a-f]{64})");

  final Path root;
  final int port;
  private String pin;
  private Process process;

  private ReceiverProcess(Path root, int port) {
    this.root = root;
    this.port = port;
  }

  /** A receiver's identity in {@code root} (cbtfs makes it if missing), not yet listening. */
  static ReceiverProcess init(Path root) throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    ReceiverProcess r = new ReceiverProcess(root, port);
    r.init();
    return r;
  }

  /** {@code cbtfs receive --init}: a new identity (where a mount hid the first one, say). */
  void init() {
    Tools.Result init = Cbtfs.run("receive", "--init", "--root", root.toString());
    assertThat(init.exitCode()).as(init.output()).isZero();
    Matcher m = PIN.matcher(init.output());
    assertThat(m.find()).as(init.output()).isTrue();
    pin = m.group(1);
  }

  /** Starts the receiver and returns once it receives. */
  void start() throws Exception {
    process =
        Cbtfs.startAwaiting(
            "cbtfs: receiving on",
            "receive",
            "--root",
            root.toString(),
            "--listen",
            "127.0.0.1:" + port);
  }

  /** kill -9 of the receiver, and waits (at most 30 s) until it is gone. */
  void kill() throws InterruptedException {
    process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
  }

  /** {@code cbtfs://127.0.0.1:PORT/NAME} with the receiver's pin and token. */
  String uri(String name) {
    return uri(port, name);
  }

  /** {@link #uri(String)} through {@code port}: a proxy in front of the receiver. */
  String uri(int port, String name) {
    return "cbtfs://127.0.0.1:"
        + port
        + "/"
        + name
        + "?pin="
        + pin
        + "&token-file="
        + root.resolve(".cbtfs-receiver/token");
  }

  @Override
  public void close() throws InterruptedException {
    if (process != null) {
      kill();
    }
  }
}
