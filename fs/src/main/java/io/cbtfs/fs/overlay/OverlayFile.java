package io.cbtfs.fs.overlay;

import io.cbtfs.fs.ErrnoException;
import io.cbtfs.fs.ImageFiles;
import io.cbtfs.fs.Posix;
import io.cbtfs.fs.ServedFile;
import io.cbtfs.fs.WritableFile;
import io.cbtfs.tracker.AtomicFile;
import io.cbtfs.tracker.BlockStripes;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.Fingerprint;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A read-only {@link ServedFile} (a stored generation) made writable: writes go to a local sparse
 * file of the same size ({@code DIR/NAME.img}), block by block copy-on-write; {@link SavedBlocks}
 * say which blocks that file holds ({@code NAME.present}) and which were written ({@code
 * NAME.written}: what changed since the generation). A block is read from the overlay once it holds
 * it, else from the generation, which never changes. The files are made at the first write (or
 * opened at once when an earlier mount made them); {@link #hydrate} copies the blocks not held yet,
 * and once every block is present the overlay file is the whole image.
 *
 * <p>Thread-safe. A write into blocks the overlay holds is one positional write; the first write
 * into a block takes the block's stripe lock, copies the rest of the block from the generation,
 * forces the overlay file and only then marks the block present: a bit is never saved before the
 * bytes it claims. First writes to blocks of other stripes run at once and share their forces
 * ({@link GroupForce}), so a guest's queue of first writes costs a few fsyncs, not one each.
 */
public final class OverlayFile implements WritableFile, AutoCloseable {
  private static final Set<PosixFilePermission> OWNER_ONLY =
      PosixFilePermissions.fromString("rw-------");

  private final ServedFile generation;
  private final Path imageFile;
  private final Path presentFile;
  private final Path writtenFile;
  private final Path distrustFile;
  private final int blockSize;
  private final String base;
  private static final int STRIPES = 256;

  /** Held while the layer is made and closed. */
  private final ReentrantLock firstTouch = new ReentrantLock();

  /** A block's stripe is held from a first write's copy until the block is marked present. */
  private final BlockStripes stripes = new BlockStripes(STRIPES);

  private volatile Layer layer;
  private boolean closed;

  /** The overlay's files, open; {@code forces} forces {@code image} for the first writes. */
  private record Layer(
      FileChannel image, SavedBlocks present, SavedBlocks written, GroupForce forces) {
    Layer(FileChannel image, SavedBlocks present, SavedBlocks written) {
      this(image, present, written, new GroupForce(image));
    }
  }

  private OverlayFile(ServedFile generation, Path dir, String name, int blockSize, String base) {
    this.generation = generation;
    this.imageFile = dir.resolve(name + ".img");
    this.presentFile = dir.resolve(name + ".present");
    this.writtenFile = dir.resolve(name + ".written");
    this.distrustFile = distrustFile(dir, name);
    this.blockSize = blockSize;
    this.base = base;
  }

  /**
   * {@code generation} under an overlay kept in {@code dir}: {@code NAME.img} (the image's bytes,
   * sparse), {@code NAME.present} and {@code NAME.written}, opened now if an earlier mount made
   * them.
   *
   * @param base names the generation (its image's lineage and number): an overlay made over another
   *     is refused
   * @throws CbtfsException when the files on disk are another overlay's, or one is missing
   */
  public static OverlayFile over(
      ServedFile generation, Path dir, String name, int blockSize, String base) throws IOException {
    OverlayFile f = new OverlayFile(generation, dir, name, blockSize, base);
    if (SavedBlocks.exists(f.presentFile)) {
      if (!Files.isRegularFile(f.imageFile)) {
        throw new CbtfsException(
            f.presentFile
                + " says which blocks "
                + f.imageFile
                + " holds, but that file is missing");
      }
      f.layer = f.openLayer();
    }
    return f;
  }

  /**
   * {@code DIR/NAME.distrusted}: made, and never removed by a mount, when a mount opened maps it
   * could not vouch for (not sealed by a clean close, or the overlay file changed since the seal);
   * it says why. A later clean close seals the maps again, so without it a direct write to the
   * file, or a crash, before that mount would be hidden from {@code cbtfs adopt}.
   */
  public static Path distrustFile(Path dir, String name) {
    return dir.resolve(name + ".distrusted");
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
    return l == null ? 0 : l.present().count();
  }

  /** How many blocks were written (changed since the generation, as far as the overlay knows). */
  public long writtenBlocks() {
    Layer l = layer;
    return l == null ? 0 : l.written().count();
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

  /**
   * The image file first (sparse, the image's size), then the written map, then the present map:
   * the present map's existence says the overlay exists.
   */
  private Layer openLayer() throws IOException {
    long size = byteSize();
    if (Files.exists(writtenFile) || Files.exists(presentFile)) {
      distrustUnlessSealed(); // before opening the maps removes their seals
    }
    try {
      // a VM's disk: only its owner reads it, whatever the umask and the folder's mode
      Files.createFile(imageFile, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
    } catch (FileAlreadyExistsException e) {
      // made by an earlier mount: its blocks are what the maps say
    }
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
    SavedBlocks written = null;
    try {
      image.force(true);
      written = SavedBlocks.open(writtenFile, size, blockSize, base);
      return new Layer(image, SavedBlocks.open(presentFile, size, blockSize, base), written);
    } catch (IOException | RuntimeException e) {
      image.close();
      if (written != null) {
        written.close();
      }
      throw e;
    }
  }

  /**
   * Leaves {@link #distrustFile} if the maps an earlier mount left are not both sealed intact with
   * the overlay file as it is now: that mount stopped uncleanly, or the file or a map changed
   * since.
   */
  private void distrustUnlessSealed() throws IOException {
    if (Files.exists(distrustFile)) {
      return; // once distrusted, always (until cbtfs adopt takes the file)
    }
    String why;
    try {
      why =
          SavedBlocks.doubt(
              imageFile, SavedBlocks.read(writtenFile), SavedBlocks.read(presentFile));
    } catch (IOException | RuntimeException e) {
      why = imageFile + ": its maps could not be checked: " + e.getMessage();
    }
    if (why != null) {
      AtomicFile.replace(
          distrustFile, (why + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
      try (FileChannel dir = FileChannel.open(distrustFile.toAbsolutePath().getParent())) {
        dir.force(true); // the new name too
      }
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
    if (!all(l.written(), firstBlock, lastBlock)) {
      // saved before the bytes change: a crash after the write never hides that it changed
      l.written().mark(firstBlock, lastBlock - firstBlock + 1);
    }
    if (all(l.present(), firstBlock, lastBlock)) {
      SavedBlocks.writeFully(l.image(), ByteBuffer.wrap(from, 0, byteLength), byteOffset);
      return;
    }
    try (BlockStripes.Held held = stripes.lock(firstBlock, lastBlock - firstBlock + 1)) {
      // blocks the write covers whole need no copy; only its first and last may be partial
      copyFromGeneration(l, firstBlock, byteOffset, end);
      if (lastBlock != firstBlock) {
        copyFromGeneration(l, lastBlock, byteOffset, end);
      }
      SavedBlocks.writeFully(l.image(), ByteBuffer.wrap(from, 0, byteLength), byteOffset);
      l.forces().force(); // the bytes, before the bits that claim them
      l.present().mark(firstBlock, lastBlock - firstBlock + 1);
    }
  }

  private static boolean all(SavedBlocks set, long firstBlock, long lastBlock) {
    for (long b = firstBlock; b <= lastBlock; b++) {
      if (!set.contains(b)) {
        return false;
      }
    }
    return true;
  }

  /**
   * Copies the blocks of {@code [firstBlock, firstBlock + count)} (cut at the end of the image)
   * that the overlay does not hold from the generation, and returns how many it copied. The
   * generation is read outside the lock (it may be a slow fetch); a block written meanwhile is held
   * by then and left alone.
   */
  public long hydrate(long firstBlock, int count) throws IOException {
    Layer l = layerForWrite();
    long lastBlock = Math.min(firstBlock + count, blockCount()) - 1;
    if (lastBlock < firstBlock || all(l.present(), firstBlock, lastBlock)) {
      return 0;
    }
    long start = firstBlock * blockSize;
    int length = (int) (Math.min((lastBlock + 1) * blockSize, byteSize()) - start);
    byte[] bytes = new byte[length];
    generation.read(start, bytes, length);
    long copied = 0;
    try (BlockStripes.Held held = stripes.lock(firstBlock, lastBlock - firstBlock + 1)) {
      for (long b = firstBlock; b <= lastBlock; b++) {
        if (!l.present().contains(b)) {
          int at = (int) ((b - firstBlock) * blockSize);
          int n = Math.min(blockSize, length - at);
          SavedBlocks.writeFully(l.image(), ByteBuffer.wrap(bytes, at, n), b * blockSize);
          copied++;
        }
      }
      l.forces().force(); // as for a write: the bytes before the bits
      l.present().mark(firstBlock, lastBlock - firstBlock + 1);
    }
    return copied;
  }

  /** Copies block {@code blockIndex} from the generation unless held or covered by the write. */
  private void copyFromGeneration(Layer l, long blockIndex, long writeStart, long writeEnd)
      throws IOException {
    long start = blockIndex * blockSize;
    long end = Math.min(start + blockSize, byteSize());
    if (l.present().contains(blockIndex) || (writeStart <= start && writeEnd >= end)) {
      return;
    }
    byte[] block = new byte[(int) (end - start)];
    generation.read(start, block, block.length);
    // the whole block: the write lands over it next, while the lock is still held
    SavedBlocks.writeFully(l.image(), ByteBuffer.wrap(block), start);
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
      boolean present = l.present().contains(block);
      long runEnd = (block + 1) * blockSize;
      while (runEnd < end && l.present().contains(runEnd / blockSize) == present) {
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
        if (l.present().contains(b)) {
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
      if (!l.present().contains(b)) {
        return h;
      }
      while (b < blocks && l.present().contains(b)) {
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
      if (l.forces().failed()) { // that force's error is spent: this one may succeed wrongly
        throw new IOException(
            "an earlier force of " + imageFile + " failed: its writes may be lost");
      }
      l.image().force(false);
      l.written().force();
      l.present().force();
    }
  }

  /**
   * Forces and closes the overlay's files once no first write is under way, and seals both maps
   * with the overlay file's fingerprint now ({@link SavedBlocks#closeSealed}): what {@code cbtfs
   * adopt} checks to know that nothing wrote the file, or changed a map, since. Idempotent.
   */
  @Override
  public void close() throws IOException {
    firstTouch.lock();
    try (BlockStripes.Held all = stripes.lock(0, STRIPES)) {
      if (closed) {
        return;
      }
      closed = true;
      Layer l = layer;
      if (l != null) {
        try (SavedBlocks written = l.written();
            SavedBlocks present = l.present()) {
          try (FileChannel image = l.image()) {
            image.force(false);
          }
          if (!l.forces().failed()) { // after a failed force the file's bytes are in doubt
            Fingerprint now = ImageFiles.fingerprintOf(imageFile);
            written.closeSealed(now);
            present.closeSealed(now);
          }
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
