package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** {@code cbtfs gc}'s durations: a usage error before any store is asked. */
class GcCommandTest {
  @Test
  void durationsTakeAUnit() {
    assertThat(GcCommand.duration("90s", "--grace")).isEqualTo(Duration.ofSeconds(90));
    assertThat(GcCommand.duration("6h", "--grace")).isEqualTo(Duration.ofHours(6));
    assertThat(GcCommand.duration("0", "--grace")).isEqualTo(Duration.ZERO);
  }

  /** A negative grace read as "remove every unused chunk, however young", silently. */
  @Test
  void aNegativeDurationIsAUsageError() {
    for (String option : new String[] {"--grace", "--wait"}) {
      CliRun run =
          CliRun.of(
              "gc",
              "s3://bucket/fleet",
              "--keep",
              "1",
              option,
              "-5m",
              "--s3-endpoint",
              "http://127.0.0.1:9",
              "--s3-region",
              "us-east-1");
      assertThat(run.exitCode()).as(run.err()).isEqualTo(CbtfsCommand.EXIT_USAGE);
      assertThat(run.err()).contains(option + " '-5m'");
    }
  }
}
