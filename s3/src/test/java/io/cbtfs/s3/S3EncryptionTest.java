package io.cbtfs.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.SyncFixture;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.syncer.crypto.KeyFile;
import io.cbtfs.syncer.crypto.SealBrokenException;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.syncer.local.Targets;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Client-side encryption of the s3:// target against a real S3 API server (S3Proxy). */
class S3EncryptionTest extends S3ServerTest {
  /** A key file made for this test. */
  Path key(String name) throws IOException {
    Path file = tmp.resolve(name + ".key");
    if (!Files.exists(file)) {
      KeyFile.create(file, EncryptionKey.generate());
    }
    return file;
  }

  S3Target target(String path, Path key) {
    return (S3Target)
        Targets.parse(
            server.uri(bucket + "/" + path) + (key == null ? "" : "&encrypt-key=" + key), tmp);
  }

  Path restore(Restorable t, long generation) throws IOException {
    Path out = tmp.resolve("restored-" + generation + "-" + System.nanoTime());
    t.restore(generation, out, Restorable.RestoreProgress.NONE);
    return out;
  }

  List<Path> stored() throws IOException {
    try (Stream<Path> s = Files.walk(server.bucketDir(bucket))) {
      return s.filter(Files::isRegularFile).toList();
    }
  }

  /** Whether {@code needle} occurs in {@code file}'s bytes. */
  static boolean contains(Path file, byte[] needle) throws IOException {
    byte[] hay = Files.readAllBytes(file);
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  @Test
  void fiveGenerationsRoundTripAndNoPlaintextBlockIsStored() throws IOException {
    Path key = key("a");
    S3Target t = target("fleet/vm1", key);
    byte[] pattern = random(4096, 4242); // random: LZ4 leaves it as it is, so clear would show it
    List<Path> copies = new ArrayList<>();
    List<Long> gens = new ArrayList<>();
    Random r = new Random(7);
    for (int gen = 1; gen <= 5; gen++) {
      fx.write(gen * 200_000L, pattern);
      if (gen > 1) {
        fx.write(r.nextInt((4 << 20) - 100_000), random(1 + r.nextInt(90_000), r.nextLong()));
      }
      SyncReport rep = syncer.sync(fx.source(), t, false, SyncProgress.NONE);
      assertThat(rep.full()).isEqualTo(gen == 1);
      gens.add(rep.generation());
      Path copy = tmp.resolve("image-at-" + gen);
      Files.copy(fx.image, copy);
      copies.add(copy);
    }
    for (int gen = 1; gen <= 5; gen++) {
      assertThat(Files.mismatch(restore(t, gens.get(gen - 1)), copies.get(gen - 1)))
          .as("generation %d", gen)
          .isEqualTo(-1L);
    }
    List<Path> objects = stored();
    assertThat(objects).hasSizeGreaterThan(5);
    for (Path p : objects) {
      assertThat(contains(p, pattern)).as("%s holds the plaintext block", p).isFalse();
      assertThat(contains(p, java.util.Arrays.copyOf(Files.readAllBytes(fx.image), 4096)))
          .as("%s holds the image's first block", p)
          .isFalse();
    }
    // the same pattern in clear (no key) shows up at rest: the search above can find it
    S3Target clear = target("fleet/plain", null);
    syncer.sync(fx.source(), clear, true, SyncProgress.NONE);
    long hits = 0;
    for (Path p : stored()) {
      hits += contains(p, pattern) ? 1 : 0;
    }
    assertThat(hits).isPositive();
  }

  @Test
  void aWrongOrMissingKeyFailsInOneLineAndChangesNothing() throws IOException {
    Path a = key("a");
    Path b = key("b");
    long g1 = syncer.sync(fx.source(), target("vm1", a), false, SyncProgress.NONE).generation();
    fx.write(0, random(1000, 1));
    List<Path> before = stored();
    String fpA = KeyFile.load(a).fingerprint();

    for (Path wrong : new Path[] {b, null}) {
      S3Target t = target("vm1", wrong);
      assertThatThrownBy(() -> syncer.sync(fx.source(), t, false, SyncProgress.NONE))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("encrypted with key " + fpA)
          .hasMessageNotContaining("\n");
      assertThat(stored()).containsExactlyInAnyOrderElementsOf(before);
      assertThatThrownBy(() -> restore(t, g1))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining(fpA);
    }
    assertThat(fx.tracked.dirtyBlocks().isEmpty()).isFalse(); // the write is still to be synced
    SyncReport ok = syncer.sync(fx.source(), target("vm1", a), false, SyncProgress.NONE);
    assertThat(ok.full()).isFalse();
    assertThat(Files.mismatch(restore(target("vm1", a), ok.generation()), fx.image)).isEqualTo(-1L);
  }

  @Test
  void aClearTargetRefusesAnEncryptedIncrementalAndAFullSyncRotatesTheKey() throws IOException {
    Path a = key("a");
    Path b = key("b");
    syncer.sync(fx.source(), target("vm1", null), false, SyncProgress.NONE);
    Path atOne = tmp.resolve("at-1");
    Files.copy(fx.image, atOne);
    fx.write(0, random(70_000, 3));
    assertThatThrownBy(() -> syncer.sync(fx.source(), target("vm1", a), false, SyncProgress.NONE))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("unencrypted")
        .hasMessageContaining("--full");

    // rotation: the next full sync starts a chain under the new key
    SyncReport r2 = syncer.sync(fx.source(), target("vm1", a), true, SyncProgress.NONE);
    Path atTwo = tmp.resolve("at-2");
    Files.copy(fx.image, atTwo);
    fx.write(1 << 20, random(70_000, 4));
    syncer.sync(fx.source(), target("vm1", a), false, SyncProgress.NONE);
    SyncReport r4 = syncer.sync(fx.source(), target("vm1", b), true, SyncProgress.NONE);
    fx.write(2 << 20, random(70_000, 5));
    SyncReport r5 = syncer.sync(fx.source(), target("vm1", b), false, SyncProgress.NONE);
    assertThat(r5.full()).isFalse();
    assertThat(Files.mismatch(restore(target("vm1", b), r5.generation()), fx.image)).isEqualTo(-1L);
    // the old generations stay readable with their own keys
    assertThat(Files.mismatch(restore(target("vm1", a), r2.generation()), atTwo)).isEqualTo(-1L);
    assertThat(Files.mismatch(restore(target("vm1", null), 1), atOne)).isEqualTo(-1L);
    assertThatThrownBy(() -> restore(target("vm1", a), r4.generation()))
        .hasMessageContaining("encrypted with key " + KeyFile.load(b).fingerprint());
  }

  @Test
  void aTamperedChunkOrManifestFailsAuthenticationAndIsNamed() throws IOException {
    Path a = key("a");
    S3Target t = target("vm1", a);
    long g1 = syncer.sync(fx.source(), t, false, SyncProgress.NONE).generation();
    Path chunk;
    try (Stream<Path> s = Files.walk(server.bucketDir(bucket).resolve("chunks"))) {
      chunk = s.filter(Files::isRegularFile).findFirst().orElseThrow();
    }
    byte[] bytes = Files.readAllBytes(chunk);
    bytes[bytes.length / 2] ^= 0x40;
    Files.write(chunk, bytes);
    assertThatThrownBy(() -> restore(t, g1))
        .isInstanceOf(SealBrokenException.class)
        .hasMessageContaining(chunk.getFileName().toString())
        .hasMessageContaining("fails authentication");
    assertThat(Files.list(tmp).filter(p -> p.getFileName().toString().startsWith("restored")))
        .isEmpty(); // half a restore is removed

    Path manifest;
    try (Stream<Path> s = Files.walk(server.bucketDir(bucket).resolve("images"))) {
      manifest = s.filter(Files::isRegularFile).findFirst().orElseThrow();
    }
    byte[] m = Files.readAllBytes(manifest);
    m[m.length - 20] ^= 1;
    Files.write(manifest, m);
    assertThatThrownBy(() -> restore(t, g1))
        .isInstanceOf(SealBrokenException.class)
        .hasMessageContaining(manifestName(g1));

    m[m.length - 20] ^= 1;
    Files.write(manifest, m); // mended
    // an intact manifest moved to another image fails too: it is bound to its image's name
    S3Target other = target("vm2", a);
    syncer.sync(fx.source(), target("vm1", a), true, SyncProgress.NONE);
    long g = target("vm1", a).state().generation();
    Path good = server.bucketDir(bucket).resolve("images/vm1/" + manifestName(g));
    Path moved = server.bucketDir(bucket).resolve("images/vm2/" + manifestName(g));
    Files.createDirectories(moved.getParent());
    Files.copy(good, moved);
    assertThatThrownBy(() -> restore(other, g))
        .isInstanceOf(SealBrokenException.class)
        .hasMessageContaining("images/vm2/");
  }

  static String manifestName(long generation) {
    return String.format("gen-%020d.manifest", generation);
  }

  @Test
  void aCloneSharesChunksUnderOneKeyAndNoneAcrossKeys() throws IOException {
    Path a = key("a");
    Path b = key("b");
    syncer.sync(fx.source(), target("fleet/vm1", a), false, SyncProgress.NONE);
    long chunks = objects("fleet/chunks");
    assertThat(chunks).isPositive();
    try (SyncFixture clone =
        new SyncFixture(Files.createDirectory(tmp.resolve("clone")), 4 << 20, 5)) {
      S3Target vm2 = target("fleet/vm2", a);
      long g2 = syncer.sync(clone.source(), vm2, false, SyncProgress.NONE).generation();
      assertThat(objects("fleet/chunks")).isEqualTo(chunks); // one key: shared
      assertThat(vm2.lastUpload().uploadedChunks()).isZero();

      S3Target vm3 = target("fleet/vm3", b);
      long g3 = syncer.sync(clone.source(), vm3, true, SyncProgress.NONE).generation();
      assertThat(objects("fleet/chunks")).isEqualTo(2 * chunks); // another key: nothing shared
      assertThat(vm3.lastUpload().dedupedChunks()).isZero();
      assertThat(Files.mismatch(restore(vm3, g3), clone.image)).isEqualTo(-1L);
      assertThat(Files.mismatch(restore(vm2, g2), clone.image)).isEqualTo(-1L);
    }
  }

  @Test
  void gcNeedsNoKeyAndKeepsWhatSealedManifestsName() throws IOException {
    Path a = key("a");
    S3Target t = target("store/vm1", a);
    long last = 0;
    for (int gen = 1; gen <= 3; gen++) {
      fx.write(0, random(4 << 20, gen));
      last = syncer.sync(fx.source(), t, false, SyncProgress.NONE).generation();
    }
    assertThat(objects("store/chunks")).isEqualTo(12);
    S3Gc.Report r =
        new S3Gc(server.uri(bucket + "/store")).run(1, Duration.ZERO, false, Duration.ZERO);
    assertThat(r.removedChunks()).isEqualTo(8);
    assertThat(objects("store/chunks")).isEqualTo(4);
    assertThat(Files.mismatch(restore(t, last), fx.image)).isEqualTo(-1L);
  }
}
