package io.cbtfs.s3;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP proxy in front of the test S3 server that answers every {@code n}-th request itself with
 * an error (503 SlowDown or 500 InternalError), as a throttling or failing object store does. One
 * request per connection (it asks both sides to close), so it never has to find where a kept-alive
 * response ends.
 */
final class FaultyHttpProxy implements AutoCloseable {
  private final ServerSocket server;
  private final int upstreamPort;
  private final int every;
  private final int status;
  private final AtomicInteger requests = new AtomicInteger();
  final AtomicInteger injected = new AtomicInteger();

  /** The first line of every request, as {@code METHOD PATH HTTP/1.1}. */
  final java.util.Queue<String> requestLines = new java.util.concurrent.ConcurrentLinkedQueue<>();

  private final ExecutorService pool = Executors.newCachedThreadPool();

  /** Fails every {@code every}-th request with HTTP {@code status} (503 or 500). */
  FaultyHttpProxy(int upstreamPort, int every, int status) throws IOException {
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    this.upstreamPort = upstreamPort;
    this.every = every;
    this.status = status;
    pool.execute(this::accept);
  }

  String endpoint() {
    return "http://127.0.0.1:" + server.getLocalPort();
  }

  private void accept() {
    while (!server.isClosed()) {
      try {
        Socket s = server.accept();
        pool.execute(() -> handle(s));
      } catch (IOException e) {
        return;
      }
    }
  }

  private void handle(Socket client) {
    try (client) {
      InputStream in = client.getInputStream();
      String head = readHead(in);
      requestLines.add(head.split("\r\n", 2)[0]);
      long length = 0;
      boolean expectContinue = false;
      StringBuilder forwarded = new StringBuilder();
      for (String line : head.split("\r\n")) {
        String lower = line.toLowerCase(Locale.ROOT);
        if (lower.startsWith("content-length:")) {
          length = Long.parseLong(line.substring(15).trim());
        }
        if (lower.startsWith("expect:") && lower.contains("100-continue")) {
          expectContinue = true;
          continue;
        }
        if (!lower.startsWith("connection:")) {
          forwarded.append(line).append("\r\n");
        }
      }
      if (expectContinue) { // the client sends the body only when asked to
        client
            .getOutputStream()
            .write("HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
      }
      byte[] body = in.readNBytes((int) length);
      if (requests.incrementAndGet() % every == 0) {
        injected.incrementAndGet();
        String code = status == 503 ? "SlowDown" : "InternalError";
        String xml = "<Error><Code>" + code + "</Code><Message>injected</Message></Error>";
        String reply =
            "HTTP/1.1 "
                + status
                + (status == 503 ? " Slow Down" : " Internal Server Error")
                + "\r\nContent-Type: application/xml\r\nContent-Length: "
                + xml.length()
                + "\r\nConnection: close\r\n\r\n"
                + xml;
        client.getOutputStream().write(reply.getBytes(StandardCharsets.US_ASCII));
        return;
      }
      try (Socket up = new Socket(InetAddress.getLoopbackAddress(), upstreamPort)) {
        OutputStream o = up.getOutputStream();
        o.write((forwarded + "Connection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        o.write(body);
        o.flush();
        up.getInputStream().transferTo(client.getOutputStream());
      }
    } catch (IOException e) {
      // the client gave up: nothing to do
    }
  }

  private static String readHead(InputStream in) throws IOException {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    int matched = 0;
    while (matched < 4) {
      int c = in.read();
      if (c < 0) {
        throw new IOException("closed in the request head");
      }
      b.write(c);
      matched = (c == '\r' || c == '\n') && "\r\n\r\n".charAt(matched) == c ? matched + 1 : 0;
    }
    String head = b.toString(StandardCharsets.ISO_8859_1);
    return head.substring(0, head.length() - 4);
  }

  @Override
  public void close() throws IOException {
    server.close();
    pool.shutdownNow();
  }
}
