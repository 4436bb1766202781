package io.cbtfs.syncer.remote;

import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The shared secret of a receiver: a token file (one line of hex), proven by an HMAC-SHA256 over
 * the server's fresh nonce, the target name and the flags, so the token never travels and a proof
 * cannot be replayed on another connection.
 */
public final class Tokens {
  private Tokens() {}

  public static byte[] load(Path file) throws IOException {
    String text = Files.readString(file, StandardCharsets.US_ASCII).trim();
    if (text.length() < 32) {
      throw new CbtfsException("token file " + file + " holds no token (at least 32 hex digits)");
    }
    try {
      return HexFormat.of().parseHex(text);
    } catch (IllegalArgumentException e) {
      throw new CbtfsException("token file " + file + " is not hex");
    }
  }

  static String generate() {
    byte[] b = new byte[32];
    new SecureRandom().nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  static byte[] proof(byte[] token, byte[] nonce, String name, int flags) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(token, "HmacSHA256"));
      mac.update(nonce);
      mac.update(name.getBytes(StandardCharsets.UTF_8));
      mac.update((byte) flags);
      return mac.doFinal();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("the JDK has no HmacSHA256", e);
    }
  }

  /** Constant-time comparison. */
  static boolean matches(byte[] expected, byte[] given) {
    return MessageDigest.isEqual(expected, given);
  }
}
