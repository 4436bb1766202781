package io.cbtfs.syncer.crypto;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * A 256-bit master key and what HKDF-SHA256 derives from it: the AES-256-GCM key that seals objects
 * and records, the HMAC key that names chunks, and a fingerprint that names the key in targets and
 * messages (it reveals nothing of the other two). The master key never leaves this class except to
 * its {@link KeyFile}.
 */
public final class EncryptionKey {
  public static final int BYTES = 32;
  private static final byte[] SALT = "cbtfs encryption key v1".getBytes(StandardCharsets.US_ASCII);

  private final byte[] master;
  private final ObjectSeal seal;
  private final ChunkIds chunkIds;
  private final String fingerprint;

  private EncryptionKey(byte[] master) {
    if (master.length != BYTES) {
      throw new IllegalArgumentException("a key is " + BYTES + " bytes, not " + master.length);
    }
    this.master = master.clone();
    byte[] prk = Hkdf.extract(SALT, master);
    this.seal = new ObjectSeal(Hkdf.expand(prk, "cbtfs seal aes-256-gcm", 32));
    this.chunkIds = new ChunkIds(Hkdf.expand(prk, "cbtfs chunk id hmac-sha256", 32));
    this.fingerprint = HexFormat.of().formatHex(Hkdf.expand(prk, "cbtfs key fingerprint", 16));
  }

  /** A new random key. */
  public static EncryptionKey generate() {
    byte[] b = new byte[BYTES];
    new SecureRandom().nextBytes(b);
    return new EncryptionKey(b);
  }

  /** The key with these 32 master bytes (a key file's, a paper form's). */
  public static EncryptionKey of(byte[] master) {
    return new EncryptionKey(master);
  }

  /** 32 lower-case hex digits that name the key (targets remember it). */
  public String fingerprint() {
    return fingerprint;
  }

  /** Seals and opens objects and records under this key. */
  public ObjectSeal seal() {
    return seal;
  }

  /** Names chunks under this key. */
  public ChunkIds chunkIds() {
    return chunkIds;
  }

  /**
   * Why {@code given} cannot open what the key {@code sealedWith} sealed, worded to follow the name
   * of what is sealed in a one-line refusal ("… is encrypted …"), or null if it can.
   *
   * @param given the key the operator gave, or null
   * @param sealedWith the sealing key's fingerprint, or its first digits (a delta header's key id)
   */
  public static String refusal(EncryptionKey given, String sealedWith) {
    String shown = sealedWith.length() < 32 ? sealedWith + "…" : sealedWith;
    if (given == null) {
      return "is encrypted (key " + shown + "): give its key with --encrypt-key";
    }
    if (!given.fingerprint().startsWith(sealedWith)) {
      return "is encrypted with key " + shown + ", not with the given key " + given.fingerprint();
    }
    return null;
  }

  byte[] master() {
    return master.clone();
  }

  @Override
  public String toString() {
    return "key " + fingerprint;
  }
}
