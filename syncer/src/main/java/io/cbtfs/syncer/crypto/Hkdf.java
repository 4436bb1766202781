package io.cbtfs.syncer.crypto;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** HKDF with HMAC-SHA256 (RFC 5869), built on the JDK's HMAC; JDK 17 has no HKDF of its own. */
final class Hkdf {
  private static final int HASH_BYTES = 32;

  private Hkdf() {}

  /** HKDF-Extract: a pseudorandom key from {@code inputKey} and {@code salt}. */
  static byte[] extract(byte[] salt, byte[] inputKey) {
    return hmac(salt.length == 0 ? new byte[HASH_BYTES] : salt).doFinal(inputKey);
  }

  /** HKDF-Expand: {@code length} bytes of output keying material for {@code info}. */
  static byte[] expand(byte[] prk, byte[] info, int length) {
    if (length <= 0 || length > 255 * HASH_BYTES) {
      throw new IllegalArgumentException("bad HKDF length " + length);
    }
    Mac mac = hmac(prk);
    byte[] out = new byte[length];
    byte[] t = new byte[0];
    for (int i = 1, done = 0; done < length; i++) {
      mac.update(t);
      mac.update(info);
      mac.update((byte) i);
      t = mac.doFinal();
      int n = Math.min(t.length, length - done);
      System.arraycopy(t, 0, out, done, n);
      done += n;
    }
    return out;
  }

  /** {@link #expand} with an ASCII label as {@code info}. */
  static byte[] expand(byte[] prk, String info, int length) {
    return expand(prk, info.getBytes(StandardCharsets.US_ASCII), length);
  }

  static Mac hmac(byte[] key) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      return mac;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK lacks HmacSHA256", e);
    }
  }
}
