package io.cbtfs.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@code --encrypt-key FILE}: folded into an {@code s3://}, {@code archive:} or {@code cbtfs://}
 * URI as {@code encrypt-key=} with the file's absolute path (never the key), so a sync that runs
 * inside the mount reads the same file.
 */
final class EncryptKeyOption {
  @Option(
      names = "--encrypt-key",
      paramLabel = "FILE",
      description =
          "Encrypt (and read) what an s3://, archive: or cbtfs://…?archive target stores with the key in FILE ('cbtfs key "
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
    if (uri.contains("encrypt-key=")) {
      return uri;
    }
    if (uri.startsWith("archive:")) {
      return uri + "?encrypt-key=" + file.toAbsolutePath();
    }
    if (!uri.startsWith("s3://") && !uri.startsWith("cbtfs://")) {
      throw new IllegalArgumentException(
          "--encrypt-key works with s3://, archive: and cbtfs://…?archive targets; "
              + uri
              + " is not one (a replica applies blocks and cannot hold them encrypted)");
    }
    return uri + (uri.contains("?") ? "&" : "?") + "encrypt-key=" + file.toAbsolutePath();
  }
}
