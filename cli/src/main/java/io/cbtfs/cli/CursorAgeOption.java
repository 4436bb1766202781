package io.cbtfs.cli;

import io.cbtfs.tracker.TrackingOptions;
import java.time.Clock;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** {@code --cursor-max-age}: how long a target's cursor holds history while it is not used. */
final class CursorAgeOption {
  private static final Pattern DURATION = Pattern.compile("([0-9]{1,9})([smhd])");

  /** The longest age taken: far beyond any schedule, and far inside what an Instant can add. */
  static final Duration LONGEST = Duration.ofDays(36_500);

  @Option(
      names = "--cursor-max-age",
      paramLabel = "DURATION",
      defaultValue = "30d",
      description =
          "A target unused this long stops holding history: once another target syncs, the "
              + "changes it alone lacked go, and its next sync compares every block. A number "
              + "and s, m, h or d, e.g. 12h, 90d (default: ${DEFAULT-VALUE}). A sync, status or "
              + "forget that a running mount answers uses the mount's.")
  String maxAge;

  /**
   * The cursor policy the option gives, on the system clock.
   *
   * @throws CommandLine.ParameterException (a usage error) for a bad duration
   */
  TrackingOptions.Cursors policy(CommandLine cli) {
    try {
      return new TrackingOptions.Cursors(parse(maxAge), Clock.systemUTC());
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(
          cli, "invalid --cursor-max-age '" + maxAge + "': " + e.getMessage());
    }
  }

  /**
   * Parses {@code 30d}, {@code 12h}, {@code 90m} or {@code 3600s}.
   *
   * @throws IllegalArgumentException for anything else, zero, or more than {@link #LONGEST}
   */
  static Duration parse(String text) {
    Matcher m = DURATION.matcher(text.strip());
    if (!m.matches()) {
      throw new IllegalArgumentException("use a number and s, m, h or d, e.g. 30d or 12h");
    }
    ChronoUnit unit =
        switch (m.group(2)) {
          case "s" -> ChronoUnit.SECONDS;
          case "m" -> ChronoUnit.MINUTES;
          case "h" -> ChronoUnit.HOURS;
          default -> ChronoUnit.DAYS;
        };
    Duration d = Duration.of(Long.parseLong(m.group(1)), unit);
    if (d.isZero()) {
      throw new IllegalArgumentException("it must be positive");
    }
    if (d.compareTo(LONGEST) > 0) {
      throw new IllegalArgumentException("at most " + LONGEST.toDays() + "d");
    }
    return d;
  }
}
