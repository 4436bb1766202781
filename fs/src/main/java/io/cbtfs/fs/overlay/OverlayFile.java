package io.cbtfs.fs.overlay;

import io.cbtfs.fs.ErrnoException;
import io.cbtfs.fs.Posix;
import io.cbtfs.fs.ServedFile;
import io.cbtfs.fs.WritableFile;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A read-only {@link ServedFile} (a stored generation) made writable: writes go to a local sparse
 * file of the same size, block by block copy-on-write, and {@link PresentBlocks} says which blocks
 * that file holds. A block is read from the overlay once it holds it, else from the generation,
 * which never changes. The overlay's files are made at the first write (or opened at once when an
 * earlier mount made them); once every block is present, the overlay file is the whole image.
 *
 * <p>Thread-safe. A write into blocks the overlay holds is one positional write; the first write
 * into a block takes a lock, copies the rest of the block from the generation, forces the overlay
 * file and only then marks the block present: a bit is never saved before the bytes it claims.
 */
public final class OverlayFile implements WritableFile, AutoCloseable {
  private final ServedFile generation;
  private final Path imageFile;
  private final Path mapFile;
  private final int blockSize;
  private final String base;
  private final ReentrantLock firstTouch = new ReentrantLock();
  private volatile Layer layer;
  private boolean closed;

  /** The overlay's two files, open. */
  private record Layer(FileChannel image, PresentBlocks present) {}

  private OverlayFile(
      ServedFile generation, Path imageFile, Path mapFile, int blockSize, String base) {
    this.generation = generation;
    this.imageFile = imageFile;
    this.mapFile = mapFile;
    this.blockSize = blockSize;
    this.base = base;
  }

  /**
   * {@code generation} under an overlay kept in {@code imageFile} (the image's bytes, sparse) and
   * {@code mapFile} (which blocks it holds), opened now if an earlier mount made them.
   *
   * @param base names the generation (its image's lineage and number): an overlay made over another
   *     is refused
   * @throws CbtfsException when the files on disk are another overlay's, or one is missing
   */
  public static OverlayFile over(
      ServedFile generation, Path imageFile, Path mapFile, int blockSize, String base)
      throws IOException {
    OverlayFile f = new OverlayFile(generation, imageFile, mapFile, blockSize, base);
    if (PresentBlocks.exists(mapFile)) {
      if (!Files.isRegularFile(imageFile)) {
        throw new CbtfsException(
            mapFile + " says which blocks " + imageFile + " holds, but that file is missing");
      }
      f.layer = f.openLayer();
    }
    return f;
  }

  /** The overlay's image file (complete once every block is present). */
  public Path imageFile() {
    return imageFile;
  }

  public int blockSize() {
    return blockSize;
  }

  /** How many blocks the overlay holds (0 before the first write). */
  public long presentBlocks() {
    Layer l = layer;
    return l == null ? 0 : l.present().presentCount();
  }

  /** The blocks of the image. */
  public long blockCount() {
    return (byteSize() + blockSize - 1) / blockSize;
  }

  @Override
  public long byteSize() {
    return generation.byteSize();
  }

  @Override
  public long modifiedSeconds() {
    return generation.modifiedSeconds();
  }

  /** The image file first (sparse, the image's size), then the map: the map's existence = both. */
  private Layer openLayer() throws IOException {
    long size = byteSize();
    try (RandomAccessFile f = new RandomAccessFile(imageFile.toFile(), "rw")) {
      if (f.length() > size) {
        throw new CbtfsException(
            imageFile + " is larger than the image it overlays (" + size + " bytes)");
      }
      if (f.length() < size) {
        f.setLength(size); // ftruncate: a hole, nothing allocated
      }
    }
    FileChannel image =
        FileChannel.open(imageFile, StandardOpenOption.READ, StandardOpenOption.WRITE);
    try {
      image.force(true);
      return new Layer(image, PresentBlocks.open(mapFile, size, blockSize, base));
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
  }

  private Layer layerForWrite() throws IOException {
    Layer l = layer;
    if (l != null) {
      return l;
    }
    firstTouch.lock();
    try {
      if (closed) {
        throw new ErrnoException(Posix.EROFS, "the overlay of " + imageFile + " is closed");
      }
      if (layer == null) {
        layer = openLayer();
      }
      return layer;
    } finally {
      firstTouch.unlock();
    }
  }

  @Override
  public void write(long byteOffset, byte[] from, int byteLength) throws IOException {
    if (byteOffset < 0 || byteLength < 0 || byteOffset > byteSize() - byteLength) {
      throw new ErrnoException(
          Posix.EFBIG,
          "write of " + byteLength + " bytes at " + byteOffset + ": the image has " + byteSize());
    }
    if (byteLength == 0) {
      return;
    }
    Layer l = layerForWrite();
    long end = byteOffset + byteLength;
    long firstBlock = byteOffset / blockSize;
    long lastBlock = (end - 1) / blockSize;
    if (l.present().isPresent(firstBlock) && l.present().isPresent(lastBlock)) {
      boolean all = true;
      for (long b = firstBlock + 1; b < lastBlock && all; b++) {
        all = l.present().isPresent(b);
      }
      if (all) {
        PresentBlocks.writeFully(l.image(), ByteBuffer.wrap(from, 0, byteLength), byteOffset);
        return;
      }
    }
    firstTouch.lock();
    try {
      // blocks the write covers whole need no copy; only its first and last may be partial
      copyFromGeneration(l, firstBlock, byteOffset, end);
      if (lastBlock != firstBlock) {
        copyFromGeneration(l, lastBlock, byteOffset, end);
      }
      PresentBlocks.writeFully(l.image(), ByteBuffer.wrap(from, 0, byteLength), byteOffset);
      l.image().force(false); // the bytes, before the bits that claim them
      l.present().markPresent(firstBlock, lastBlock - firstBlock + 1);
    } finally {
      firstTouch.unlock();
    }
  }

  /** Copies block {@code blockIndex} from the generation unless held or covered by the write. */
  private void copyFromGeneration(Layer l, long blockIndex, long writeStart, long writeEnd)
      throws IOException {
    long start = blockIndex * blockSize;
    long end = Math.min(start + blockSize, byteSize());
    if (l.present().isPresent(blockIndex) || (writeStart <= start && writeEnd >= end)) {
      return;
    }
    byte[] block = new byte[(int) (end - start)];
    generation.read(start, block, block.length);
    // the whole block: the write lands over it next, while the lock is still held
    PresentBlocks.writeFully(l.image(), ByteBuffer.wrap(block), start);
  }

  @Override
  public void read(long byteOffset, byte[] into, int byteLength) throws IOException {
    Layer l = layer;
    if (l == null) {
      generation.read(byteOffset, into, byteLength);
      return;
    }
    long end = byteOffset + byteLength;
    long at = byteOffset;
    while (at < end) {
      long block = at / blockSize;
      boolean present = l.present().isPresent(block);
      long runEnd = (block + 1) * blockSize;
      while (runEnd < end && l.present().isPresent(runEnd / blockSize) == present) {
        runEnd += blockSize;
      }
      runEnd = Math.min(runEnd, end);
      int length = (int) (runEnd - at);
      int into0 = (int) (at - byteOffset);
      if (present) {
        readFully(l.image(), ByteBuffer.wrap(into, into0, length), at);
      } else if (length == byteLength) {
        generation.read(at, into, length);
      } else {
        byte[] part = new byte[length];
        generation.read(at, part, length);
        System.arraycopy(part, 0, into, into0, length);
      }
      at = runEnd;
    }
  }

  @Override
  public long next(long byteOffset, boolean hole) throws IOException {
    Layer l = layer;
    if (l == null) {
      return generation.next(byteOffset, hole);
    }
    long size = byteSize();
    long blocks = blockCount();
    if (!hole) {
      // a block the overlay holds is data (its zeros too: never a hole where data may be)
      long data = Math.min(generation.next(byteOffset, false), size);
      for (long b = byteOffset / blockSize; b < blocks && b * blockSize < data; b++) {
        if (l.present().isPresent(b)) {
          return Math.max(byteOffset, b * blockSize);
        }
      }
      return data;
    }
    long at = byteOffset;
    while (at < size) {
      long h = generation.next(at, true);
      if (h >= size) {
        return size;
      }
      long b = h / blockSize;
      if (!l.present().isPresent(b)) {
        return h;
      }
      while (b < blocks && l.present().isPresent(b)) {
        b++;
      }
      at = b * blockSize;
    }
    return size;
  }

  @Override
  public void force() throws IOException {
    Layer l = layer;
    if (l != null) {
      l.image().force(false);
      l.present().force();
    }
  }

  /** Forces and closes the overlay's files. Idempotent. */
  @Override
  public void close() throws IOException {
    firstTouch.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      Layer l = layer;
      if (l != null) {
        try (FileChannel image = l.image();
            PresentBlocks present = l.present()) {
          image.force(false);
        }
      }
    } finally {
      firstTouch.unlock();
    }
  }

  private static void readFully(FileChannel ch, ByteBuffer into, long at) throws IOException {
    long start = at - into.position();
    while (into.hasRemaining()) {
      if (ch.read(into, start + into.position()) < 0) {
        throw new IOException("overlay image cut short at " + (start + into.position()));
      }
    }
  }
}
