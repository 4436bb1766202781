package io.cbtfs.cli;

import io.cbtfs.syncer.DeltaHeader;
import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.syncer.remote.RemoteArchive;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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
    header =
        "Rebuild an image from an archive, an S3 store or a receiver's archive, as of any generation.",
    description = {
      "From an archive, verifies every delta of the chain (the latest full base at or before "
          + "the generation, then each incremental one) before it writes OUT, a new file. From "
          + "S3, reads the generation's manifest and verifies every chunk against its name. "
          + "Without --generation the latest is restored; --list shows the generations."
    })
final class RestoreCommand implements Callable<Integer> {
  @Parameters(
      index = "0",
      paramLabel = "SOURCE",
      description =
          "archive:DIR, s3://BUCKET/[STORE/]IMAGE (with --s3-endpoint for MinIO/Ceph), or a "
              + "receiver's archive, cbtfs://HOST:PORT/NAME?archive&pin=...&token-file=...")
  String source;

  @Parameters(
      index = "1",
      paramLabel = "OUT",
      arity = "0..1",
      description = "The file to create (must not exist).")
  Path out;

  @Option(names = "--generation", paramLabel = "N", description = "Generation to restore.")
  Long generation;

  @Option(names = "--list", description = "List the generations and exit.")
  boolean list;

  @CommandLine.Mixin S3Options s3;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    String uri = s3.apply(source);
    // a receiver's archive is read over read sessions; a cbtfs:// target is for syncs
    try (Target t =
        RemoteArchive.isRemote(uri) ? RemoteArchive.open(uri) : s3.address(source).open()) {
      return restore(t);
    }
  }

  private int restore(Target t) throws IOException {
    if (!(t instanceof Restorable r)) {
      throw new IllegalArgumentException(
          "restore reads an archive:DIR, an s3:// store or a cbtfs://…?archive (a replica file is "
              + "already an image: copy it)");
    }
    List<Restorable.Generation> gens = r.generations();
    if (gens.isEmpty()) {
      throw new CbtfsException(r.describe() + " holds no generation");
    }
    if (list) {
      Listing listing = Listing.of(gens);
      for (Restorable.Generation g : gens) {
        spec.commandLine().getOut().println(listing.line(g));
      }
      return CbtfsCommand.EXIT_OK;
    }
    if (out == null) {
      throw new IllegalArgumentException("OUT is required (or use --list)");
    }
    if (Files.exists(out)) {
      throw new CbtfsException(out + " exists: restore writes a new file");
    }
    Path folder = out.toAbsolutePath().getParent();
    if (folder != null && Files.exists(folder.resolve("archive.meta"))) {
      // a file there could pass for one of its generations
      throw new CbtfsException(out + " is inside a backup archive: restore to another folder");
    }
    long g = generation != null ? generation : gens.get(gens.size() - 1).generation();
    ProgressBar bar = ProgressBar.forTerminal(false);
    long started = System.nanoTime();
    DeltaHeader h;
    try {
      h = r.restore(g, out, (done, total) -> bar.update(done, total, 0, 0));
    } finally {
      bar.finish();
    }
    double secs = (System.nanoTime() - started) / 1e9;
    spec.commandLine()
        .getOut()
        .printf(
            Json.NUMBERS,
            "restored generation %d of %s to %s (%s in %.2f s)%n",
            g,
            r.describe(),
            out,
            Json.humanBytes(h.imageSize()),
            secs);
    return CbtfsCommand.EXIT_OK;
  }
}
