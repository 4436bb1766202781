package io.cbtfs.s3;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real S3 API server for tests: S3Proxy with its filesystem backend, on loopback, in its own JVM
 * (so a test can stop it mid-sync). Buckets are directories under {@link #data}. The jar comes from
 * Maven Central through the build (system property {@code cbtfs.s3proxy.jar}).
 */
public final class S3ProxyServer implements AutoCloseable {
  public static final String IDENTITY = "cbtfs-test-identity";
  public static final String CREDENTIAL = "cbtfs-test-credential";

  private final Path dir;
  private final Path data;
  private final int port;
  private Process process;

  private S3ProxyServer(Path dir, int port) {
    this.dir = dir;
    this.data = dir.resolve("data");
    this.port = port;
  }

  /** Starts a server whose state lives under {@code dir}, with {@code buckets} created. */
  public static S3ProxyServer start(Path dir, String... buckets) throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    S3ProxyServer server = new S3ProxyServer(dir, port);
    Files.createDirectories(server.data);
    for (String b : buckets) {
      Files.createDirectories(server.data.resolve(b));
    }
    Files.writeString(
        dir.resolve("s3proxy.conf"),
        String.join(
            "\n",
            "s3proxy.endpoint=http://127.0.0.1:" + port,
            "s3proxy.authorization=aws-v2-or-v4",
            "s3proxy.identity=" + IDENTITY,
            "s3proxy.credential=" + CREDENTIAL,
            "jclouds.provider=filesystem",
            "jclouds.filesystem.basedir=" + server.data,
            ""));
    Files.writeString(
        dir.resolve("credentials"),
        "[default]\naws_access_key_id = "
            + IDENTITY
            + "\naws_secret_access_key = "
            + CREDENTIAL
            + "\n");
    server.startProcess();
    return server;
  }

  private void startProcess() throws IOException {
    String jar = System.getProperty("cbtfs.s3proxy.jar");
    if (jar == null || !Files.isRegularFile(Path.of(jar))) {
      throw new IllegalStateException(
          "S3Proxy jar not found (system property cbtfs.s3proxy.jar = " + jar + "): run via mvn");
    }
    process =
        new ProcessBuilder(
                List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx256m",
                    "-jar",
                    jar,
                    "--properties",
                    dir.resolve("s3proxy.conf").toString()))
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("s3proxy.log").toFile())
            .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (true) { // ready when the port accepts: there is no other signal to wait on
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
        return;
      } catch (IOException e) {
        if (!process.isAlive() || System.nanoTime() > deadline) {
          throw new IOException(
              "S3Proxy did not start: " + Files.readString(dir.resolve("s3proxy.log")), e);
        }
        try {
          Thread.sleep(50);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new IOException(ie);
        }
      }
    }
  }

  public String endpoint() {
    return "http://127.0.0.1:" + port;
  }

  /** An AWS credentials file with this server's keys (profile "default"). */
  public Path credentialsFile() {
    return dir.resolve("credentials");
  }

  /** Where the backend keeps bucket {@code bucket}'s objects, one file per key. */
  public Path bucketDir(String bucket) {
    return data.resolve(bucket);
  }

  /** {@code s3://bucket/path?endpoint=…&credentials-file=…} for this server. */
  public String uri(String bucketAndPath) {
    return "s3://"
        + bucketAndPath
        + "?endpoint="
        + endpoint()
        + "&credentials-file="
        + credentialsFile();
  }

  /** Kills the server (as a crash would); {@link #restart} brings it back with its data. */
  public void stop() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor();
  }

  public void restart() throws IOException {
    startProcess();
  }

  @Override
  public void close() throws InterruptedException {
    stop();
  }
}
