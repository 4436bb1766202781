package io.cbtfs.cli;

import io.cbtfs.s3.S3Catalog;
import io.cbtfs.syncer.local.Restorable;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code cbtfs ls}: what an S3 store holds. */
@Command(
    name = "ls",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "List the images and generations of an S3 store, with sizes and dates.",
    description = {
      "STORE is s3://BUCKET/[STORE]: the prefix that images share chunks under (an image's URI "
          + "without its last segment). 'stored' is what a generation added to the store; the "
          + "last line is what the whole store takes."
    })
final class LsCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "STORE", description = "s3://BUCKET/[STORE]")
  String store;

  @CommandLine.Mixin JsonOption json;

  @CommandLine.Mixin S3Options s3;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    List<S3Catalog.Image> images;
    S3Catalog.Totals totals;
    String described;
    try (S3Catalog catalog = new S3Catalog(s3.apply(store))) {
      images = catalog.images();
      totals = catalog.totals();
      described = catalog.describe();
    }
    var out = spec.commandLine().getOut();
    if (json.on) {
      StringBuilder b = new StringBuilder("{\"store\":" + Json.quote(described));
      b.append(",\"images\":[");
      for (int i = 0; i < images.size(); i++) {
        S3Catalog.Image im = images.get(i);
        b.append(i == 0 ? "" : ",").append("{\"name\":").append(Json.quote(im.name()));
        b.append(",\"generations\":[");
        for (int j = 0; j < im.generations().size(); j++) {
          Restorable.Generation g = im.generations().get(j);
          b.append(j == 0 ? "" : ",")
              .append(
                  String.format(
                      Json.NUMBERS,
                      "{\"generation\":%d,\"full\":%b,\"imageBytes\":%d,\"storedBytes\":%d,"
                          + "\"created\":%s}",
                      g.generation(),
                      g.full(),
                      g.imageSize(),
                      g.storedBytes(),
                      Json.quote(String.valueOf(g.created()))));
        }
        b.append("]}");
      }
      b.append(
          String.format(
              Json.NUMBERS,
              "],\"chunks\":%d,\"chunkBytes\":%d,\"manifests\":%d,\"manifestBytes\":%d}",
              totals.chunks(),
              totals.chunkBytes(),
              totals.manifests(),
              totals.manifestBytes()));
      out.println(b);
      return CbtfsCommand.EXIT_OK;
    }
    if (images.isEmpty()) {
      out.println(described + " holds no image");
    }
    // one width for every image's columns: the store reads as one table
    Listing listing = Listing.of(images.stream().flatMap(im -> im.generations().stream()).toList());
    for (S3Catalog.Image im : images) {
      out.println(im.name() + ":");
      for (Restorable.Generation g : im.generations()) {
        out.println("  " + listing.line(g));
      }
    }
    out.printf(
        Json.NUMBERS,
        "%d chunks (%s), %d manifests (%s)%n",
        totals.chunks(),
        Json.humanBytes(totals.chunkBytes()),
        totals.manifests(),
        Json.humanBytes(totals.manifestBytes()));
    return CbtfsCommand.EXIT_OK;
  }
}
