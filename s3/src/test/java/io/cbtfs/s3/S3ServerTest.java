package io.cbtfs.s3;

import io.cbtfs.syncer.SyncFixture;
import io.cbtfs.syncer.Syncer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the S3 tests share: one S3Proxy per test class, a bucket of its own for each test (no test
 * sees another's objects), and a 4 MiB image with its tracking.
 */
abstract class S3ServerTest {
  @TempDir static Path serverDir;
  static S3ProxyServer server;
  private static int bucketSeq;

  @TempDir Path tmp;
  String bucket;
  SyncFixture fx;
  final Syncer syncer = new Syncer(256 << 10, 2);

  @BeforeAll
  static void startServer() throws IOException {
    server = S3ProxyServer.start(serverDir);
  }

  @AfterAll
  static void stopServer() throws InterruptedException {
    server.close();
  }

  @BeforeEach
  void setUp() throws IOException {
    bucket = "bucket-" + ++bucketSeq;
    Files.createDirectories(server.bucketDir(bucket));
    fx = new SyncFixture(Files.createDirectory(tmp.resolve("src")), 4 << 20, 5);
  }

  @AfterEach
  void tearDown() throws IOException {
    fx.close();
  }

  static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** The objects the server holds under {@code under} in this test's bucket. */
  long objects(String under) throws IOException {
    Path p = server.bucketDir(bucket).resolve(under);
    if (!Files.exists(p)) {
      return 0;
    }
    try (Stream<Path> s = Files.walk(p)) {
      return s.filter(Files::isRegularFile).count();
    }
  }
}
