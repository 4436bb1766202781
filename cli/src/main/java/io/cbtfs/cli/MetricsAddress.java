package io.cbtfs.cli;

import java.net.InetSocketAddress;

/**
 * Where a mount serves its metrics ({@code --metrics}): {@code PORT} alone is loopback (127.0.0.1),
 * {@code HOST:PORT} or {@code [IPV6]:PORT} binds where the operator says.
 *
 * @param host a name or address literal (brackets removed)
 * @param port 1 to 65535
 */
record MetricsAddress(String host, int port) {
  static final String LOOPBACK = "127.0.0.1";

  /**
   * Parses {@code text}.
   *
   * @throws IllegalArgumentException saying what is wrong (a usage error)
   */
  static MetricsAddress parse(String text) {
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
      throw new IllegalArgumentException("expected PORT or HOST:PORT");
    }
    if (p < 1 || p > 65535) {
      throw new IllegalArgumentException("the port must be 1 to 65535");
    }
    return new MetricsAddress(host, p);
  }

  InetSocketAddress socketAddress() {
    return new InetSocketAddress(host, port);
  }

  @Override
  public String toString() {
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }
}
