package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFileTest {
  @TempDir Path dir;

  @Test
  void replacesTheContentAndLeavesNoTempFile() throws IOException {
    Path file = dir.resolve("a.targets");
    AtomicFile.replace(file, bytes("one"));
    AtomicFile.replace(file, bytes("two, longer"));
    AtomicFile.replace(file, bytes("3"));
    assertThat(Files.readString(file)).isEqualTo("3");
    try (var names = Files.list(dir)) {
      assertThat(names).containsExactly(file);
    }
  }

  @Test
  void aSymbolicLinkAtTheTempNameIsNotFollowed() throws IOException {
    Path file = dir.resolve("a.targets");
    AtomicFile.replace(file, bytes("old"));
    Path elsewhere = Files.writeString(dir.resolve("elsewhere"), "not yours");
    Files.createSymbolicLink(dir.resolve("a.targets.tmp"), elsewhere);

    assertThatThrownBy(() -> AtomicFile.replace(file, bytes("new")))
        .isInstanceOf(IOException.class);
    assertThat(Files.readString(elsewhere)).isEqualTo("not yours");
    assertThat(Files.readString(file)).isEqualTo("old");
  }

  @Test
  void aFailureBeforeTheRenameLeavesTheOldFile() throws IOException {
    Path file = dir.resolve("a.targets");
    AtomicFile.replace(file, bytes("old"));
    Files.createDirectory(dir.resolve("a.targets.tmp")); // the temp cannot be opened for writing

    assertThatThrownBy(() -> AtomicFile.replace(file, bytes("new")))
        .isInstanceOf(IOException.class);
    assertThat(Files.readString(file)).isEqualTo("old");
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
