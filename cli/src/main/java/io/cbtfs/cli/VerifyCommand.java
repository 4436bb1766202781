package io.cbtfs.cli;

import io.cbtfs.syncer.Target;
import io.cbtfs.syncer.local.Restorable;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.DirtySet;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cbtfs verify}: compare an image with what a target holds. */
@Command(
    name = "verify",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Compare an image with its replica, archive or S3 store, block by block.",
    description = {
      "Reads the image and the target's latest generation and names the first differing "
          + "blocks. Against S3 every chunk of the generation is downloaded and checked against "
          + "its name, so a damaged chunk is named too. Exit 0 when identical, 1 when they differ "
          + "(or the target holds no generation yet, or it cannot be read). Pause writes to the image "
          + "(or read it right after a sync) for a meaningful answer."
    })
final class VerifyCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "IMAGE", description = "The image.")
  Path image;

  @Parameters(
      index = "1",
      paramLabel = "TARGET",
      description = "file:PATH, archive:DIR or s3://BUCKET/[STORE/]IMAGE.")
  String target;

  @Option(
      names = "--generation",
      paramLabel = "N",
      description = "Compare with generation N of an archive or S3 store (default: the latest).")
  Long generation;

  @CommandLine.Mixin S3Options s3;

  @Option(
      names = "--block-size",
      paramLabel = "SIZE",
      defaultValue = "64K",
      description = "Granule of the comparison (default: ${DEFAULT-VALUE}).")
  String blockSize;

  @Option(
      names = "--max-differences",
      paramLabel = "N",
      defaultValue = "10",
      description = "Stop after naming N differing blocks (default: ${DEFAULT-VALUE}).")
  int limit;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    try (Target t = s3.address(target).open()) {
      return verify(t);
    }
  }

  private int verify(Target t) throws IOException {
    BlockGeometry geometry = BlockGeometry.of((int) BlockGeometry.parseByteSize(blockSize));
    int bs = geometry.blockSize();
    Restorable archived = t instanceof Restorable r ? r : null;
    if (generation != null && archived == null) {
      throw new IllegalArgumentException(
          "--generation needs an archive:DIR or s3:// target (a replica holds one generation)");
    }
    if (!t.state().exists()) { // else every block would be named as differing
      throw new CbtfsException(
          t.describe()
              + " holds no generation yet (nothing was synced to it): nothing to compare "
              + image
              + " with; sync to it first");
    }
    DirtySet differing;
    long size;
    try (FileChannel ch = FileChannel.open(image)) {
      size = ch.size();
      int most = Math.max(1, limit);
      differing =
          generation == null
              ? Target.differing(t, ch, size, geometry, most)
              : Restorable.differing(archived, generation, ch, size, geometry, most);
    }
    if (differing.isEmpty()) {
      spec.commandLine()
          .getOut()
          .printf(
              "%s and %s are identical (%s, %d blocks of %s)%n",
              image,
              t.describe(),
              Json.humanBytes(size),
              geometry.blockCount(size),
              BlockGeometry.formatBytes(bs));
      return CbtfsCommand.EXIT_OK;
    }
    List<String> named = new ArrayList<>();
    differing.forEachBlock(b -> named.add(b + " (offset " + (long) b * bs + ")"));
    spec.commandLine()
        .getErr()
        .printf(
            "%s and %s differ; first differing blocks of %s: %s%n",
            image, t.describe(), BlockGeometry.formatBytes(bs), String.join(", ", named));
    return CbtfsCommand.EXIT_FAILURE;
  }
}
