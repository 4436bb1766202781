package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code cbtfs verify}: a target that holds nothing is said so, not listed as all different. */
class VerifyCommandTest {
  @TempDir Path tmp;

  @Test
  void aTargetThatHoldsNoGenerationIsSaidSoInOneLine() throws Exception {
    Path image = tmp.resolve("disk.img");
    byte[] data = new byte[1 << 20];
    new Random(5).nextBytes(data);
    Files.write(image, data);
    Path emptyArchive = Files.createDirectory(tmp.resolve("fresh.archive"));
    for (String target :
        new String[] {"archive:" + emptyArchive, "file:" + tmp.resolve("never-synced.img")}) {
      CliRun r = CliRun.of("verify", image.toString(), target);
      assertThat(r.exitCode()).as(r.err()).isEqualTo(CbtfsCommand.EXIT_FAILURE);
      assertThat(r.err().lines())
          .singleElement()
          .asString()
          .startsWith("cbtfs verify: " + target + " holds no generation yet")
          .contains("nothing to compare " + image + " with; sync to it first")
          .doesNotContain("differ");
    }
    CliRun asked =
        CliRun.of("verify", image.toString(), "archive:" + emptyArchive, "--generation", "1");
    assertThat(asked.exitCode()).isEqualTo(CbtfsCommand.EXIT_FAILURE);
    assertThat(asked.err()).contains("holds no generation yet");

    CliRun sync = CliRun.of("sync", image.toString(), "archive:" + emptyArchive);
    assertThat(sync.exitCode()).as(sync.err()).isZero();
    CliRun same = CliRun.of("verify", image.toString(), "archive:" + emptyArchive);
    assertThat(same.exitCode()).as(same.err()).isZero();
    assertThat(same.out()).contains("are identical");
  }
}
