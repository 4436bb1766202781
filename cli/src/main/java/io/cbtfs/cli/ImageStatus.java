package io.cbtfs.cli;

import io.cbtfs.tracker.BlockGeometry;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code cbtfs status} reports of one image. The JSON names are a contract for scripts.
 *
 * @param tracking "mounted" (a running mount answered), "offline" (persisted state) or "untracked"
 */
record ImageStatus(
    String image,
    long imageSize,
    int blockSize,
    long dirtyBlocks,
    long dirtyBytes,
    long generation,
    String lineage,
    String tracking,
    boolean clean,
    String recovery) {

  Map<String, String> toFields() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("image", image);
    m.put("imageSize", Long.toString(imageSize));
    m.put("blockSize", Integer.toString(blockSize));
    m.put("dirtyBlocks", Long.toString(dirtyBlocks));
    m.put("dirtyBytes", Long.toString(dirtyBytes));
    m.put("generation", Long.toString(generation));
    m.put("lineage", lineage);
    m.put("tracking", tracking);
    m.put("clean", Boolean.toString(clean));
    m.put("recovery", recovery);
    return m;
  }

  static ImageStatus fromFields(Map<String, String> m) {
    return new ImageStatus(
        m.get("image"),
        Long.parseLong(m.get("imageSize")),
        Integer.parseInt(m.get("blockSize")),
        Long.parseLong(m.get("dirtyBlocks")),
        Long.parseLong(m.get("dirtyBytes")),
        Long.parseLong(m.get("generation")),
        m.get("lineage"),
        m.get("tracking"),
        Boolean.parseBoolean(m.get("clean")),
        m.get("recovery"));
  }

  String toJson() {
    return "{\"image\":"
        + Json.quote(image)
        + ",\"imageSize\":"
        + imageSize
        + ",\"blockSize\":"
        + blockSize
        + ",\"dirtyBlocks\":"
        + dirtyBlocks
        + ",\"dirtyBytes\":"
        + dirtyBytes
        + ",\"generation\":"
        + generation
        + ",\"lineage\":"
        + Json.quote(lineage)
        + ",\"tracking\":"
        + Json.quote(tracking)
        + ",\"clean\":"
        + clean
        + ",\"recovery\":"
        + Json.quote(recovery)
        + "}";
  }

  String toText() {
    double percent = imageSize == 0 ? 0 : 100.0 * dirtyBytes / imageSize;
    return String.format(
        Locale.ROOT,
        "image        %s%n"
            + "image size   %s (%d bytes)%n"
            + "block size   %s%n"
            + "dirty        %d blocks, %s (%.2f%% of the image)%n"
            + "generation   %d (last committed sync)%n"
            + "tracking     %s%s%n",
        image,
        Json.humanBytes(imageSize),
        imageSize,
        BlockGeometry.formatBytes(blockSize),
        dirtyBlocks,
        Json.humanBytes(dirtyBytes),
        percent,
        generation,
        tracking,
        recovery.isEmpty() ? "" : ", " + recovery);
  }
}
