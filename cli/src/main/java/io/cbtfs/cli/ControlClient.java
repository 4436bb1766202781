package io.cbtfs.cli;

import io.cbtfs.syncer.Printable;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/** Sends one request to a running mount's control socket ({@link ControlProtocol}). */
final class ControlClient {
  /** A Unix socket's connect does not wait for a mount that accepts; this bounds one that hangs. */
  static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

  /**
   * The longest silence between two frames of an answer. A running request sends progress or ALIVE
   * at least every {@link ControlServer.Limits#aliveAfter} (5 s), however long it takes, so silence
   * this long means the mount's process is stopped or stuck.
   */
  static final Duration READ_TIMEOUT = Duration.ofSeconds(60);

  private ControlClient() {}

  /**
   * Connects to the mount whose state directory is {@code stateDir}.
   *
   * @return empty if no mount listens there (no socket, or a stale one)
   * @throws CbtfsException "permission denied" if this user may not reach the socket
   */
  static Optional<ControlChannel> connect(Path stateDir) throws IOException {
    Path socket = ControlProtocol.socketPath(stateDir);
    try {
      Files.readAttributes(socket, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (AccessDeniedException e) {
      throw permissionDenied(socket);
    }
    if (!Files.isWritable(socket)) { // connecting needs write permission on the socket
      throw permissionDenied(socket);
    }
    try {
      return Optional.of(ControlChannel.connect(socket, CONNECT_TIMEOUT.toNanos()));
    } catch (ConnectException e) {
      return Optional.empty(); // nothing listens: a mount that died left its socket
    } catch (SocketException e) { // e.g. EAGAIN: the mount accepts nothing, its backlog is full
      throw new CbtfsException(
          "cannot connect to the mount's control socket " + socket + ": " + e.getMessage());
    } catch (SocketTimeoutException e) {
      throw new CbtfsException(
          "the mount's control socket "
              + socket
              + " did not accept a connection within "
              + CONNECT_TIMEOUT.toSeconds()
              + " s: is the mount's process stopped?");
    }
  }

  /** A cbtfs mount is on {@code mountPoint}, but nothing answers on its control socket. */
  static CbtfsException notAnswering(Path mountPoint) {
    return new CbtfsException(
        "the cbtfs mount on "
            + mountPoint
            + " does not answer on its control socket (is its process gone?)");
  }

  static CbtfsException permissionDenied(Path socket) {
    return new CbtfsException(
        "permission denied: cannot use the mount's control socket "
            + socket
            + " (only root or the user who mounted it may)");
  }

  /**
   * Sends {@code request}, hands each PROGRESS to {@code progress}, and returns the mount's reply
   * once it says OK; closes the channel.
   *
   * @throws CbtfsException with the mount's message when it answers ERR
   */
  static <R> R call(ControlChannel channel, ControlRequest<R> request, SyncProgress progress)
      throws IOException {
    try (channel) {
      byte[] frame = ControlProtocol.encode(request);
      long now = System.nanoTime();
      IOException writeFailed = null;
      try {
        channel.writeFully(ByteBuffer.wrap(frame), now + CONNECT_TIMEOUT.toNanos());
      } catch (IOException e) {
        // a mount that refused the connection (busy, permission) closed it after its answer
        writeFailed = e;
      }
      return request.replyCodec().decode(answer(channel, progress, writeFailed));
    }
  }

  private static Map<String, String> answer(
      ControlChannel channel, SyncProgress progress, IOException writeFailed) throws IOException {
    Map<String, String> fields = new LinkedHashMap<>();
    while (true) {
      ControlProtocol.Frame f;
      try {
        f =
            ControlProtocol.readReply(
                channel.inputUntil(System.nanoTime() + READ_TIMEOUT.toNanos()));
      } catch (IOException e) {
        if (writeFailed != null) {
          throw writeFailed;
        }
        if (e instanceof SocketTimeoutException) {
          throw new CbtfsException(
              "the mount sent nothing for "
                  + READ_TIMEOUT.toSeconds()
                  + " s: is its process stopped or stuck?");
        }
        throw e;
      }
      switch (f.type()) {
        case ControlProtocol.OK -> {
          return fields;
        }
        case ControlProtocol.ERR ->
            throw new CbtfsException(Printable.escaped(ControlProtocol.message(f)));
        case ControlProtocol.FIELD -> {
          String[] kv = ControlProtocol.keyValue(f);
          fields.put(kv[0], kv[1]);
        }
        case ControlProtocol.PROGRESS -> {
          long[] p = ControlProtocol.progress(f);
          progress.update(p[0], p[1], p[2], p[3]);
        }
        case ControlProtocol.ALIVE -> {}
        case ControlProtocol.DRAINED -> progress.drained();
        case ControlProtocol.MEMBER -> progress.member(ControlProtocol.member(f));
        default ->
            throw new ControlProtocolException("protocol error: unknown reply type " + f.type());
      }
    }
  }
}
