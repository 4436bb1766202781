package io.cbtfs.cli;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.mount.Mount;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.Threads;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.TrackedImage;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the control socket of a running mount. The mount often runs as root, so the socket is a
 * way into root: it lives in the 0700 state directory, and each connection's peer (SO_PEERCRED)
 * must be root or the mount's own user.
 */
final class ControlServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ControlServer.class);

  private final Mount mount;
  private final Path socketPath;
  private final ServerSocketChannel server;
  private final ExecutorService handlers =
      Executors.newFixedThreadPool(4, Threads.daemon("cbtfs-control"));
  private final Thread acceptor;
  private final String ownerName = System.getProperty("user.name");
  private volatile boolean closed;

  private ControlServer(Mount mount, Path socketPath, ServerSocketChannel server) {
    this.mount = mount;
    this.socketPath = socketPath;
    this.server = server;
    this.acceptor = Threads.daemon("cbtfs-control-accept").newThread(this::acceptLoop);
  }

  /** Binds the socket in the mount's state directory (which the mount holds locked). */
  static ControlServer start(Mount mount) throws IOException {
    Path socketPath = ControlProtocol.socketPath(mount.options().stateDir());
    Files.deleteIfExists(socketPath); // stale from a crash: the state-dir lock says it is ours
    ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socketPath));
    ControlServer cs = new ControlServer(mount, socketPath, server);
    cs.acceptor.start();
    return cs;
  }

  private void acceptLoop() {
    while (!closed) {
      try {
        SocketChannel client = server.accept();
        handlers.execute(() -> serve(client));
      } catch (IOException e) {
        if (!closed) {
          log.warn("control socket accept failed: {}", e.getMessage());
        }
        return;
      }
    }
  }

  private void serve(SocketChannel client) {
    try (client;
        BufferedReader in =
            new BufferedReader(
                new InputStreamReader(Channels.newInputStream(client), StandardCharsets.UTF_8));
        PrintWriter out =
            new PrintWriter(Channels.newOutputStream(client), true, StandardCharsets.UTF_8)) {
      UnixDomainPrincipal peer = client.getOption(ExtendedSocketOptions.SO_PEERCRED);
      String user = peer.user().getName();
      if (!user.equals("root") && !user.equals(ownerName)) {
        out.println(
            ControlProtocol.ERR
                + "permission denied: only root or "
                + ownerName
                + " may control this mount");
        log.warn("refused control connection from user {}", user);
        return;
      }
      String line = readLine(in);
      try {
        handle(line, out);
      } catch (IOException | RuntimeException e) {
        out.println(ControlProtocol.ERR + Errors.describe(e));
      }
    } catch (IOException e) {
      log.debug("control connection failed: {}", e.getMessage());
    }
  }

  private static String readLine(BufferedReader in) throws IOException {
    char[] buf = new char[ControlProtocol.MAX_LINE];
    int n = 0;
    int c;
    while ((c = in.read()) >= 0 && c != '\n') {
      if (n == buf.length) {
        throw new IOException("request line too long");
      }
      buf[n++] = (char) c;
    }
    return new String(buf, 0, n);
  }

  private void handle(String line, PrintWriter out) throws IOException {
    int space = line.indexOf(' ');
    String verb = space < 0 ? line : line.substring(0, space);
    String arg = space < 0 ? "" : line.substring(space + 1);
    switch (verb) {
      case "PING" -> out.println(ControlProtocol.OK);
      case "STATUS" -> {
        for (Map.Entry<String, String> f : status(arg).toFields().entrySet()) {
          out.println(f.getKey() + "=" + f.getValue().replace('\n', ' '));
        }
        out.println(ControlProtocol.OK);
      }
      case "SYNC" -> {
        String[] a = arg.split("\t");
        if (a.length != 3) {
          throw new IllegalArgumentException("SYNC needs name, target and full");
        }
        SyncReport report =
            SyncRunner.inMount(mount, a[0], a[1], Boolean.parseBoolean(a[2]), throttled(out));
        for (Map.Entry<String, String> f : report.toFields().entrySet()) {
          out.println(f.getKey() + "=" + f.getValue());
        }
        out.println(ControlProtocol.OK);
      }
      case "UNMOUNT" -> {
        mount.close();
        out.println(ControlProtocol.OK);
      }
      default -> out.println(ControlProtocol.ERR + "unknown request '" + verb + "'");
    }
  }

  /** Progress lines to the client, at most ten a second (and the last one). */
  private static SyncProgress throttled(PrintWriter out) {
    long[] last = {0};
    return (doneBytes, totalBytes, doneBlocks, totalBlocks) -> {
      long now = System.nanoTime();
      if (now - last[0] >= 100_000_000L || doneBytes == totalBytes) {
        last[0] = now;
        out.println(
            SyncRunner.PROGRESS
                + doneBytes
                + " "
                + totalBytes
                + " "
                + doneBlocks
                + " "
                + totalBlocks);
      }
    };
  }

  private ImageStatus status(String name) throws IOException {
    ImageFiles files = mount.fileSystem().files();
    Path backing = files.existingImage(name);
    long size = Files.size(backing);
    TrackedImage image = mount.fileSystem().trackers().image(name, () -> files.fingerprint(name));
    DirtySet dirty = image.tracker().snapshot().within(size);
    return new ImageStatus(
        name,
        size,
        image.tracker().geometry().blockSize(),
        dirty.blockCount(),
        dirty.byteCount(size),
        image.tracker().committedGeneration(),
        image.lineage().toString(),
        "mounted",
        true,
        switch (image.recovery().kind()) {
          case NEW, CLEAN -> "";
          default -> image.recovery().describe();
        },
        image.verifyNextSync(),
        List.of());
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      server.close();
    } catch (IOException e) {
      log.debug("closing control socket: {}", e.getMessage());
    }
    handlers.shutdown();
    try {
      if (!handlers.awaitTermination(60, TimeUnit.SECONDS)) {
        log.warn("control requests still running at shutdown");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try {
      Files.deleteIfExists(socketPath);
    } catch (IOException e) {
      log.debug("removing control socket: {}", e.getMessage());
    }
  }
}
