package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.s3.S3ProxyServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The S3 target as an operator uses it: images written through a daemon mount, synced to a real S3
 * API server (S3Proxy on loopback) with credentials from AWS_SHARED_CREDENTIALS_FILE, restored,
 * verified, listed and swept with the cbtfs command.
 */
class S3IT {
  @TempDir Path tmp;
  DaemonMount folder;
  S3ProxyServer server;
  Map<String, String> env;
  String endpoint;

  @BeforeEach
  void setUp() throws IOException {
    folder = DaemonMount.prepare(tmp);
    byte[] image = new byte[16 << 20];
    new Random(1).nextBytes(image);
    java.util.Arrays.fill(image, 4 << 20, 6 << 20, (byte) 0);
    Files.write(folder.backingFile("vm1.raw"), image);
    server = S3ProxyServer.start(Files.createDirectory(tmp.resolve("s3")), "backups");
    env = Map.of("AWS_SHARED_CREDENTIALS_FILE", server.credentialsFile().toString());
    endpoint = server.endpoint();
    folder.mount();
  }

  @AfterEach
  void tearDown() throws Exception {
    folder.close();
    server.close();
  }

  Tools.Result cbtfs(String... args) {
    return Cbtfs.run(env, args);
  }

  Tools.Result ok(String... args) {
    Tools.Result r = cbtfs(args);
    assertThat(r.exitCode()).as(String.join(" ", args) + ":\n" + r.output()).isZero();
    return r;
  }

  void writeThroughMount(String image, long offset, int length, long seed) throws IOException {
    byte[] data = new byte[length];
    new Random(seed).nextBytes(data);
    try (var ch =
        java.nio.channels.FileChannel.open(
            folder.image(image), java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(java.nio.ByteBuffer.wrap(data), offset);
    }
  }

  long chunks() {
    Tools.Result ls = ok("ls", "--json", "s3://backups/fleet", "--s3-endpoint", endpoint);
    Matcher m = Pattern.compile("\"chunks\":(\\d+)").matcher(ls.output());
    assertThat(m.find()).as(ls.output()).isTrue();
    return Long.parseLong(m.group(1));
  }

  @Test
  void syncRestoreCloneVerifyListAndSweep() throws IOException {
    String vm1 = "s3://backups/fleet/vm1";
    Path[] copies = new Path[4];
    for (int gen = 1; gen <= 3; gen++) {
      if (gen > 1) {
        writeThroughMount("vm1.raw", gen * (3L << 20), 1 << 20, gen); // one whole 1 MiB cell
      }
      Tools.Result sync =
          ok("sync", folder.image("vm1.raw").toString(), vm1, "--s3-endpoint", endpoint);
      assertThat(sync.output()).contains("generation " + gen);
      copies[gen] = tmp.resolve("vm1-gen" + gen);
      Files.copy(folder.backingFile("vm1.raw"), copies[gen]);
    }
    for (int gen = 1; gen <= 3; gen++) {
      Path out = tmp.resolve("restored-" + gen);
      ok(
          "restore",
          vm1,
          "--generation",
          Integer.toString(gen),
          out.toString(),
          "--s3-endpoint",
          endpoint);
      assertThat(Files.mismatch(out, copies[gen])).as("generation %d", gen).isEqualTo(-1L);
    }
    ok("verify", folder.image("vm1.raw").toString(), vm1, "--s3-endpoint", endpoint);
    Tools.Result none =
        cbtfs(
            "verify",
            folder.image("vm1.raw").toString(),
            "s3://backups/fleet/never-synced",
            "--s3-endpoint",
            endpoint);
    assertThat(none.exitCode()).isEqualTo(1);
    assertThat(none.output().strip())
        .contains("s3://backups/fleet/never-synced", "holds no generation yet")
        .doesNotContain("differ")
        .doesNotContain("\n");

    // a clone made through the mount costs no chunk: its every 1 MiB cell is in the store
    long before = chunks();
    Tools.run(
        "cp through the mount",
        "cp",
        folder.image("vm1.raw").toString(),
        folder.image("vm2.raw").toString());
    ok(
        "sync",
        folder.image("vm2.raw").toString(),
        "s3://backups/fleet/vm2",
        "--s3-endpoint",
        endpoint);
    assertThat(chunks()).isEqualTo(before);
    Tools.Result ls = ok("ls", "s3://backups/fleet", "--s3-endpoint", endpoint);
    assertThat(ls.output()).contains("vm1:", "vm2:", "generation 3", "incremental");

    // keep the last generation: older ones go, the latest still restores
    Tools.Result gc =
        ok("gc", "s3://backups/fleet", "--keep", "1", "--grace", "0", "--s3-endpoint", endpoint);
    assertThat(gc.output()).contains("2 generations removed");
    assertThat(chunks()).isEqualTo(before - 2); // the two cells generations 2 and 3 replaced
    Path latest = tmp.resolve("latest");
    ok("restore", vm1, latest.toString(), "--s3-endpoint", endpoint);
    assertThat(Files.mismatch(latest, copies[3])).isEqualTo(-1L);
    Tools.Result gone =
        cbtfs(
            "restore",
            vm1,
            "--generation",
            "1",
            tmp.resolve("old").toString(),
            "--s3-endpoint",
            endpoint);
    assertThat(gone.exitCode()).isEqualTo(1);
    assertThat(gone.output()).contains("no generation 1");
  }

  /**
   * A mount of 2 MiB blocks at the default --max-memory (a 64 MiB heap) syncs to S3: its chunks are
   * 2 MiB, and 16 of them in flight, each with a compressed copy, ran the mount out of heap.
   */
  @Test
  void twoMiBBlocksSyncToS3AtTheDefaultBudget() throws IOException {
    folder.close(); // setUp's mount, of 64 KiB blocks
    DaemonMount big = DaemonMount.prepare(Files.createDirectory(tmp.resolve("big")));
    try {
      byte[] image = new byte[96 << 20];
      Random rnd = new Random(9);
      byte[] piece = new byte[64 << 10];
      for (int at = 0; at < image.length; at += piece.length) {
        rnd.nextBytes(piece);
        System.arraycopy(piece, 0, image, at, piece.length * 3 / 4); // a quarter zeros: LZ4 helps
      }
      Files.write(big.backingFile("vm2.raw"), image);
      big.mount("--block-size", "2M");
      String vm2 = "s3://backups/fleet/vm2";
      Tools.Result sync =
          ok("sync", big.image("vm2.raw").toString(), vm2, "--s3-endpoint", endpoint);
      assertThat(sync.output()).contains("generation 1");
      Path out = tmp.resolve("vm2-restored");
      ok("restore", vm2, out.toString(), "--s3-endpoint", endpoint);
      assertThat(Files.mismatch(out, big.backingFile("vm2.raw"))).isEqualTo(-1L);
    } finally {
      big.close();
    }
  }

  @Test
  void wrongCredentialsFailClearlyAndKeepTheDirtyBlocks() throws IOException {
    Path bad = tmp.resolve("bad-credentials");
    Files.writeString(bad, "[default]\naws_access_key_id = nobody\naws_secret_access_key = x\n");
    writeThroughMount("vm1.raw", 0, 4096, 7);
    Tools.Result r =
        Cbtfs.run(
            Map.of("AWS_SHARED_CREDENTIALS_FILE", bad.toString()),
            "sync",
            folder.image("vm1.raw").toString(),
            "s3://backups/vm1",
            "--s3-endpoint",
            endpoint);
    assertThat(r.exitCode()).isEqualTo(1);
    assertThat(r.output()).contains("s3://backups/").contains("403");
    assertThat(r.output().strip().lines()).hasSize(1);
    Tools.Result status = ok("status", "--json", folder.image("vm1.raw").toString());
    assertThat(status.output()).contains("\"dirtyBlocks\":1").contains("\"generation\":0");
  }
}
