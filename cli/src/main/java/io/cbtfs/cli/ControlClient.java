package io.cbtfs.cli;

import io.cbtfs.tracker.CbtfsException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Sends one request to a running mount's control socket. */
final class ControlClient {
  private ControlClient() {}

  /**
   * Connects to the mount whose state directory is {@code stateDir}.
   *
   * @return empty if no mount listens there (no socket, or a stale one)
   */
  static Optional<SocketChannel> connect(Path stateDir) throws IOException {
    Path socket = ControlProtocol.socketPath(stateDir);
    if (!Files.exists(socket)) {
      return Optional.empty();
    }
    SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      channel.connect(UnixDomainSocketAddress.of(socket));
      return Optional.of(channel);
    } catch (java.net.ConnectException e) {
      channel.close();
      return Optional.empty();
    }
  }

  /**
   * Sends {@code request} and returns the reply lines before {@code OK}.
   *
   * @throws CbtfsException with the server's message on {@code ERR}
   */
  static List<String> call(SocketChannel channel, String request) throws IOException {
    return call(channel, request, line -> false);
  }

  /**
   * Like {@link #call(SocketChannel, String)}, handing each reply line to {@code listener} first;
   * lines it consumes (returns true for) are not returned.
   */
  static List<String> call(
      SocketChannel channel, String request, java.util.function.Predicate<String> listener)
      throws IOException {
    try (channel;
        PrintWriter out =
            new PrintWriter(Channels.newOutputStream(channel), true, StandardCharsets.UTF_8);
        BufferedReader in =
            new BufferedReader(
                new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8))) {
      out.println(request);
      List<String> lines = new ArrayList<>();
      String line;
      while ((line = in.readLine()) != null) {
        if (line.equals(ControlProtocol.OK)) {
          return lines;
        }
        if (line.startsWith(ControlProtocol.ERR)) {
          throw new CbtfsException(line.substring(ControlProtocol.ERR.length()));
        }
        if (!listener.test(line)) {
          lines.add(line);
        }
      }
      throw new IOException("the mount closed the control connection without an answer");
    }
  }

  static Map<String, String> fields(List<String> lines) {
    Map<String, String> m = new LinkedHashMap<>();
    for (String l : lines) {
      int eq = l.indexOf('=');
      if (eq > 0) {
        m.put(l.substring(0, eq), l.substring(eq + 1));
      }
    }
    return m;
  }
}
