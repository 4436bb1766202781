package io.cbtfs.cli;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import java.util.ArrayList;
import java.util.List;

/**
 * The dirty blocks of an image counted in a row of equal cells, what {@code status --map} draws:
 * cell i holds the blocks {@code [i * blocksPerCell, min((i + 1) * blocksPerCell, blocks))}, so
 * every cell but the last holds {@code blocksPerCell} blocks and the last may hold fewer. Counted
 * where the dirty set is (in the mount, or from the saved state): only the counts travel. The JSON
 * names are a contract for scripts.
 *
 * @param target the cursor whose lack is counted; empty for the target furthest behind
 * @param dirtyBytes the bytes of the dirty blocks inside the image (the last block may be partial)
 * @param dirtyBlocks the dirty blocks of each cell, in image order
 */
record DirtyCells(
    String target,
    long imageSize,
    int blockSize,
    long blocksPerCell,
    long dirtyBytes,
    List<Long> dirtyBlocks) {

  /** The most cells a map counts: 256 columns of 16 rows. */
  static final int MAX_CELLS = 4096;

  /**
   * @throws IllegalArgumentException if the cells do not tile the image or a count does not fit its
   *     cell
   */
  DirtyCells {
    dirtyBlocks = List.copyOf(dirtyBlocks);
    if (imageSize < 0) {
      throw new IllegalArgumentException("an image of " + imageSize + " bytes");
    }
    long blocks = BlockGeometry.of(blockSize).blockCount(imageSize); // checks the block size
    if (blocksPerCell < 1 || blocksPerCell > Math.max(1, blocks)) {
      throw new IllegalArgumentException(blocksPerCell + " blocks per cell of " + blocks);
    }
    if (dirtyBlocks.size() != cellCount(blocks, blocksPerCell)) {
      throw new IllegalArgumentException(
          dirtyBlocks.size() + " cells do not tile " + blocks + " blocks by " + blocksPerCell);
    }
    for (int i = 0; i < dirtyBlocks.size(); i++) {
      long n = dirtyBlocks.get(i);
      if (n < 0 || n > blocksIn(i, blocks, blocksPerCell)) {
        throw new IllegalArgumentException("cell " + i + " cannot hold " + n + " dirty blocks");
      }
    }
  }

  /**
   * Counts {@code dirty} in at most {@code maxCells} cells of an image of {@code imageSize} bytes:
   * as few blocks per cell as that allows, and never less than one.
   */
  static DirtyCells count(String target, DirtySet dirty, long imageSize, int maxCells) {
    if (maxCells < 1 || maxCells > MAX_CELLS) {
      throw new IllegalArgumentException("between 1 and " + MAX_CELLS + " cells, not " + maxCells);
    }
    DirtySet inImage = dirty.within(imageSize);
    long blocks = dirty.geometry().blockCount(imageSize);
    long blocksPerCell = Math.max(1, (blocks + maxCells - 1) / maxCells);
    long[] counts = new long[Math.toIntExact(cellCount(blocks, blocksPerCell))];
    DirtySet.RunIterator runs = inImage.runs(Integer.MAX_VALUE);
    while (runs.next()) {
      long from = runs.firstBlock();
      long to = from + runs.blockCount();
      while (from < to) { // a run may cross cells
        int cell = (int) (from / blocksPerCell);
        long cellEnd = Math.min((cell + 1) * blocksPerCell, to);
        counts[cell] += cellEnd - from;
        from = cellEnd;
      }
    }
    List<Long> list = new ArrayList<>(counts.length);
    for (long c : counts) {
      list.add(c);
    }
    return new DirtyCells(
        target,
        imageSize,
        dirty.geometry().blockSize(),
        blocksPerCell,
        inImage.byteCount(imageSize),
        list);
  }

  int cells() {
    return dirtyBlocks.size();
  }

  long bytesPerCell() {
    return blocksPerCell * blockSize;
  }

  /** The blocks of cell {@code cell}: {@link #blocksPerCell}, or fewer in the last. */
  long blocksIn(int cell) {
    return blocksIn(cell, BlockGeometry.of(blockSize).blockCount(imageSize), blocksPerCell);
  }

  long totalDirtyBlocks() {
    return dirtyBlocks.stream().mapToLong(Long::longValue).sum();
  }

  String toJson(String image) {
    return "{\"image\":"
        + Json.quote(image)
        + ",\"target\":"
        + Json.quote(target)
        + ",\"imageSize\":"
        + imageSize
        + ",\"blockSize\":"
        + blockSize
        + ",\"cells\":"
        + cells()
        + ",\"blocksPerCell\":"
        + blocksPerCell
        + ",\"bytesPerCell\":"
        + bytesPerCell()
        + ",\"dirtyBlocks\":"
        + totalDirtyBlocks()
        + ",\"dirtyBytes\":"
        + dirtyBytes
        + ",\"cellDirtyBlocks\":["
        + String.join(",", dirtyBlocks.stream().map(String::valueOf).toList())
        + "]}";
  }

  private static long cellCount(long blocks, long blocksPerCell) {
    return (blocks + blocksPerCell - 1) / blocksPerCell;
  }

  private static long blocksIn(int cell, long blocks, long blocksPerCell) {
    return Math.min(blocksPerCell, blocks - cell * blocksPerCell);
  }
}
