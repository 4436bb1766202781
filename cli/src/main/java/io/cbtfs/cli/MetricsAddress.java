package io.cbtfs.cli;

import io.cbtfs.nbd.HostPort;
import java.net.InetSocketAddress;

/**
 * Where a mount serves its metrics ({@code --metrics}): {@code PORT} alone is loopback (127.0.0.1),
 * {@code HOST:PORT} or {@code [IPV6]:PORT} binds where the operator says ({@link HostPort} reads
 * it, as it reads {@code --nbd}'s TCP addresses).
 *
 * @param host a name or address literal (brackets removed)
 * @param port 1 to 65535
 */
record MetricsAddress(String host, int port) {
  /**
   * Parses {@code text}.
   *
   * @throws IllegalArgumentException saying what is wrong (a usage error)
   */
  static MetricsAddress parse(String text) {
    HostPort tcp = HostPort.parse(text, "PORT or HOST:PORT");
    return new MetricsAddress(tcp.host(), tcp.port());
  }

  InetSocketAddress socketAddress() {
    return tcp().socketAddress();
  }

  private HostPort tcp() {
    return new HostPort(host, port);
  }

  @Override
  public String toString() {
    return tcp().toString();
  }
}
