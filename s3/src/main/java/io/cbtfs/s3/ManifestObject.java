package io.cbtfs.s3;

import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.tracker.CbtfsException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Set;
import java.util.TreeSet;

/**
 * A manifest as the store keeps it: the {@link Manifest} itself, or, under a key, sealed. A sealed
 * manifest is magic {@code CBTFSME1}, the key's fingerprint (16), the count and sorted names of the
 * chunks it uses (4 + 32 each; in clear, so that {@code gc} needs no key), then the manifest sealed
 * ({@link io.cbtfs.syncer.crypto.ObjectSeal}) with everything before it, the image name and the
 * generation as associated data: a manifest moved to another image or generation, or a name list
 * edited, fails to open.
 */
final class ManifestObject {
  private static final byte[] SEALED = "CBTFSME1".getBytes(StandardCharsets.US_ASCII);
  private static final int FINGERPRINT_BYTES = 16;

  private final EncryptionKey key; // null: manifests are stored in clear

  ManifestObject(EncryptionKey key) {
    this.key = key;
  }

  /**
   * The object to store for {@code m}, generation {@code m.header.generation()} of {@code image}.
   */
  byte[] encode(Manifest m, String image) {
    byte[] plain = m.encode();
    if (key == null) {
      return plain;
    }
    TreeSet<String> names = new TreeSet<>();
    for (int c = 0; c < m.chunkCount(); c++) {
      names.add(m.chunkHex(c));
    }
    ByteBuffer clear =
        ByteBuffer.allocate(SEALED.length + FINGERPRINT_BYTES + 4 + 32 * names.size());
    clear.put(SEALED).put(HexFormat.of().parseHex(key.fingerprint())).putInt(names.size());
    for (String n : names) {
      clear.put(HexFormat.of().parseHex(n));
    }
    byte[] sealed =
        key.seal().seal(plain, 0, plain.length, aad(clear.array(), image, m.header.generation()));
    byte[] out = Arrays.copyOf(clear.array(), clear.capacity() + sealed.length);
    System.arraycopy(sealed, 0, out, clear.capacity(), sealed.length);
    return out;
  }

  /**
   * Generation {@code generation} of {@code image} from its stored object.
   *
   * @throws CbtfsException if it is sealed and this has no key or another one (nothing read)
   * @throws io.cbtfs.syncer.crypto.SealBrokenException naming {@code where} if it was tampered with
   * @throws DamagedObjectException naming {@code where} for anything else that does not add up
   */
  Manifest decode(byte[] object, String image, long generation, String where) {
    String sealedWith = keyOf(object);
    if (sealedWith == null) {
      return Manifest.decode(object, where); // a generation written before encryption began
    }
    String refusal = EncryptionKey.refusal(key, sealedWith);
    if (refusal != null) {
      throw new CbtfsException(where + " " + refusal);
    }
    int clear = clearBytes(object, where);
    byte[] plain =
        key.seal()
            .open(
                object,
                clear,
                object.length - clear,
                aad(Arrays.copyOf(object, clear), image, generation),
                where);
    Manifest m = Manifest.decode(plain, where);
    if (!chunkNames(object, where).equals(namesOf(m))) {
      throw new DamagedObjectException(where, "the clear chunk list differs from the manifest's");
    }
    return m;
  }

  /** The fingerprint of the key a stored manifest is sealed with, or null if it is in clear. */
  static String keyOf(byte[] object) {
    if (object.length < SEALED.length + FINGERPRINT_BYTES
        || !Arrays.equals(object, 0, SEALED.length, SEALED, 0, SEALED.length)) {
      return null;
    }
    return HexFormat.of().formatHex(object, SEALED.length, SEALED.length + FINGERPRINT_BYTES);
  }

  /** The names of the chunks a stored manifest uses, sealed or not: what gc must keep. */
  static Set<String> chunkNames(byte[] object, String where) {
    if (keyOf(object) == null) {
      return namesOf(Manifest.decode(object, where));
    }
    int clear = clearBytes(object, where);
    Set<String> out = new TreeSet<>();
    for (int at = SEALED.length + FINGERPRINT_BYTES + 4; at < clear; at += 32) {
      out.add(HexFormat.of().formatHex(object, at, at + 32));
    }
    return out;
  }

  private static Set<String> namesOf(Manifest m) {
    Set<String> out = new TreeSet<>();
    for (int c = 0; c < m.chunkCount(); c++) {
      out.add(m.chunkHex(c));
    }
    return out;
  }

  /** Where the sealed part starts. */
  private static int clearBytes(byte[] object, String where) {
    int head = SEALED.length + FINGERPRINT_BYTES;
    if (object.length < head + 4) {
      throw new DamagedObjectException(where, "truncated sealed manifest");
    }
    long names = ByteBuffer.wrap(object, head, 4).getInt() & 0xffffffffL;
    long clear = head + 4 + 32 * names;
    if (clear > object.length) {
      throw new DamagedObjectException(where, "truncated sealed manifest");
    }
    return (int) clear;
  }

  private static byte[] aad(byte[] clear, String image, long generation) {
    byte[] name = image.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(clear.length + 4 + name.length + 8)
        .put(clear)
        .putInt(name.length)
        .put(name)
        .putLong(generation)
        .array();
  }
}
