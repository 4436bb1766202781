package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --metrics}: loopback unless told otherwise, a bad value a usage error. */
class MetricsAddressTest {
  @TempDir Path tmp;

  @Test
  void aPortAloneIsLoopback() {
    assertThat(MetricsAddress.parse("9393")).isEqualTo(new MetricsAddress("127.0.0.1", 9393));
  }

  @Test
  void hostAndPort() {
    assertThat(MetricsAddress.parse("0.0.0.0:9393")).isEqualTo(new MetricsAddress("0.0.0.0", 9393));
    assertThat(MetricsAddress.parse("[::1]:80")).isEqualTo(new MetricsAddress("::1", 80));
    assertThat(MetricsAddress.parse("[::1]:80").toString()).isEqualTo("[::1]:80");
    assertThat(MetricsAddress.parse("monitor.lan:9393").host()).isEqualTo("monitor.lan");
  }

  @Test
  void badValuesAreRefused() {
    for (String bad : new String[] {"", "x", "0", "65536", ":9393", "::1:80", "host:", "-1"}) {
      assertThatThrownBy(() -> MetricsAddress.parse(bad))
          .as(bad)
          .isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void aMountWithABadAddressIsAUsageError() {
    CliRun r =
        CliRun.of(
            "mount",
            "--metrics",
            "localhost:http",
            tmp.resolve("b").toString(),
            tmp.resolve("m").toString());
    assertThat(r.exitCode()).isEqualTo(CbtfsCommand.EXIT_USAGE);
    assertThat(r.err()).contains("invalid --metrics 'localhost:http': expected PORT or HOST:PORT");
  }
}
