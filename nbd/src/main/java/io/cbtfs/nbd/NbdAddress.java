package io.cbtfs.nbd;

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
    HostPort tcp = HostPort.parse(text, "unix:PATH, PORT or HOST:PORT");
    return new NbdAddress(null, tcp.host(), tcp.port());
  }

  public boolean isUnix() {
    return socketPath != null;
  }

  SocketAddress socketAddress() {
    return isUnix() ? UnixDomainSocketAddress.of(socketPath) : tcp().socketAddress();
  }

  private HostPort tcp() {
    return new HostPort(host, port);
  }

  /**
   * The form a client's URI uses: {@code nbd+unix:///IMAGE?socket=PATH} or {@code
   * nbd://HOST:PORT/IMAGE}.
   */
  public String uri(String exportName) {
    return isUnix()
        ? "nbd+unix:///" + exportName + "?socket=" + socketPath
        : "nbd://" + tcp() + "/" + exportName;
  }

  @Override
  public String toString() {
    return isUnix() ? "unix:" + socketPath : tcp().toString();
  }
}
