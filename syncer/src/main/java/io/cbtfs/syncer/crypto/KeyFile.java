package io.cbtfs.syncer.crypto;

import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Locale;

/**
 * A key on disk and on paper. The file is one line {@code cbtfs-key-v1 HEX} (64 hex digits) after a
 * comment, created with mode 0600 and never overwritten. The paper form is four numbered lines of 8
 * key bytes in hex groups, each with a 2-byte checksum of its number and bytes, so that a typo when
 * typing it back in is caught on its line.
 */
public final class KeyFile {
  private static final String TAG = "cbtfs-key-v1";
  private static final int LINE_BYTES = 8;
  private static final HexFormat HEX = HexFormat.of();

  private KeyFile() {}

  /**
   * Writes {@code key} to a new file {@code file} (mode 0600).
   *
   * @throws CbtfsException if the file exists (a key is never overwritten)
   */
  public static void create(Path file, EncryptionKey key) throws IOException {
    String text =
        "# cbtfs encryption key "
            + key.fingerprint()
            + ": keep a copy apart from the backups; without it they cannot be read\n"
            + TAG
            + " "
            + HEX.formatHex(key.master())
            + "\n";
    try {
      Files.createFile(
          file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } catch (FileAlreadyExistsException e) {
      throw new CbtfsException(file + " exists: a key file is never overwritten");
    }
    Files.writeString(file, text, StandardCharsets.US_ASCII, StandardOpenOption.WRITE);
    try (var ch = java.nio.channels.FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.force(true);
    }
  }

  /**
   * The key in {@code file}.
   *
   * @throws CbtfsException if the file is missing, unreadable or no key file
   */
  public static EncryptionKey load(Path file) {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.US_ASCII);
    } catch (NoSuchFileException e) {
      throw new CbtfsException("key file " + file + " does not exist");
    } catch (java.nio.charset.MalformedInputException e) {
      throw new CbtfsException(file + " is not a cbtfs key file");
    } catch (java.nio.file.AccessDeniedException e) {
      throw new CbtfsException("key file " + file + ": permission denied");
    } catch (IOException e) {
      throw new CbtfsException("key file " + file + " cannot be read: " + e.getMessage(), e);
    }
    for (String line : text.split("\n")) {
      String[] f = line.trim().split("\\s+");
      if (f.length == 2 && f[0].equals(TAG) && f[1].matches("[0-9a-f]{64}")) {
        return EncryptionKey.of(HEX.parseHex(f[1]));
      }
    }
    throw new CbtfsException(file + " is not a cbtfs key file (no '" + TAG + " HEX' line)");
  }

  /** The key as it is written on paper: its fingerprint, then four checksummed lines. */
  public static String paperForm(EncryptionKey key) {
    byte[] m = key.master();
    StringBuilder s = new StringBuilder("cbtfs key " + key.fingerprint() + "\n");
    for (int line = 1; line <= EncryptionKey.BYTES / LINE_BYTES; line++) {
      int from = (line - 1) * LINE_BYTES;
      s.append(line).append(':');
      for (int i = 0; i < LINE_BYTES; i += 2) {
        s.append(' ').append(HEX.formatHex(m, from + i, from + i + 2));
      }
      s.append("  ").append(HEX.formatHex(lineSum(line, m, from))).append('\n');
    }
    return s.toString();
  }

  /**
   * The key a paper form holds, typed back in: the lines {@code N: hex... sum} (spaces, case and
   * other lines do not matter); the fingerprint line, if present, must match.
   *
   * @throws CbtfsException naming the line that does not check
   */
  public static EncryptionKey fromPaper(String text) {
    byte[] m = new byte[EncryptionKey.BYTES];
    boolean[] seen = new boolean[EncryptionKey.BYTES / LINE_BYTES + 1];
    String fingerprint = null;
    for (String raw : text.split("\n")) {
      String line = raw.trim().toLowerCase(Locale.ROOT);
      if (line.startsWith("cbtfs key ")) {
        fingerprint = line.substring("cbtfs key ".length()).replaceAll("\\s", "");
        continue;
      }
      int colon = line.indexOf(':');
      if (colon <= 0 || !line.substring(0, colon).matches("[1-4]")) {
        continue;
      }
      int n = Integer.parseInt(line.substring(0, colon));
      String hex = line.substring(colon + 1).replaceAll("\\s", "");
      if (!hex.matches("[0-9a-f]{" + 2 * (LINE_BYTES + 2) + "}")) {
        throw new CbtfsException(
            "line " + n + " of the paper key needs 20 hex digits (16 of key, 4 of checksum)");
      }
      byte[] b = HEX.parseHex(hex);
      System.arraycopy(b, 0, m, (n - 1) * LINE_BYTES, LINE_BYTES);
      if (!MessageDigest.isEqual(
          lineSum(n, m, (n - 1) * LINE_BYTES),
          java.util.Arrays.copyOfRange(b, LINE_BYTES, b.length))) {
        throw new CbtfsException("line " + n + " of the paper key does not match its checksum");
      }
      seen[n] = true;
    }
    for (int n = 1; n < seen.length; n++) {
      if (!seen[n]) {
        throw new CbtfsException("line " + n + " of the paper key is missing");
      }
    }
    EncryptionKey key = EncryptionKey.of(m);
    if (fingerprint != null && !fingerprint.equals(key.fingerprint())) {
      throw new CbtfsException(
          "the paper key's lines make key " + key.fingerprint() + ", not " + fingerprint);
    }
    return key;
  }

  private static byte[] lineSum(int line, byte[] m, int from) {
    MessageDigest d;
    try {
      d = MessageDigest.getInstance("SHA-256");
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK lacks SHA-256", e);
    }
    d.update("cbtfs paper key".getBytes(StandardCharsets.US_ASCII));
    d.update((byte) line);
    d.update(m, from, LINE_BYTES);
    return java.util.Arrays.copyOf(d.digest(), 2);
  }
}
