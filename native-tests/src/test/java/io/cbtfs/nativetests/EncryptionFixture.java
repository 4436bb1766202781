package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What the encryption ITs share: keys made with {@code cbtfs key create}, the generation a sync
 * reports, and the search of the bytes at rest for a known plaintext block.
 */
final class EncryptionFixture {
  private EncryptionFixture() {}

  /** A new key file {@code NAME.key} in {@code dir}, made by the cli. */
  static Path createKey(Path dir, String name) {
    Path file = dir.resolve(name + ".key");
    Tools.Result r = Cbtfs.run("key", "create", file.toString());
    assertThat(r.exitCode()).as(r.output()).isZero();
    return file;
  }

  /** The generation a successful {@code cbtfs sync} says it made. */
  static long generation(Tools.Result sync) {
    Matcher m = Pattern.compile("generation (\\d+)").matcher(sync.output());
    assertThat(m.find()).as(sync.output()).isTrue();
    return Long.parseLong(m.group(1));
  }

  /** Whether {@code needle} occurs anywhere in {@code file}. */
  static boolean contains(Path file, byte[] needle) throws IOException {
    byte[] hay = Files.readAllBytes(file);
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  /** The regular files under {@code dir}. */
  static List<Path> files(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).toList();
    }
  }
}
