package io.cbtfs.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@code --encrypt-key FILE}: folded into an {@code s3://} URI as {@code encrypt-key=} with the
 * file's absolute path (never the key), so a sync that runs inside the mount reads the same file.
 */
final class EncryptKeyOption {
  @Option(
      names = "--encrypt-key",
      paramLabel = "FILE",
      description =
          "Encrypt (and read) what an s3:// target stores with the key in FILE ('cbtfs key "
              + "create'). A target remembers its key: another key, or none, is refused until "
              + "a --full sync starts a new chain under the new key.")
  Path file;

  /**
   * {@code uri} with the key folded in.
   *
   * @throws IllegalArgumentException for a target that cannot be encrypted (yet)
   */
  String apply(String uri) {
    if (file == null) {
      return uri;
    }
    if (!uri.startsWith("s3://")) {
      throw new IllegalArgumentException(
          "--encrypt-key works with s3:// targets; "
              + uri
              + " is not one (archive: and cbtfs:// are not encrypted yet)");
    }
    if (uri.contains("encrypt-key=")) {
      return uri;
    }
    return uri + (uri.contains("?") ? "&" : "?") + "encrypt-key=" + file.toAbsolutePath();
  }
}
