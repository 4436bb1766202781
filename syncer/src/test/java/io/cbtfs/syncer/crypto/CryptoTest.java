package io.cbtfs.syncer.crypto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.tracker.CbtfsException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CryptoTest {
  private static final HexFormat HEX = HexFormat.of();
  @TempDir Path dir;

  @Test
  void hkdfMatchesRfc5869TestCase1() {
    byte[] ikm = HEX.parseHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
    byte[] salt = HEX.parseHex("000102030405060708090a0b0c");
    byte[] info = HEX.parseHex("f0f1f2f3f4f5f6f7f8f9");
    byte[] prk = Hkdf.extract(salt, ikm);
    assertThat(HEX.formatHex(prk))
        .isEqualTo("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    assertThat(HEX.formatHex(Hkdf.expand(prk, info, 42)))
        .isEqualTo(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  }

  @Test
  void sealOpensOnlyWithItsKeyAndAssociatedData() {
    EncryptionKey key = EncryptionKey.generate();
    byte[] plain = new byte[10_000];
    new Random(1).nextBytes(plain);
    byte[] aad = "chunk abc".getBytes(StandardCharsets.US_ASCII);
    byte[] sealed = key.seal().seal(plain, 0, plain.length, aad);
    assertThat(sealed).hasSize(plain.length + ObjectSeal.OVERHEAD);
    assertThat(key.seal().open(sealed, 0, sealed.length, aad, "x")).isEqualTo(plain);

    assertThatThrownBy(
            () -> EncryptionKey.generate().seal().open(sealed, 0, sealed.length, aad, "obj 1"))
        .isInstanceOf(SealBrokenException.class)
        .hasMessageContaining("obj 1");
    byte[] other = "chunk abd".getBytes(StandardCharsets.US_ASCII);
    assertThatThrownBy(() -> key.seal().open(sealed, 0, sealed.length, other, "moved"))
        .isInstanceOf(SealBrokenException.class);
    for (int at : new int[] {0, 11, 12, 5000, sealed.length - 1}) {
      byte[] t = sealed.clone();
      t[at] ^= 1;
      assertThatThrownBy(() -> key.seal().open(t, 0, t.length, aad, "tampered"))
          .isInstanceOf(SealBrokenException.class);
    }
  }

  @Test
  void sealIntoSealsTwoPartsAsOne() {
    EncryptionKey key = EncryptionKey.generate();
    byte[] head = {1, 2, 3, 4, 5};
    byte[] body = new byte[70_000];
    new Random(2).nextBytes(body);
    byte[] out = new byte[ObjectSeal.OVERHEAD + 5 + body.length + 100];
    byte[] aad = {9};
    int n = key.seal().sealInto(head, 5, body, body.length, aad, out);
    assertThat(n).isEqualTo(ObjectSeal.OVERHEAD + 5 + body.length);
    byte[] plain = key.seal().open(out, 0, n, aad, "x");
    assertThat(Arrays.copyOf(plain, 5)).isEqualTo(head);
    assertThat(Arrays.copyOfRange(plain, 5, plain.length)).isEqualTo(body);
  }

  /** One wording for every store: a full fingerprint as is, a delta's 8-digit key id with "…". */
  @Test
  void aRefusalNamesTheSealingKeyAndWhatToDo() {
    EncryptionKey key = EncryptionKey.generate();
    EncryptionKey other = EncryptionKey.generate();
    String id = key.fingerprint().substring(0, 8);
    assertThat(EncryptionKey.refusal(key, key.fingerprint())).isNull();
    assertThat(EncryptionKey.refusal(key, id)).isNull();
    assertThat(EncryptionKey.refusal(null, id))
        .isEqualTo("is encrypted (key " + id + "…): give its key with --encrypt-key");
    assertThat(EncryptionKey.refusal(other, key.fingerprint()))
        .isEqualTo(
            "is encrypted with key "
                + key.fingerprint()
                + ", not with the given key "
                + other.fingerprint());
  }

  @Test
  void everySealDrawsAFreshNonce() {
    EncryptionKey key = EncryptionKey.generate();
    byte[] plain = new byte[64];
    byte[] a = key.seal().seal(plain, 0, plain.length, new byte[0]);
    byte[] b = key.seal().seal(plain, 0, plain.length, new byte[0]);
    assertThat(Arrays.copyOf(a, ObjectSeal.NONCE_BYTES))
        .isNotEqualTo(Arrays.copyOf(b, ObjectSeal.NONCE_BYTES));
    assertThat(a).isNotEqualTo(b);
  }

  @Test
  void chunkIdsAreKeyedAndStable() {
    EncryptionKey k1 = EncryptionKey.generate();
    byte[] data = "the same bytes".getBytes(StandardCharsets.US_ASCII);
    byte[] id = k1.chunkIds().of(data, data.length);
    assertThat(k1.chunkIds().of(data.clone(), data.length)).isEqualTo(id);
    assertThat(EncryptionKey.of(k1.master()).chunkIds().of(data, data.length)).isEqualTo(id);
    assertThat(EncryptionKey.generate().chunkIds().of(data, data.length)).isNotEqualTo(id);
    assertThat(id).isNotEqualTo(io.cbtfs.syncer.BlockHashes.sha256().digest(data));
  }

  @Test
  void keyFileIsPrivateNeverOverwrittenAndLoadsBack() throws Exception {
    EncryptionKey key = EncryptionKey.generate();
    Path file = dir.resolve("k");
    KeyFile.create(file, key);
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
        .isEqualTo("rw-------");
    assertThat(KeyFile.load(file).fingerprint()).isEqualTo(key.fingerprint());
    String before = Files.readString(file);
    assertThatThrownBy(() -> KeyFile.create(file, EncryptionKey.generate()))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("never overwritten");
    assertThat(Files.readString(file)).isEqualTo(before);
    assertThatThrownBy(() -> KeyFile.load(dir.resolve("none")))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("does not exist");
    Files.writeString(dir.resolve("junk"), "hello\n");
    assertThatThrownBy(() -> KeyFile.load(dir.resolve("junk")))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("not a cbtfs key file");
  }

  @Test
  void paperFormReadsBackAndCatchesATypoOnItsLine() {
    EncryptionKey key = EncryptionKey.generate();
    String paper = KeyFile.paperForm(key);
    assertThat(paper.lines()).hasSize(5);
    assertThat(KeyFile.fromPaper(paper.toUpperCase()).fingerprint()).isEqualTo(key.fingerprint());
    String[] lines = paper.split("\n");
    char c = lines[3].charAt(4);
    lines[3] = lines[3].substring(0, 4) + (c == '0' ? '1' : '0') + lines[3].substring(5);
    assertThatThrownBy(() -> KeyFile.fromPaper(String.join("\n", lines)))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("line 3");
    String missing =
        paper.lines().filter(l -> !l.startsWith("2:")).reduce("", (a, b) -> a + b + "\n");
    assertThatThrownBy(() -> KeyFile.fromPaper(missing)).hasMessageContaining("line 2");
  }

  @Test
  void fingerprintIsStableAndNotTheKey() {
    byte[] m = new byte[32];
    m[0] = 1;
    EncryptionKey k = EncryptionKey.of(m);
    assertThat(k.fingerprint()).hasSize(32).isEqualTo(EncryptionKey.of(m.clone()).fingerprint());
    assertThat(k.fingerprint()).doesNotContain(HEX.formatHex(m, 0, 8));
  }
}
