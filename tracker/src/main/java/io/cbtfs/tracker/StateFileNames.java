package io.cbtfs.tracker;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Names of an image's files in the state directory. An image name may take the 255 bytes a file
 * name may, so {@code NAME.cbt} and its temp file {@code NAME.cbt.tmp} cannot hold every name. A
 * name whose files fit, temp suffix included, keeps the plain form ({@code NAME + suffix}: every
 * state file written before long names were handled). A longer one is named by the SHA-256 of its
 * bytes, {@code HASH + suffix + "-long"}: no plain name ends that way, so the two forms never meet,
 * and its state file stores the real name (docs/STATE.md).
 */
public final class StateFileNames {
  /** The longest file name Linux file systems take, in bytes. */
  static final int MAX_FILE_NAME_BYTES = 255;

  /** What a file of the state directory is written as before it is renamed over the real one. */
  public static final String TEMP_SUFFIX = ".tmp";

  static final String LONG_MARK = "-long";

  private StateFileNames() {}

  /** The file {@code imageName}'s {@code suffix} file (such as {@code .cbt}) has in {@code dir}. */
  public static Path file(Path dir, String imageName, String suffix) {
    return dir.resolve(name(imageName, suffix));
  }

  /** The file name of {@code imageName}'s {@code suffix} file. */
  static String name(String imageName, String suffix) {
    return isLong(imageName, suffix) ? sha256(imageName) + suffix + LONG_MARK : imageName + suffix;
  }

  /** Whether {@code imageName}'s {@code suffix} file has the hashed form. */
  static boolean isLong(String imageName, String suffix) {
    int bytes = imageName.getBytes(StandardCharsets.UTF_8).length;
    return bytes + suffix.length() + TEMP_SUFFIX.length() > MAX_FILE_NAME_BYTES;
  }

  private static String sha256(String imageName) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256")
                  .digest(imageName.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK has no SHA-256", e);
    }
  }
}
