package io.cbtfs.syncer.crypto;

import javax.crypto.Mac;

/**
 * The name of a chunk under a key: HMAC-SHA256 of its plaintext with a key-derived subkey. Equal
 * bytes under one key get one name (deduplication across images and generations); under two keys
 * two unrelated names, and the store learns nothing from a name it could not compute itself.
 */
public final class ChunkIds {
  private final ThreadLocal<Mac> mac;

  ChunkIds(byte[] idKey) {
    byte[] k = idKey.clone();
    this.mac = ThreadLocal.withInitial(() -> Hkdf.hmac(k));
  }

  /** The 32-byte name of {@code data[0, length)}. */
  public byte[] of(byte[] data, int length) {
    Mac m = mac.get();
    m.update(data, 0, length);
    return m.doFinal();
  }
}
