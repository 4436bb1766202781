package io.cbtfs.cli;

import io.cbtfs.tracker.BlockGeometry;
import java.util.List;

/**
 * What {@code cbtfs status} reports of one image. The JSON names are a contract for scripts.
 *
 * @param tracking "mounted" (a running mount answered), "offline" (persisted state) or "untracked"
 * @param verifyNextSync the next sync compares every block with its target and sends what differs
 *     (the image changed while not mounted, or recovery could not trust the activity log)
 * @param dirtyBlocks what the target furthest behind lacks, as far as the tracker knows: the blocks
 *     written since the last sync and those of every generation a target still lacks
 * @param targets every target with a cursor, in the order they first synced
 * @param transport the FUSE transport of the mount that answered ("kernel", "libfuse2"); empty when
 *     not mounted
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
    String recovery,
    boolean verifyNextSync,
    List<TargetStatus> targets,
    String transport) {

  ImageStatus {
    targets = targets == null ? List.of() : List.copyOf(targets);
    transport = transport == null ? "" : transport;
  }

  /** This status as named by the user ({@code image} as they gave it). */
  ImageStatus as(String imagePath) {
    return new ImageStatus(
        imagePath,
        imageSize,
        blockSize,
        dirtyBlocks,
        dirtyBytes,
        generation,
        lineage,
        tracking,
        clean,
        recovery,
        verifyNextSync,
        targets,
        transport);
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
        + ",\"verifyNextSync\":"
        + verifyNextSync
        + ",\"transport\":"
        + Json.quote(transport)
        + ",\"targets\":"
        + "["
        + String.join(",", targets.stream().map(TargetStatus::toJson).toList())
        + "]}";
  }

  String toText() {
    double percent = imageSize == 0 ? 0 : 100.0 * dirtyBytes / imageSize;
    StringBuilder out =
        new StringBuilder(
            String.format(
                Json.NUMBERS,
                "image        %s%n"
                    + "image size   %s (%d bytes)%n"
                    + "block size   %s%n"
                    + "dirty        %d blocks, %s (%.2f%% of the image; what the target furthest"
                    + " behind lacks)%n"
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
                tracking + (transport.isEmpty() ? "" : " (FUSE transport: " + transport + ")"),
                recovery.isEmpty() ? "" : ", " + recovery));
    if (verifyNextSync) {
      out.append(
          "next sync    verified: compares every block with the target and sends what differs"
              + System.lineSeparator());
    }
    for (TargetStatus t : targets) {
      out.append(t.toText()).append(System.lineSeparator());
    }
    return out.toString();
  }
}
