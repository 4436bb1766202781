package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code mount --nbd} and {@code --nbd-writable}: a bad value is a usage error. */
class NbdOptionsTest {
  @TempDir Path tmp;

  @Test
  void aBadAddressIsAUsageError() {
    CliRun r =
        CliRun.of(
            "mount", "--nbd", "nbd:x", tmp.resolve("b").toString(), tmp.resolve("m").toString());
    assertThat(r.exitCode()).isEqualTo(CbtfsCommand.EXIT_USAGE);
    assertThat(r.err()).contains("invalid --nbd 'nbd:x': expected unix:PATH, PORT or HOST:PORT");
  }

  @Test
  void writableWithoutAnExportIsAUsageError() {
    CliRun r =
        CliRun.of(
            "mount", "--nbd-writable", tmp.resolve("b").toString(), tmp.resolve("m").toString());
    assertThat(r.exitCode()).isEqualTo(CbtfsCommand.EXIT_USAGE);
    assertThat(r.err()).contains("--nbd-writable needs --nbd");
  }
}
