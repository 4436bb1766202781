package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue item 11: every name the kernel allows (255 bytes) is served and tracked. */
class LongNamesIT {
  @TempDir Path tmp;
  DaemonMount folder;

  @BeforeEach
  void folders() throws IOException {
    folder = DaemonMount.prepare(tmp);
  }

  @AfterEach
  void noMountLeft() throws IOException {
    folder.close();
  }

  private static String name(int bytes) {
    return "n".repeat(bytes - 4) + ".img";
  }

  @Test
  void namesUpTo255BytesAreCreatedWrittenSyncedAndTrackedAcrossMounts() throws IOException {
    Files.write(folder.backingFile(name(255)), new byte[1 << 20]); // made before the mount
    folder.mount();
    List<Integer> lengths = List.of(243, 244, 247, 248, 250, 251, 252, 255);
    for (int bytes : lengths) {
      Tools.run(
          "dd through the mount into a " + bytes + "-byte name",
          "dd",
          "if=/dev/urandom",
          "of=" + folder.image(name(bytes)),
          "bs=65536",
          "count=2",
          "seek=3",
          "conv=notrunc",
          "status=none");
      Tools.Result status = Cbtfs.run("status", "--json", folder.image(name(bytes)).toString());
      assertThat(status.exitCode()).as(status.output()).isZero();
      assertThat(status.output()).as(bytes + " bytes").contains("\"dirtyBlocks\":2");
    }
    try (var listed = Files.list(folder.mnt)) {
      assertThat(listed.map(p -> p.getFileName().toString()))
          .containsExactlyInAnyOrderElementsOf(lengths.stream().map(LongNamesIT::name).toList());
    }
    Path replica = tmp.resolve("replica.img");
    Tools.Result sync =
        Cbtfs.run("sync", folder.image(name(255)).toString(), "file:" + replica.toString());
    assertThat(sync.exitCode()).as(sync.output()).isZero();
    assertThat(Files.mismatch(replica, folder.backingFile(name(255)))).isEqualTo(-1L);
    Tools.Result synced = Cbtfs.run("status", "--json", folder.image(name(255)).toString());
    assertThat(synced.output()).contains("\"dirtyBlocks\":0", "\"target\":\"file:" + replica);
    assertThat(Cbtfs.run("unmount", folder.mnt.toString()).exitCode()).isZero();

    for (int bytes : lengths) { // saved clean, under the names they had
      Tools.Result offline =
          Cbtfs.run("status", "--json", folder.backingFile(name(bytes)).toString());
      assertThat(offline.output())
          .as(bytes + " bytes: " + offline.output())
          .contains("\"clean\":true", bytes == 255 ? "\"dirtyBlocks\":0" : "\"dirtyBlocks\":2");
    }
  }
}
