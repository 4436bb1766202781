package io.cbtfs.nativetests;

import static io.cbtfs.nativetests.EncryptionFixture.contains;
import static io.cbtfs.nativetests.EncryptionFixture.createKey;
import static io.cbtfs.nativetests.EncryptionFixture.generation;
import static io.cbtfs.nativetests.Tools.random;
import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.s3.S3ProxyServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Client-side encryption as an operator uses it: keys made with {@code cbtfs key}, images written
 * through a daemon mount (the sync runs inside the mount, which reads the key file by its path),
 * synced encrypted to a real S3 API server (S3Proxy), restored, verified and swept; the bytes at
 * rest searched for a known block; a wrong key, a missing key and a flipped byte.
 */
class S3EncryptionIT {
  @TempDir Path tmp;
  DaemonMount folder;
  S3ProxyServer server;
  Map<String, String> env;
  String endpoint;
  final byte[] pattern = new byte[4096];

  @BeforeEach
  void setUp() throws IOException {
    folder = DaemonMount.prepare(tmp);
    byte[] image = new byte[16 << 20];
    new Random(1).nextBytes(image);
    new Random(4242).nextBytes(pattern);
    System.arraycopy(pattern, 0, image, 5 << 20, pattern.length); // known 4 KiB block
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
    List<String> all = new ArrayList<>(List.of(args));
    all.add("--s3-endpoint");
    all.add(endpoint);
    return Cbtfs.run(env, all.toArray(String[]::new));
  }

  Tools.Result ok(String... args) {
    Tools.Result r = cbtfs(args);
    assertThat(r.exitCode()).as(String.join(" ", args) + ":\n" + r.output()).isZero();
    return r;
  }

  String fingerprint(Path key) {
    return Cbtfs.run("key", "show", key.toString()).output().strip();
  }

  List<Path> storedFiles(String under) throws IOException {
    Path p = server.bucketDir("backups").resolve(under);
    if (!Files.exists(p)) {
      return List.of();
    }
    return EncryptionFixture.files(p);
  }

  @Test
  void fiveEncryptedGenerationsThroughAMountRoundTripAndNoPlaintextIsAtRest() throws IOException {
    Path key = createKey(tmp, "a");
    String vm1 = "s3://backups/fleet/vm1";
    List<Long> gens = new ArrayList<>();
    List<Path> copies = new ArrayList<>();
    for (int i = 1; i <= 5; i++) {
      if (i > 1) {
        Tools.pwrite(folder.image("vm1.raw"), i * (2L << 20), random(300_000, i));
        Tools.pwrite(folder.image("vm1.raw"), (9L << 20) + i * 4096L, pattern); // the block, again
      }
      Tools.Result sync =
          ok("sync", folder.image("vm1.raw").toString(), vm1, "--encrypt-key", key.toString());
      gens.add(generation(sync));
      Path copy = tmp.resolve("vm1-" + i);
      Files.copy(folder.backingFile("vm1.raw"), copy);
      copies.add(copy);
    }
    for (int i = 0; i < 5; i++) {
      Path out = tmp.resolve("restored-" + i);
      ok(
          "restore",
          vm1,
          "--generation",
          Long.toString(gens.get(i)),
          out.toString(),
          "--encrypt-key",
          key.toString());
      assertThat(Files.mismatch(out, copies.get(i)))
          .as("generation %d", gens.get(i))
          .isEqualTo(-1L);
    }
    ok("verify", folder.image("vm1.raw").toString(), vm1, "--encrypt-key", key.toString());
    List<Path> stored = storedFiles("fleet");
    assertThat(stored).hasSizeGreaterThan(10);
    for (Path p : stored) {
      assertThat(contains(p, pattern)).as("%s holds the known block in clear", p).isFalse();
    }

    // a clone under the same key costs no chunk; under another key, every chunk again
    long chunks = storedFiles("fleet/chunks").size();
    Tools.run(
        "cp through the mount",
        "cp",
        folder.image("vm1.raw").toString(),
        folder.image("vm2.raw").toString());
    ok(
        "sync",
        folder.image("vm2.raw").toString(),
        "s3://backups/fleet/vm2",
        "--encrypt-key",
        key.toString());
    assertThat(storedFiles("fleet/chunks")).hasSize((int) chunks);
    Path other = createKey(tmp, "b");
    ok(
        "sync",
        folder.image("vm2.raw").toString(),
        "s3://backups/fleet/vm3",
        "--encrypt-key",
        other.toString());
    long perImage = storedFiles("fleet/chunks").size() - chunks;
    assertThat(perImage).isEqualTo(16); // 16 random 1 MiB cells, none shared with key a's
  }

  @Test
  void wrongMissingKeysAndATamperedChunkFailInOneLineAndChangeNothing() throws IOException {
    Path a = createKey(tmp, "a");
    Path b = createKey(tmp, "b");
    String vm1 = "s3://backups/vm1";
    long g1 =
        generation(
            ok("sync", folder.image("vm1.raw").toString(), vm1, "--encrypt-key", a.toString()));
    Tools.pwrite(folder.image("vm1.raw"), 0, random(4096, 9));
    List<Path> before = storedFiles("");

    Tools.Result wrong =
        cbtfs("sync", folder.image("vm1.raw").toString(), vm1, "--encrypt-key", b.toString());
    assertThat(wrong.exitCode()).isEqualTo(1);
    assertThat(wrong.output().strip().lines()).hasSize(1);
    assertThat(wrong.output()).contains("encrypted with key " + fingerprint(a), "--full");
    Tools.Result none = cbtfs("sync", folder.image("vm1.raw").toString(), vm1);
    assertThat(none.exitCode()).isEqualTo(1);
    assertThat(none.output().strip().lines()).hasSize(1);
    Tools.Result noFile =
        cbtfs(
            "sync",
            folder.image("vm1.raw").toString(),
            vm1,
            "--encrypt-key",
            tmp.resolve("nokey").toString());
    assertThat(noFile.exitCode()).isEqualTo(1);
    assertThat(noFile.output().strip()).endsWith("does not exist");
    assertThat(storedFiles("")).containsExactlyInAnyOrderElementsOf(before);
    Tools.Result status = ok("status", "--json", folder.image("vm1.raw").toString());
    assertThat(status.output()).contains("\"dirtyBlocks\":1");

    Tools.Result noKey =
        cbtfs("restore", vm1, "--generation", Long.toString(g1), tmp.resolve("x").toString());
    assertThat(noKey.exitCode()).isEqualTo(1);
    assertThat(noKey.output()).contains("is encrypted (key " + fingerprint(a));
    assertThat(tmp.resolve("x")).doesNotExist();

    Path chunk = storedFiles("chunks").get(0);
    byte[] bytes = Files.readAllBytes(chunk);
    bytes[100] ^= 1;
    Files.write(chunk, bytes);
    Tools.Result tampered =
        cbtfs(
            "restore",
            vm1,
            "--generation",
            Long.toString(g1),
            tmp.resolve("y").toString(),
            "--encrypt-key",
            a.toString());
    assertThat(tampered.exitCode()).isEqualTo(1);
    assertThat(tampered.output().strip().lines()).hasSize(1);
    assertThat(tampered.output())
        .contains(chunk.getFileName().toString())
        .contains("fails authentication");
    assertThat(tmp.resolve("y")).doesNotExist();

    // gc needs no key: it reads the chunk names sealed manifests list in clear
    ok("gc", "s3://backups", "--keep", "1", "--grace", "0");
  }
}
