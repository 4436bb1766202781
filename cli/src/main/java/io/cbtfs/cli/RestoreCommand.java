package io.cbtfs.cli;

import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.target.ArchiveTarget;
import io.cbtfs.syncer.target.Target;
import io.cbtfs.syncer.target.Targets;
import io.cbtfs.tracker.CbtfsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cbtfs restore}: rebuild an image from an archive as of any generation. */
@Command(
    name = "restore",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Rebuild an image from an archive, as of any generation.",
    description = {
      "Verifies every delta of the chain (the latest full base at or before the generation, "
          + "then each incremental one) before it writes OUT, a new file. Without --generation "
          + "the latest is restored; --list shows the generations."
    })
final class RestoreCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "ARCHIVE", description = "archive:DIR")
  String archive;

  @Parameters(
      index = "1",
      paramLabel = "OUT",
      arity = "0..1",
      description = "The file to create (must not exist).")
  Path out;

  @Option(names = "--generation", paramLabel = "N", description = "Generation to restore.")
  Long generation;

  @Option(names = "--list", description = "List the archive's generations and exit.")
  boolean list;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    Target t = Targets.parse(archive, Path.of("").toAbsolutePath());
    if (!(t instanceof ArchiveTarget a)) {
      throw new IllegalArgumentException(
          "restore reads an archive:DIR (a replica file is " + "already an image: copy it)");
    }
    TreeMap<Long, DeltaHeader> gens = a.generations();
    if (gens.isEmpty()) {
      throw new CbtfsException(a.describe() + " holds no generation");
    }
    if (list) {
      for (DeltaHeader h : gens.values()) {
        spec.commandLine().getOut().printf("%s  image size %d%n", h.describe(), h.imageSize());
      }
      return CbtfsCommand.EXIT_OK;
    }
    if (out == null) {
      throw new IllegalArgumentException("OUT is required (or use --list)");
    }
    if (Files.exists(out)) {
      throw new CbtfsException(out + " exists: restore writes a new file");
    }
    long g = generation != null ? generation : gens.lastKey();
    DeltaHeader h = a.restore(g, out);
    spec.commandLine()
        .getOut()
        .printf(
            "restored generation %d of %s to %s (%s)%n",
            g, a.describe(), out, Json.humanBytes(h.imageSize()));
    return CbtfsCommand.EXIT_OK;
  }
}
