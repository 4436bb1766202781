package io.cbtfs.nbd;

import java.net.InetSocketAddress;

/**
 * A TCP address as an operator writes it: {@code PORT} alone (loopback, 127.0.0.1), {@code
 * HOST:PORT}, or {@code [IPV6]:PORT}. One parser for every option that takes one ({@code --nbd},
 * {@code --metrics}).
 *
 * @param host a name or address literal (brackets removed)
 * @param port 1 to 65535
 */
public record HostPort(String host, int port) {
  static final String LOOPBACK = "127.0.0.1";

  /**
   * Parses {@code text}.
   *
   * @param forms what the option takes, for the message when {@code text} has no port number
   * @throws IllegalArgumentException saying what is wrong (a usage error)
   */
  public static HostPort parse(String text, String forms) {
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
      throw new IllegalArgumentException("expected " + forms);
    }
    if (p < 1 || p > 65535) {
      throw new IllegalArgumentException("the port must be 1 to 65535");
    }
    return new HostPort(host, p);
  }

  /** The address to bind (unresolved if the host is an unknown name). */
  public InetSocketAddress socketAddress() {
    return new InetSocketAddress(host, port);
  }

  /** {@code HOST:PORT}, an IPv6 literal in brackets: what {@link #parse} reads back. */
  @Override
  public String toString() {
    return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
  }
}
