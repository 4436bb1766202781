package io.cbtfs.cli;

import java.util.List;

/**
 * A pull backup as {@code cbtfs backup begin} and {@code end} report it.
 *
 * @param export the NBD export's name, {@code IMAGE@NAME}
 * @param uris the export's URI on each NBD address of the mount (empty once it ended)
 * @param cursor the cursor's name as {@code cbtfs status} lists it ({@code nbd:NAME})
 * @param generation the drain's generation: the cursor's once committed
 * @param base the generation the cursor held at the drain; -1 for a new cursor
 * @param imageSize the image's size at the drain (the export's)
 * @param dirtyBlocks the blocks its dirty bitmap lists: what the consumer lacks
 * @param state {@code open}, {@code committed} or {@code aborted}
 */
record BackupReport(
    String export,
    List<String> uris,
    String cursor,
    long generation,
    long base,
    long imageSize,
    int blockSize,
    long dirtyBlocks,
    long dirtyBytes,
    String why,
    String state) {
  static final String OPEN = "open";
  static final String COMMITTED = "committed";
  static final String ABORTED = "aborted";

  String json() {
    return "{\"export\":"
        + Json.quote(export)
        + ",\"uris\":["
        + String.join(",", uris.stream().map(Json::quote).toList())
        + "]"
        + ",\"cursor\":"
        + Json.quote(cursor)
        + ",\"generation\":"
        + generation
        + ",\"base\":"
        + base
        + ",\"imageSize\":"
        + imageSize
        + ",\"blockSize\":"
        + blockSize
        + ",\"dirtyBlocks\":"
        + dirtyBlocks
        + ",\"dirtyBytes\":"
        + dirtyBytes
        + ",\"why\":"
        + Json.quote(why)
        + ",\"state\":"
        + Json.quote(state)
        + "}";
  }
}
