package io.cbtfs.cli;

import io.cbtfs.fs.Posix;
import io.cbtfs.syncer.remote.Receiver;
import io.cbtfs.syncer.remote.Tls;
import io.cbtfs.tracker.CbtfsException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cbtfs receive}: keep replicas and archives for remote senders. */
@Command(
    name = "receive",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Keep replicas and archives under a folder for authenticated remote senders.",
    description = {
      "Senders sync to cbtfs://HOST:PORT/NAME (a replica ROOT/NAME.img) or "
          + "cbtfs://HOST:PORT/NAME?archive (ROOT/NAME.archive), over TLS 1.3 with the "
          + "receiver's certificate pinned by fingerprint (pin=...) and a shared token "
          + "(token-file=...) proven by HMAC, never sent.",
      "",
      "First run: cbtfs receive --init --root DIR creates the key, certificate and token in "
          + "DIR/.cbtfs-receiver and prints what senders need. Runs in the foreground.",
      "",
      "Everything it creates is for its own user only: folders 0700 (the root too, if it "
          + "makes it), files 0600."
    })
final class ReceiveCommand implements Callable<Integer> {
  @Option(
      names = "--root",
      paramLabel = "DIR",
      required = true,
      description = "Folder the replicas and archives live in.")
  Path root;

  @Option(
      names = "--listen",
      paramLabel = "ADDR:PORT",
      defaultValue = "0.0.0.0:7450",
      description = "Where to listen (default: ${DEFAULT-VALUE}).")
  String listen;

  @Option(
      names = "--init",
      description =
          "Create the receiver's key, certificate and token, " + "print the fingerprint and exit.")
  boolean init;

  @Option(
      names = "--token-file",
      paramLabel = "FILE",
      description = "The shared token (default: ROOT/.cbtfs-receiver/token).")
  Path tokenFile;

  @Option(names = "--insecure", description = "Plain TCP without TLS: for loopback tests only.")
  boolean insecure;

  @Option(
      names = "--max-connections",
      paramLabel = "N",
      defaultValue = "8",
      description = "Concurrent senders (default: ${DEFAULT-VALUE}).")
  int maxConnections;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    Logging.configure(false, null);
    // Replicas are other hosts' disks: everything this process makes (the root, the replicas,
    // archives, staging files, the identity) is for its own user alone, 0700 and 0600.
    Posix.get().libc().umask(077);
    warnIfOthersMayEnter(root.toAbsolutePath().normalize());
    requireOwnFolder(root.toAbsolutePath().normalize());
    Path identity = root.toAbsolutePath().normalize().resolve(".cbtfs-receiver");
    if (init) {
      String fingerprint = Tls.init(identity);
      spec.commandLine()
          .getOut()
          .printf(
              "receiver initialised in %s%n  fingerprint (pin): %s%n  token file: %s (copy it to "
                  + "each sender, mode 0600)%n  senders use: cbtfs://THIS-HOST:%s/NAME?pin=%s"
                  + "&token-file=/path/to/token%n",
              identity, fingerprint, identity.resolve("token"), port(listen), fingerprint);
      return CbtfsCommand.EXIT_OK;
    }
    Path token = tokenFile != null ? tokenFile : identity.resolve("token");
    if (!Files.exists(token)) {
      throw new CbtfsException("no token at " + token + " (run cbtfs receive --init first)");
    }
    Receiver.Options options =
        new Receiver.Options(
            address(listen),
            root.toAbsolutePath().normalize(),
            io.cbtfs.syncer.remote.Tokens.load(token),
            insecure ? null : Tls.server(identity),
            maxConnections,
            60_000);
    try (Receiver r = Receiver.start(options)) {
      spec.commandLine()
          .getOut()
          .printf(
              "cbtfs: receiving on %s into %s%s%n",
              r.address(), options.root(), insecure ? " (INSECURE: plain TCP)" : "");
      spec.commandLine().getOut().flush();
      CountDownLatch stop = new CountDownLatch(1);
      Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
      stop.await();
    }
    return CbtfsCommand.EXIT_OK;
  }

  /**
   * Refuses a root that a running mount serves (its replicas would be served as images and could be
   * changed through the mount) or that is a mount's state directory.
   */
  private static void requireOwnFolder(Path root) throws java.io.IOException {
    if (!Files.isDirectory(root)) {
      return; // --init makes it
    }
    io.cbtfs.fs.mount.Mount.requireUnserved(root, "receiver root");
    if (Files.exists(root.resolve(ControlProtocol.SOCKET_NAME))) {
      throw new CbtfsException(
          "receiver root " + root + " is a cbtfs mount's state directory: choose another");
    }
  }

  /** A root cbtfs did not make is left as it is; say so if other users may look into it. */
  private void warnIfOthersMayEnter(Path dir) throws java.io.IOException {
    if (!Files.isDirectory(dir)) {
      return;
    }
    var mode = Files.getPosixFilePermissions(dir);
    if (mode.contains(PosixFilePermission.OTHERS_EXECUTE)
        || mode.contains(PosixFilePermission.GROUP_EXECUTE)) {
      spec.commandLine()
          .getErr()
          .printf(
              "cbtfs receive: note: other users may enter %s (%s); the replicas are 0600, but "
                  + "their names show (chmod 700 %s to hide them)%n",
              dir, PosixFilePermissions.toString(mode), dir);
      spec.commandLine().getErr().flush();
    }
  }

  private static String port(String listen) {
    return listen.substring(listen.lastIndexOf(':') + 1);
  }

  private static InetSocketAddress address(String listen) {
    int colon = listen.lastIndexOf(':');
    if (colon <= 0) {
      throw new IllegalArgumentException("--listen needs ADDR:PORT, not " + listen);
    }
    try {
      return new InetSocketAddress(
          listen.substring(0, colon), Integer.parseInt(listen.substring(colon + 1)));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--listen needs a port number: " + listen);
    }
  }
}
