package io.cbtfs.cli;

import io.cbtfs.s3.S3Gc;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cbtfs gc}: retention and chunk sweep for an S3 store. */
@Command(
    name = "gc",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Keep the last N generations of every image in an S3 store; remove unused chunks.",
    description = {
      "Removes the manifests of all but the last --keep generations of each image, then the "
          + "chunks that no remaining manifest names. Safe while other hosts sync to the store: "
          + "the sweep waits until running syncs finish (new syncs wait for the sweep), and a "
          + "chunk younger than --grace is never removed. See docs/FORMAT.md, 'Object store'."
    })
final class GcCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "STORE", description = "s3://BUCKET/[STORE]")
  String store;

  @Option(
      names = "--keep",
      paramLabel = "N",
      required = true,
      description = "Generations to keep per image (at least 1).")
  int keep;

  @Option(
      names = "--grace",
      paramLabel = "DURATION",
      defaultValue = "1h",
      description =
          "Never remove a chunk younger than this, e.g. 30m, 6h (default: ${DEFAULT-VALUE}).")
  String grace;

  @Option(
      names = "--wait",
      paramLabel = "DURATION",
      defaultValue = "10m",
      description = "How long to wait for running syncs (default: ${DEFAULT-VALUE}).")
  String wait;

  @Option(names = "--dry-run", description = "Say what would be removed; remove nothing.")
  boolean dryRun;

  @CommandLine.Mixin S3Options s3;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    S3Gc gc = new S3Gc(s3.apply(store));
    S3Gc.Report r = gc.run(keep, duration(grace, "--grace"), dryRun, duration(wait, "--wait"));
    spec.commandLine()
        .getOut()
        .printf(
            Json.NUMBERS,
            "%s%s: %d generations removed, %d kept; %d chunks removed (%s), %d in use, "
                + "%d unused but younger than %s%n",
            dryRun ? "dry run, nothing removed: " : "",
            gc.describe(),
            r.removedGenerations(),
            r.keptGenerations(),
            r.removedChunks(),
            Json.humanBytes(r.removedBytes()),
            r.referencedChunks(),
            r.youngUnreferenced(),
            grace);
    return CbtfsCommand.EXIT_OK;
  }

  /** "90s", "30m", "6h", "2d" or "0"; never negative. */
  static Duration duration(String s, String option) {
    if (s.equals("0")) {
      return Duration.ZERO;
    }
    try {
      long n = Long.parseLong(s.substring(0, s.length() - 1));
      if (n < 0) { // a negative grace would silently mean none
        throw new NumberFormatException();
      }
      return switch (s.charAt(s.length() - 1)) {
        case 's' -> Duration.ofSeconds(n);
        case 'm' -> Duration.ofMinutes(n);
        case 'h' -> Duration.ofHours(n);
        case 'd' -> Duration.ofDays(n);
        default -> throw new NumberFormatException();
      };
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          option + " '" + s + "': use a number with s, m, h or d, e.g. 30m");
    }
  }
}
