package io.cbtfs.nbd;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;

/**
 * Where an NBD server listens ({@code --nbd}): {@code unix:PATH}, {@code PORT} alone (loopback,
 * 127.0.0.1), or {@code HOST:PORT} / {@code [IPV6]:PORT} where the operator says.
 *
 * @param socketPath the Unix socket's path, or null for TCP
 * @param host a name or address literal (brackets removed), or null for a Unix socket
 */
public record NbdAddress(Path socketPath, String host, int port) {
  static final String LOOPBACK = "127.0.0.1";

  /**
   * Parses {@code text}.
   *
   * @throws IllegalArgumentException saying what is wrong (a usage error)
   */
  public static NbdAddress parse(String text) {
    if (text.startsWith("unix:")) {
      String path = text.substring("unix:".length());
      if (path.isEmpty()) {
        throw new IllegalArgumentException("no path after 'unix:'");
      }
      return new NbdAddress(Path.of(path).toAbsolutePath(), null, 0);
    }
    String host = LOOPBACK;
    String port = text;
    int colon = text.lastIndexOf(':');
    if (colon >= 0) {
      host = text.substring(0, colon);
      port = text.substring(colon + 1);
      if (host.startsWith("[") && host.endsWith("]")) {
        host = host.substring(1, host.length() - 1);
      } else if (host.contains(":")) {
        throw new IllegalArgumentException("an IPv6 address goes in brackets: [ADDRESS]:PORT");
      }
      if (host.isEmpty()) {
        throw new IllegalArgumentException("no host before ':' (give PORT alone for loopback)");
      }
    }
    int p;
    try {
      p = Integer.parseInt(port);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("expected unix:PATH, PORT or HOST:PORT");
    }
    if (p < 1 || p > 65535) {
      throw new IllegalArgumentException("the port must be 1 to 65535");
    }
    return new NbdAddress(null, host, p);
  }

  public boolean isUnix() {
    return socketPath != null;
  }

  SocketAddress socketAddress() {
    return isUnix() ? UnixDomainSocketAddress.of(socketPath) : new InetSocketAddress(host, port);
  }

  /**
   * The form a client's URI uses: {@code nbd+unix:///IMAGE?socket=PATH} or {@code
   * nbd://HOST:PORT/IMAGE}.
   */
  public String uri(String exportName) {
    return isUnix()
        ? "nbd+unix:///" + exportName + "?socket=" + socketPath
        : "nbd://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port + "/" + exportName;
  }

  @Override
  public String toString() {
    return isUnix()
        ? "unix:" + socketPath
        : (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }
}
