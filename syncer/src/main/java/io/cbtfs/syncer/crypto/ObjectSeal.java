package io.cbtfs.syncer.crypto;

import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * AES-256-GCM from the JDK, the one seam the formats encrypt through. A sealed form is {@code nonce
 * (12) | ciphertext | tag (16)}; each seal draws a fresh random 96-bit nonce (one key seals far
 * fewer than the 2^32 messages that bound random nonces), and the caller's associated data binds
 * the bytes to their place (a chunk's name, a record's delta and index), so a sealed object moved
 * elsewhere fails to open like a tampered one.
 */
public final class ObjectSeal {
  public static final int NONCE_BYTES = 12;
  public static final int TAG_BYTES = 16;

  /** What sealing adds to the plaintext's length. */
  public static final int OVERHEAD = NONCE_BYTES + TAG_BYTES;

  private static final SecureRandom RANDOM = new SecureRandom();
  private final SecretKeySpec key;
  private final ThreadLocal<Cipher> cipher =
      ThreadLocal.withInitial(
          () -> {
            try {
              return Cipher.getInstance("AES/GCM/NoPadding");
            } catch (GeneralSecurityException e) {
              throw new IllegalStateException("the JDK lacks AES/GCM", e);
            }
          });

  ObjectSeal(byte[] aesKey) {
    this.key = new SecretKeySpec(aesKey, "AES");
  }

  /** Seals {@code plain[offset, offset + length)}; returns nonce, ciphertext and tag. */
  public byte[] seal(byte[] plain, int offset, int length, byte[] associatedData) {
    byte[] out = new byte[OVERHEAD + length];
    byte[] nonce = new byte[NONCE_BYTES];
    RANDOM.nextBytes(nonce);
    System.arraycopy(nonce, 0, out, 0, NONCE_BYTES);
    sealInto(plain, offset, length, associatedData, out);
    return out;
  }

  private void sealInto(byte[] plain, int offset, int length, byte[] aad, byte[] out) {
    try {
      Cipher c = cipher.get();
      c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BYTES * 8, out, 0, NONCE_BYTES));
      c.updateAAD(aad);
      encryptSliced(c, plain, offset, length, out, NONCE_BYTES);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM failed to seal", e);
    }
  }

  /**
   * Seals {@code head[0, headLength)} followed by {@code body[0, bodyLength)} as one plaintext into
   * {@code out} (at least {@link #OVERHEAD} + both lengths long), without joining them first: a
   * caller that seals large objects reuses {@code out} and allocates nothing per object.
   *
   * @return the sealed length, from {@code out[0]}
   */
  public int sealInto(
      byte[] head, int headLength, byte[] body, int bodyLength, byte[] associatedData, byte[] out) {
    int length = OVERHEAD + headLength + bodyLength;
    if (out.length < length) {
      throw new IllegalArgumentException("sealing needs " + length + " bytes, not " + out.length);
    }
    byte[] nonce = new byte[NONCE_BYTES];
    RANDOM.nextBytes(nonce);
    System.arraycopy(nonce, 0, out, 0, NONCE_BYTES);
    try {
      Cipher c = cipher.get();
      c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BYTES * 8, nonce));
      c.updateAAD(associatedData);
      int n = c.update(head, 0, headLength, out, NONCE_BYTES);
      n += encryptSliced(c, body, 0, bodyLength, out, NONCE_BYTES + n);
      if (n != length - NONCE_BYTES) {
        throw new IllegalStateException("AES-GCM sealed " + n + " bytes, not " + (length - 12));
      }
      return length;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM failed to seal", e);
    }
  }

  /** Bytes per {@code Cipher.update} call when sealing. */
  static final int SLICE_BYTES = 16 << 10;

  /**
   * Encrypts {@code in[offset, offset + length)} in slices of {@value #SLICE_BYTES} bytes, then
   * finishes. Why: the JDK's AES-GCM runs on AES-NI and carry-less multiply only once the JIT has
   * compiled its block loop, which it does after enough calls; whole 1 MiB chunks made too few
   * calls, and a 4 GiB sync ran on the interpreted loop at about 50 MiB/s a thread (1.6x the time
   * of a clear sync). In slices the loop is compiled within the first ~100 MiB.
   */
  private static int encryptSliced(Cipher c, byte[] in, int offset, int length, byte[] out, int at)
      throws GeneralSecurityException {
    int n = 0;
    int done = 0;
    for (; length - done > SLICE_BYTES; done += SLICE_BYTES) {
      n += c.update(in, offset + done, SLICE_BYTES, out, at + n);
    }
    return n + c.doFinal(in, offset + done, length - done, out, at + n);
  }

  /**
   * The plaintext of {@code sealed[offset, offset + length)}.
   *
   * @throws SealBrokenException naming {@code where} if it fails authentication
   */
  public byte[] open(byte[] sealed, int offset, int length, byte[] associatedData, String where) {
    if (length < OVERHEAD) {
      throw new SealBrokenException(where);
    }
    try {
      Cipher c = cipher.get();
      c.init(
          Cipher.DECRYPT_MODE,
          key,
          new GCMParameterSpec(TAG_BYTES * 8, sealed, offset, NONCE_BYTES));
      c.updateAAD(associatedData);
      return c.doFinal(sealed, offset + NONCE_BYTES, length - NONCE_BYTES);
    } catch (AEADBadTagException e) {
      throw new SealBrokenException(where);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM failed to open", e);
    }
  }
}
