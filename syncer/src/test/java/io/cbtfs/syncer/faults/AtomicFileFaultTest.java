package io.cbtfs.syncer.faults;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.AtomicFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link AtomicFile} on a {@link FaultyFileSystem}: its steps in order (every one through the
 * path's own file system), and a fault at any of them leaves the old bytes or the new ones.
 */
class AtomicFileFaultTest {
  @TempDir Path tmp;

  @Test
  void writesForcesRenamesThenFsyncsTheFolder() throws IOException {
    Faults faults = new Faults();
    Path file = new FaultyFileSystem(faults).wrap(tmp.resolve("meta"));
    faults.arm(Faults.Kind.IO_ERROR, Long.MAX_VALUE);
    AtomicFile.replace(file, bytes("new"));
    assertThat(faults.trace())
        .map(line -> line.substring(line.indexOf(' ') + 1))
        .containsExactly(
            "open-write meta.tmp",
            "write 3 meta.tmp",
            "fsync meta.tmp",
            "rename to meta meta.tmp",
            "open " + tmp.getFileName(),
            "fsync " + tmp.getFileName());
  }

  @Test
  void aFaultAtAnyStepLeavesTheOldOrTheNewBytes() throws IOException {
    for (Faults.Kind kind : Faults.Kind.values()) {
      for (int k = 1; k <= 6; k++) {
        Path real = Files.createDirectory(tmp.resolve(kind + "-" + k)).resolve("meta");
        Files.writeString(real, "old");
        Faults faults = new Faults();
        Path file = new FaultyFileSystem(faults).wrap(real);
        faults.arm(kind, k);
        boolean failed = false;
        try {
          AtomicFile.replace(file, bytes("new bytes"));
        } catch (IOException e) {
          failed = true;
        }
        faults.disarm();
        String after = Files.readString(real);
        assertThat(after).as(kind + " at " + k).isIn("old", "new bytes");
        if (failed && faults.trace().stream().noneMatch(l -> l.contains("rename"))) {
          assertThat(after).as(kind + " at " + k + ", before the rename").isEqualTo("old");
        }
        if (!failed) {
          assertThat(after).as(kind + " at " + k).isEqualTo("new bytes");
        }
      }
    }
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
