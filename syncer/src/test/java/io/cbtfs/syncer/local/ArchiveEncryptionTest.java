package io.cbtfs.syncer.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.BlockHashes;
import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.DeltaReader;
import io.cbtfs.syncer.SyncFixture;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.syncer.Syncer;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.syncer.crypto.KeyFile;
import io.cbtfs.syncer.crypto.SealBrokenException;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An encrypted archive: sealed delta records, a chain per key, restore through the key. */
class ArchiveEncryptionTest {
  @TempDir Path tmp;
  SyncFixture fx;
  final Syncer syncer = new Syncer(256 << 10, 2);
  Path archive;

  @BeforeEach
  void setUp() throws IOException {
    fx = new SyncFixture(Files.createDirectory(tmp.resolve("src")), 4 << 20, 5);
    archive = tmp.resolve("arch");
  }

  @AfterEach
  void tearDown() throws IOException {
    fx.close();
  }

  Path key(String name) throws IOException {
    Path f = tmp.resolve(name + ".key");
    if (!Files.exists(f)) {
      KeyFile.create(f, EncryptionKey.generate());
    }
    return f;
  }

  ArchiveTarget target(Path key) {
    String uri = "archive:" + archive + (key == null ? "" : Targets.KEY_QUERY + key);
    return (ArchiveTarget) Targets.parse(uri, tmp);
  }

  Path restore(ArchiveTarget t, long generation) throws IOException {
    Path out = tmp.resolve("restored-" + generation + "-" + System.nanoTime());
    t.restore(generation, out, Restorable.RestoreProgress.NONE);
    return out;
  }

  static byte[] random(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  Map<Path, byte[]> files() throws IOException {
    Map<Path, byte[]> out = new TreeMap<>();
    try (Stream<Path> s = Files.walk(archive)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        out.put(p, Files.readAllBytes(p));
      }
    }
    return out;
  }

  static boolean contains(byte[] hay, byte[] needle) {
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
    byte[] pattern = random(4096, 4242);
    List<Long> gens = new ArrayList<>();
    List<Path> copies = new ArrayList<>();
    Random r = new Random(3);
    for (int i = 1; i <= 5; i++) {
      fx.write(i * 300_000L, pattern);
      if (i > 1) {
        fx.write(r.nextInt(3 << 20), random(1 + r.nextInt(90_000), r.nextLong()));
      }
      SyncReport rep = syncer.sync(fx.source(), target(key), false, SyncProgress.NONE);
      assertThat(rep.full()).isEqualTo(i == 1);
      gens.add(rep.generation());
      Path copy = tmp.resolve("at-" + i);
      Files.copy(fx.image, copy);
      copies.add(copy);
    }
    for (int i = 0; i < 5; i++) {
      assertThat(Files.mismatch(restore(target(key), gens.get(i)), copies.get(i)))
          .as("generation %d", gens.get(i))
          .isEqualTo(-1L);
    }
    try (var ch = java.nio.channels.FileChannel.open(fx.image)) {
      assertThat(
              Restorable.differing(target(key), gens.get(4), ch, ch.size(), SyncFixture.G, 10)
                  .isEmpty())
          .isTrue();
    }
    for (var f : files().entrySet()) {
      assertThat(contains(f.getValue(), pattern)).as("%s holds the block", f.getKey()).isFalse();
    }
    // the archive's files verify without the key (what a receiver does), framing only
    for (Path f : files().keySet()) {
      if (f.getFileName().toString().endsWith(".cbtd")) {
        DeltaReader.verify(f);
      }
    }
  }

  @Test
  void aWrongOrMissingKeyIsRefusedAndChangesNothing() throws IOException {
    Path a = key("a");
    long g1 = syncer.sync(fx.source(), target(a), false, SyncProgress.NONE).generation();
    fx.write(0, random(5000, 1));
    Map<Path, byte[]> before = files();
    String fp = KeyFile.load(a).fingerprint().substring(0, 8);
    for (Path wrong : new Path[] {key("b"), null}) {
      Target t = target(wrong);
      assertThatThrownBy(() -> syncer.sync(fx.source(), t, false, SyncProgress.NONE))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("encrypted with key " + fp)
          .hasMessageContaining("--full");
      assertThat(files().keySet()).isEqualTo(before.keySet());
      assertThatThrownBy(() -> restore(target(wrong), g1))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining(fp);
    }
    assertThat(fx.tracked.dirtyBlocks().isEmpty()).isFalse();
    // rotation: a full sync starts the chain again under key b; a's generations stay a's
    Path atOne = tmp.resolve("at-1");
    Files.copy(fx.image, atOne);
    long g2 = syncer.sync(fx.source(), target(key("b")), true, SyncProgress.NONE).generation();
    fx.write(70_000, random(5000, 2));
    long g3 = syncer.sync(fx.source(), target(key("b")), false, SyncProgress.NONE).generation();
    assertThat(Files.mismatch(restore(target(key("b")), g3), fx.image)).isEqualTo(-1L);
    assertThat(Files.mismatch(restore(target(key("b")), g2), atOne)).isEqualTo(-1L);
    assertThat(restore(target(a), g1)).exists();
  }

  @Test
  void aClearArchiveRefusesASealedIncrementalAndAReplicaRefusesSealedDeltas() throws IOException {
    syncer.sync(fx.source(), target(null), false, SyncProgress.NONE);
    fx.write(0, random(5000, 1));
    assertThatThrownBy(() -> syncer.sync(fx.source(), target(key("a")), false, SyncProgress.NONE))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("unencrypted");
    ReplicaTarget replica = new ReplicaTarget(tmp.resolve("replica.img"));
    DeltaHeader sealed =
        new DeltaHeader(fx.tracked.lineage(), 4 << 20, 65536, 0, 1, true)
            .sealedWith(KeyFile.load(key("a")).fingerprint());
    assertThatThrownBy(() -> replica.begin(sealed, false))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("cannot hold them encrypted");
    assertThat(tmp.resolve("replica.img")).doesNotExist();
  }

  /**
   * {@code delta} with every sealed record's CRC, the trailer's chain and CRC made right again:
   * what an attacker who changed sealed bytes can do; only the seal tells.
   */
  static byte[] reframed(byte[] delta) {
    ByteBuffer b = ByteBuffer.wrap(delta);
    MessageDigest chain = BlockHashes.sha256();
    int at = DeltaHeader.BYTES;
    long count = 0;
    while ((delta[at] & 0xff) != 0xFF) {
      int p = b.getInt(at + 13);
      CRC32C crc = new CRC32C();
      crc.update(delta, at + 21, p);
      b.putInt(at + 17, (int) crc.getValue());
      chain.update(delta, at, 21);
      at += 21 + p;
      count++;
    }
    b.putLong(at + 1, count);
    b.put(at + 17, chain.digest());
    CRC32C crc = new CRC32C();
    crc.update(delta, at, 49);
    b.putInt(at + 49, (int) crc.getValue());
    return delta;
  }

  @Test
  void aTamperedDeltaFailsAuthenticationAndIsNamed() throws IOException {
    Path a = key("a");
    long g1 = syncer.sync(fx.source(), target(a), false, SyncProgress.NONE).generation();
    Path delta = archive.resolve(ArchiveTarget.fileName(g1));
    byte[] b = Files.readAllBytes(delta);
    b[DeltaHeader.BYTES + 21 + 40] ^= 0x10; // inside the first sealed record
    Files.write(delta, b);
    assertThatThrownBy(() -> restore(target(a), g1))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining(delta.toString())
        .hasMessageContaining("checksum mismatch"); // the framing sees it first
    Files.write(delta, reframed(b)); // framing made right, as an attacker would
    DeltaReader.verify(delta); // a keyless check cannot tell
    assertThatThrownBy(() -> restore(target(a), g1))
        .isInstanceOf(SealBrokenException.class)
        .hasMessageContaining(delta + " record 0")
        .hasMessageContaining("fails authentication");

    // cut after a record boundary, trailer rebuilt: the sealed end mark is missing
    b[DeltaHeader.BYTES + 21 + 40] ^= 0x10;
    byte[] cut = cutBeforeEnd(reframed(b));
    Files.write(delta, reframed(cut));
    DeltaReader.verify(delta);
    assertThatThrownBy(() -> restore(target(a), g1))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("no sealed end");
  }

  @Test
  void aRecordSplicedFromAnotherDeltaFailsAuthentication() throws IOException {
    Path a = key("a");
    fx.write(0, random(256 << 10, 11));
    long g1 = syncer.sync(fx.source(), target(a), true, SyncProgress.NONE).generation();
    fx.write(0, random(256 << 10, 12)); // record 0 of the next full delta: same place and size
    long g2 = syncer.sync(fx.source(), target(a), true, SyncProgress.NONE).generation();
    byte[] one = Files.readAllBytes(archive.resolve(ArchiveTarget.fileName(g1)));
    byte[] two = Files.readAllBytes(archive.resolve(ArchiveTarget.fileName(g2)));
    int length = 21 + ByteBuffer.wrap(one).getInt(DeltaHeader.BYTES + 13);
    assertThat(ByteBuffer.wrap(two).getInt(DeltaHeader.BYTES + 13) + 21).isEqualTo(length);
    System.arraycopy(one, DeltaHeader.BYTES, two, DeltaHeader.BYTES, length);
    Path delta = archive.resolve(ArchiveTarget.fileName(g2));
    Files.write(delta, reframed(two));
    assertThatThrownBy(() -> restore(target(a), g2))
        .isInstanceOf(SealBrokenException.class)
        .hasMessageContaining(delta + " record 0");
  }

  /** {@code delta} without its last record (the sealed end mark), trailer following. */
  static byte[] cutBeforeEnd(byte[] delta) {
    ByteBuffer b = ByteBuffer.wrap(delta);
    int at = DeltaHeader.BYTES;
    int last = at;
    while ((delta[at] & 0xff) != 0xFF) {
      last = at;
      at += 21 + b.getInt(at + 13);
    }
    byte[] out = new byte[last + (delta.length - at)];
    System.arraycopy(delta, 0, out, 0, last);
    System.arraycopy(delta, at, out, last, delta.length - at);
    return out;
  }
}
