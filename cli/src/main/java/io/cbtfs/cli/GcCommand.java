package io.cbtfs.cli;

import io.cbtfs.s3.S3Gc;
import io.cbtfs.syncer.Printable;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.ArchiveGc;
import io.cbtfs.syncer.local.ArchiveTarget;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cbtfs gc}: retention for an S3 store (and its chunk sweep) or an archive chain. */
@Command(
    name = "gc",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header =
        "Keep the last N generations of every image in an S3 store, or of an archive; remove "
            + "the rest.",
    description = {
      "s3://: removes the manifests of all but the last --keep generations of each image, then "
          + "the chunks that no remaining manifest names. Safe while other hosts sync to the "
          + "store: the sweep waits until running syncs finish (new syncs wait for the sweep), "
          + "and a chunk younger than --grace is never removed. See docs/FORMAT.md, 'Object "
          + "store'.",
      "",
      "archive:DIR: keeps the last --keep generations. The oldest kept one is first rewritten "
          + "as a full delta if it was incremental (the image as of it, read verified from its "
          + "chain; an encrypted chain needs its --encrypt-key), then the older generations are "
          + "removed, newest first. Killed at any point, the archive still restores every "
          + "generation it lists, and the next gc finishes the job. Refused while a sync to the "
          + "archive runs (a sync is refused while gc runs). A read-only mount of the archive "
          + "keeps reading what it opened; a removed generation it had not opened reads as an "
          + "I/O error. See docs/OPERATIONS.md, 'Retention'."
    })
final class GcCommand implements Callable<Integer> {
  @Parameters(
      index = "0",
      paramLabel = "STORE",
      description = "s3://BUCKET/[STORE], or archive:DIR (a backup chain)")
  String store;

  @Option(
      names = "--keep",
      paramLabel = "N",
      required = true,
      description = "Generations to keep per image (at least 1; the newest is always kept).")
  int keep;

  @Option(
      names = "--grace",
      paramLabel = "DURATION",
      defaultValue = "1h",
      description =
          "s3:// only: never remove a chunk younger than this, e.g. 30m, 6h (default: "
              + "${DEFAULT-VALUE}).")
  String grace;

  @Option(
      names = "--wait",
      paramLabel = "DURATION",
      defaultValue = "10m",
      description = "s3:// only: how long to wait for running syncs (default: ${DEFAULT-VALUE}).")
  String wait;

  @Option(names = "--dry-run", description = "Say what would be removed; remove nothing.")
  boolean dryRun;

  @CommandLine.Mixin S3Options s3;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (store.startsWith("archive:")) {
      return archive();
    }
    if (!store.startsWith("s3://")) {
      throw new IllegalArgumentException(
          "gc takes an s3://BUCKET/[STORE] store or an archive:DIR, not '"
              + Printable.escaped(store)
              + "' (a replica holds one generation: nothing to remove; for a receiver's archive, "
              + "run gc on the receiver's host)");
    }
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

  private int archive() throws Exception {
    for (String s3Only : new String[] {"--grace", "--wait", "--s3-endpoint", "--s3-region"}) {
      if (spec.commandLine().getParseResult().hasMatchedOption(s3Only)) {
        throw new IllegalArgumentException(s3Only + " is for s3:// stores, not an archive");
      }
    }
    try (Target t = s3.address(store).open()) {
      ArchiveGc gc = new ArchiveGc((ArchiveTarget) t);
      ArchiveGc.Report r = gc.run(keep, dryRun);
      spec.commandLine().getOut().println(summary(Printable.escaped(gc.describe()), r, dryRun));
    }
    return CbtfsCommand.EXIT_OK;
  }

  /**
   * "archive:/b: 4 generations removed (1.9 MiB), 3 kept; generation 5 folded into a full delta
   * (336.0 KiB -> 3.7 MiB); 1.2 MiB freed".
   */
  static String summary(String archive, ArchiveGc.Report r, boolean dryRun) {
    StringBuilder b = new StringBuilder();
    if (dryRun) {
      b.append("dry run, nothing removed: ");
    }
    b.append(archive)
        .append(": ")
        .append(r.removedGenerations())
        .append(" generations removed (")
        .append(Json.humanBytes(r.removedBytes()))
        .append("), ")
        .append(r.keptGenerations())
        .append(" kept");
    if (r.foldedGeneration() >= 0) {
      b.append("; generation ").append(r.foldedGeneration()).append(" folded into a full delta (");
      b.append(Json.humanBytes(r.foldedBytesBefore()));
      if (!dryRun) {
        b.append(" -> ").append(Json.humanBytes(r.foldedBytesAfter()));
      }
      b.append(")");
    }
    if (!dryRun) {
      long freed = r.freedBytes();
      b.append("; ")
          .append(Json.humanBytes(Math.abs(freed)))
          .append(freed >= 0 ? " freed" : " more used (the full delta outweighs what went)");
    }
    return b.toString();
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
