package io.cbtfs.nativetests;

import static io.cbtfs.nativetests.EncryptionFixture.contains;
import static io.cbtfs.nativetests.EncryptionFixture.createKey;
import static io.cbtfs.nativetests.EncryptionFixture.files;
import static io.cbtfs.nativetests.EncryptionFixture.generation;
import static io.cbtfs.nativetests.Tools.random;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Encrypted archives as an operator runs them: a daemon mount synced with --encrypt-key to a local
 * archive folder and to a {@code cbtfs receive} archive in its own process, five generations each,
 * restored with the key; the files at rest searched for a known block; a wrong key, no key and a
 * flipped byte.
 */
class ArchiveEncryptionIT {
  @TempDir Path tmp;
  DaemonMount folder;
  Path root;
  ReceiverProcess receiver;
  final byte[] pattern = new byte[4096];

  @BeforeEach
  void setUp() throws Exception {
    folder = DaemonMount.prepare(tmp);
    byte[] image = new byte[8 << 20];
    new Random(1).nextBytes(image);
    new Random(4242).nextBytes(pattern);
    System.arraycopy(pattern, 0, image, 3 << 20, pattern.length);
    Files.write(folder.backingFile("vm1.raw"), image);
    folder.mount();
    root = Files.createDirectory(tmp.resolve("receiver"));
    receiver = ReceiverProcess.init(root);
    receiver.start();
  }

  @AfterEach
  void tearDown() throws Exception {
    receiver.close();
    folder.close();
  }

  String remote(String name) {
    return receiver.uri(name) + "&archive";
  }

  Tools.Result ok(String... args) {
    Tools.Result r = Cbtfs.run(args);
    assertThat(r.exitCode()).as(String.join(" ", args) + ":\n" + r.output()).isZero();
    return r;
  }

  @Test
  void fiveGenerationsToALocalAndARemoteArchiveRestoreAndNoPlaintextIsAtRest() throws Exception {
    Path key = createKey(tmp, "a");
    String local = "archive:" + tmp.resolve("arch");
    String remote = remote("vm1");
    List<long[]> gens = new ArrayList<>(); // {local, remote}
    List<Path> copies = new ArrayList<>();
    for (int i = 1; i <= 5; i++) {
      if (i > 1) {
        Tools.pwrite(folder.image("vm1.raw"), i * 700_000L, random(200_000, i));
        Tools.pwrite(folder.image("vm1.raw"), (5L << 20) + i * 8192L, pattern);
      }
      String image = folder.image("vm1.raw").toString();
      long l = generation(ok("sync", image, local, "--encrypt-key", key.toString()));
      long r = generation(ok("sync", image, remote, "--encrypt-key", key.toString()));
      gens.add(new long[] {l, r});
      copies.add(Files.copy(folder.backingFile("vm1.raw"), tmp.resolve("at-" + i)));
    }
    for (int i = 0; i < 5; i++) {
      Path a = tmp.resolve("local-" + i);
      ok(
          "restore",
          local,
          "--generation",
          "" + gens.get(i)[0],
          a.toString(),
          "--encrypt-key",
          key.toString());
      assertThat(Files.mismatch(a, copies.get(i))).isEqualTo(-1L);
      // the receiver's archive restores on the receiver's host, with the key brought there
      Path b = tmp.resolve("remote-" + i);
      ok(
          "restore",
          "archive:" + root.resolve("vm1.archive"),
          "--generation",
          "" + gens.get(i)[1],
          b.toString(),
          "--encrypt-key",
          key.toString());
      assertThat(Files.mismatch(b, copies.get(i))).isEqualTo(-1L);
    }
    ok("verify", folder.image("vm1.raw").toString(), local, "--encrypt-key", key.toString());
    List<Path> stored = new ArrayList<>(files(tmp.resolve("arch")));
    stored.addAll(files(root.resolve("vm1.archive")));
    assertThat(stored).hasSizeGreaterThanOrEqualTo(12);
    for (Path p : stored) {
      assertThat(contains(p, pattern)).as("%s holds the known block in clear", p).isFalse();
    }
  }

  @Test
  void wrongMissingKeysAndAFlippedByteFailInOneLineAndChangeNothing() throws Exception {
    Path a = createKey(tmp, "a");
    Path b = createKey(tmp, "b");
    String image = folder.image("vm1.raw").toString();
    String local = "archive:" + tmp.resolve("arch");
    long g = generation(ok("sync", image, local, "--encrypt-key", a.toString()));
    ok("sync", image, remote("vm1"), "--encrypt-key", a.toString());
    Tools.pwrite(folder.image("vm1.raw"), 0, random(4096, 9));
    List<Path> before = files(tmp.resolve("arch"));
    List<Path> remoteBefore = files(root.resolve("vm1.archive"));
    String fp = Cbtfs.run("key", "show", a.toString()).output().strip().substring(0, 8);
    for (String target : new String[] {local, remote("vm1")}) {
      for (String[] keyArgs : new String[][] {{"--encrypt-key", b.toString()}, {}}) {
        List<String> args = new ArrayList<>(List.of("sync", image, target));
        args.addAll(List.of(keyArgs));
        Tools.Result r = Cbtfs.run(args.toArray(String[]::new));
        assertThat(r.exitCode()).as(r.output()).isEqualTo(1);
        assertThat(r.output().strip().lines()).hasSize(1);
        assertThat(r.output()).contains("encrypted with key " + fp, "--full");
      }
    }
    assertThat(files(tmp.resolve("arch"))).containsExactlyInAnyOrderElementsOf(before);
    assertThat(files(root.resolve("vm1.archive")))
        .containsExactlyInAnyOrderElementsOf(remoteBefore);
    assertThat(ok("status", "--json", image).output()).contains("\"dirtyBlocks\":1");

    Tools.Result noKey =
        Cbtfs.run("restore", local, "--generation", "" + g, tmp.resolve("x").toString());
    assertThat(noKey.exitCode()).isEqualTo(1);
    assertThat(noKey.output()).contains("encrypted (key " + fp);
    assertThat(tmp.resolve("x")).doesNotExist();

    Path delta = tmp.resolve("arch").resolve(String.format("gen-%08d.cbtd", g));
    byte[] bytes = Files.readAllBytes(delta);
    bytes[bytes.length / 2] ^= 1;
    Files.write(delta, bytes);
    Tools.Result tampered =
        Cbtfs.run(
            "restore",
            local,
            "--generation",
            "" + g,
            tmp.resolve("y").toString(),
            "--encrypt-key",
            a.toString());
    assertThat(tampered.exitCode()).isEqualTo(1);
    assertThat(tampered.output().strip().lines()).hasSize(1);
    assertThat(tampered.output()).contains(delta.toString());
    assertThat(tmp.resolve("y")).doesNotExist();
  }
}
