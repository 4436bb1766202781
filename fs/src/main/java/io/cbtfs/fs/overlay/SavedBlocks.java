package io.cbtfs.fs.overlay;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.Fingerprint;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.BitSet;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.zip.CRC32C;

/**
 * A set of blocks of an overlaid image, saved: one bit per block, in memory and in a file (the
 * overlay's {@code NAME.present}, the blocks it holds, and {@code NAME.written}, the blocks written
 * through the mount; docs/FORMAT.md). A bit is only ever set, and {@link #mark} writes the words it
 * changed before it returns, so a bit set survives the process (and, after {@link #force}, a power
 * loss). The header names the image size, the block size and the generation the overlay lies over:
 * an overlay is never laid over another.
 *
 * <p>A map closed with {@link #closeSealed} carries a seal at the end of its header: the overlay
 * file's fingerprint at that moment and a CRC32C over the whole map. Opening the map for marks
 * removes the seal first, so a sealed map is one that nothing changed since the mount closed it
 * cleanly ({@link #read}).
 *
 * <p>Thread-safe: {@link #contains} reads one atomic word; marks are serialised, so a word is never
 * written older than the memory holds.
 */
public final class SavedBlocks implements AutoCloseable {
  private static final byte[] MAGIC = "CBTFSOV1".getBytes(StandardCharsets.US_ASCII);
  static final int HEADER_BYTES = 4096;

  /** The seal: a marker, the image file's fingerprint, 4 reserved bytes, then the CRC32C. */
  static final int SEAL_AT = HEADER_BYTES - 48;

  private static final byte[] SEAL = "CLOSEDV1".getBytes(StandardCharsets.US_ASCII);
  private static final int CRC_AT = HEADER_BYTES - 4;
  private static final int MAX_BASE_BYTES = SEAL_AT - 24;

  private final Path file;
  private final FileChannel channel;
  private final int blockSize;
  private final long blockCount;
  private final AtomicLongArray words;
  private boolean closed;

  private SavedBlocks(Path file, FileChannel channel, int blockSize, long blockCount) {
    this.file = file;
    this.channel = channel;
    this.blockSize = blockSize;
    this.blockCount = blockCount;
    this.words = new AtomicLongArray(Math.toIntExact((blockCount + 63) / 64));
  }

  /** Whether {@code file} exists (an overlay was made). */
  public static boolean exists(Path file) {
    return Files.exists(file);
  }

  /**
   * Opens the map in {@code file}, made with no block present if it is missing (written whole to a
   * temporary file, forced, then moved into place).
   *
   * @param base names the generation the overlay lies over; a saved map over another is refused
   * @throws CbtfsException when the file is not a map of this image, block size and base
   */
  public static SavedBlocks open(Path file, long imageSize, int blockSize, String base)
      throws IOException {
    if (blockSize <= 0 || Integer.bitCount(blockSize) != 1) {
      throw new IllegalArgumentException("block size " + blockSize + " is not a power of two");
    }
    byte[] baseBytes = base.getBytes(StandardCharsets.UTF_8);
    if (baseBytes.length > MAX_BASE_BYTES) {
      throw new IllegalArgumentException("base name of " + baseBytes.length + " bytes");
    }
    long blockCount = (imageSize + blockSize - 1) / blockSize;
    long fileBytes = HEADER_BYTES + (blockCount + 63) / 64 * 8;
    if (!Files.exists(file)) {
      create(file, imageSize, blockSize, baseBytes, fileBytes);
    }
    FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
    try {
      Header saved = readHeader(file, ch);
      if (saved.blockSize() != blockSize
          || saved.imageSize() != imageSize
          || !saved.base().equals(base)) {
        throw new CbtfsException(
            file
                + " is the overlay of "
                + saved.base()
                + " ("
                + saved.imageSize()
                + " bytes, blocks of "
                + saved.blockSize()
                + "), not of "
                + base
                + " ("
                + imageSize
                + " bytes, blocks of "
                + blockSize
                + "): move it away to start a new overlay");
      }
      unseal(ch);
      SavedBlocks map = new SavedBlocks(file, ch, blockSize, blockCount);
      ByteBuffer bits = ByteBuffer.allocate(map.words.length() * 8);
      readFully(ch, bits, HEADER_BYTES);
      bits.flip();
      for (int i = 0; i < map.words.length(); i++) {
        map.words.set(i, bits.getLong());
      }
      return map;
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  /**
   * What a saved map says it maps.
   *
   * @param base the generation the overlay lies over, as {@link #open} was given it
   */
  public record Header(String base, long imageSize, int blockSize) {}

  /**
   * The header of the saved map in {@code file}.
   *
   * @throws CbtfsException when the file is not a map
   */
  public static Header header(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      return readHeader(file, ch);
    }
  }

  /** Whether a map was sealed at its last close, and whether the seal still holds. */
  public enum Seal {
    /** Closed by {@link #closeSealed}, and the checksum matches: no byte changed since. */
    INTACT,
    /** No seal: open in a mount, stopped uncleanly, or made before maps had seals. */
    NONE,
    /** Sealed, but the checksum does not match: some byte of the map changed since. */
    DAMAGED
  }

  /**
   * A saved map as read, without opening it for marks (which would remove its seal).
   *
   * @param imageAtClose the overlay file's fingerprint when the map was sealed, else {@link
   *     Fingerprint#UNKNOWN}
   */
  public record Contents(Header header, BitSet blocks, Seal seal, Fingerprint imageAtClose) {}

  /**
   * Why an overlay's two maps, as read, do not vouch for the overlay file {@code image} as it is
   * now, or null when they do: both sealed intact by one clean close, with the file unchanged
   * since. Both a mount (before it opens the maps, which removes the seals) and {@code cbtfs adopt}
   * ask.
   */
  public static String doubt(Path image, Contents written, Contents present) throws IOException {
    for (Contents map : new Contents[] {written, present}) {
      String which = "its ." + (map == written ? "written" : "present") + " map";
      switch (map.seal()) {
        case DAMAGED:
          return image + ": " + which + " is damaged (its checksum fails)";
        case NONE:
          return image + ": " + which + " was not closed by a clean unmount";
        case INTACT:
          break;
      }
    }
    if (!written.imageAtClose().equals(present.imageAtClose())
        || !written.imageAtClose().equals(ImageFiles.fingerprintOf(image))) {
      return image + " was changed outside the mount since the mount closed it";
    }
    return null;
  }

  /**
   * Reads the map in {@code file} whole, and checks its seal.
   *
   * @throws CbtfsException when the file is not a map
   */
  public static Contents read(Path file) throws IOException {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      Header h = readHeader(file, ch);
      ByteBuffer all = ByteBuffer.allocate(Math.toIntExact(ch.size()));
      readFully(ch, all, 0);
      all.flip();
      BitSet blocks =
          BitSet.valueOf(all.slice(HEADER_BYTES, all.limit() - HEADER_BYTES).asLongBuffer());
      byte[] marker = new byte[SEAL.length];
      all.get(SEAL_AT, marker);
      if (!java.util.Arrays.equals(marker, SEAL)) {
        return new Contents(h, blocks, Seal.NONE, Fingerprint.UNKNOWN);
      }
      if (all.getInt(CRC_AT) != checksum(all)) {
        return new Contents(h, blocks, Seal.DAMAGED, Fingerprint.UNKNOWN);
      }
      int at = SEAL_AT + SEAL.length;
      Fingerprint fp =
          new Fingerprint(
              all.getLong(at), all.getLong(at + 8), all.getLong(at + 16), all.getLong(at + 24));
      return new Contents(h, blocks, Seal.INTACT, fp);
    }
  }

  /**
   * Seals the intact sealed map in {@code file} again with {@code imageFile}: for a caller that
   * changed only the overlay file's ctime itself (a link made and removed again), which would
   * otherwise look like a write outside the mount. A map without an intact seal is left alone.
   *
   * @return whether the map was sealed again
   */
  public static boolean reseal(Path file, Fingerprint imageFile) throws IOException {
    try (FileChannel ch =
        FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      readHeader(file, ch);
      ByteBuffer all = ByteBuffer.allocate(Math.toIntExact(ch.size()));
      readFully(ch, all, 0);
      byte[] marker = new byte[SEAL.length];
      all.get(SEAL_AT, marker);
      if (!java.util.Arrays.equals(marker, SEAL) || all.getInt(CRC_AT) != checksum(all)) {
        return false;
      }
      seal(all, imageFile);
      writeFully(ch, all.slice(SEAL_AT, HEADER_BYTES - SEAL_AT), SEAL_AT);
      ch.force(false);
      return true;
    }
  }

  /** Puts the seal of {@code imageFile} and the checksum into the whole map {@code all}. */
  private static void seal(ByteBuffer all, Fingerprint imageFile) {
    all.put(SEAL_AT, SEAL);
    int at = SEAL_AT + SEAL.length;
    all.putLong(at, imageFile.size())
        .putLong(at + 8, imageFile.mtimeNanos())
        .putLong(at + 16, imageFile.ctimeNanos())
        .putLong(at + 24, imageFile.inode());
    all.putInt(CRC_AT, checksum(all));
  }

  /** CRC32C of a whole map (header and bits) but its own four bytes. */
  private static int checksum(ByteBuffer wholeMap) {
    CRC32C crc = new CRC32C();
    crc.update(wholeMap.slice(0, CRC_AT));
    crc.update(wholeMap.slice(HEADER_BYTES, wholeMap.limit() - HEADER_BYTES));
    return (int) crc.getValue();
  }

  /** Removes the seal (forced) before the first mark can change the map. */
  private static void unseal(FileChannel ch) throws IOException {
    ByteBuffer marker = ByteBuffer.allocate(SEAL.length);
    readFully(ch, marker, SEAL_AT);
    if (java.util.Arrays.equals(marker.array(), SEAL)) {
      writeFully(ch, ByteBuffer.allocate(HEADER_BYTES - SEAL_AT), SEAL_AT);
      ch.force(false);
    }
  }

  private static Header readHeader(Path file, FileChannel ch) throws IOException {
    ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES);
    readFully(ch, header, 0);
    header.flip();
    byte[] magic = new byte[MAGIC.length];
    header.get(magic);
    int blockSize = header.getInt();
    int baseLength = header.getInt();
    long imageSize = header.getLong();
    if (!java.util.Arrays.equals(magic, MAGIC)
        || baseLength < 0
        || baseLength > MAX_BASE_BYTES
        || blockSize <= 0
        || imageSize < 0
        || ch.size() != HEADER_BYTES + ((imageSize + blockSize - 1) / blockSize + 63) / 64 * 8) {
      throw new CbtfsException(file + " is not an overlay's block map (or is cut short)");
    }
    byte[] base = new byte[baseLength];
    header.get(base);
    return new Header(new String(base, StandardCharsets.UTF_8), imageSize, blockSize);
  }

  private static void create(Path file, long imageSize, int blockSize, byte[] base, long fileBytes)
      throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try (FileChannel ch =
        FileChannel.open(
            tmp,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES);
      header.put(MAGIC).putInt(blockSize).putInt(base.length).putLong(imageSize).put(base);
      header.clear();
      writeFully(ch, header, 0);
      if (ch.size() < fileBytes) { // the bits: a hole of zeros
        writeFully(ch, ByteBuffer.allocate(1), fileBytes - 1);
      }
      ch.force(true);
    }
    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
    try (FileChannel dir = FileChannel.open(file.toAbsolutePath().getParent())) {
      dir.force(true); // the rename itself
    }
  }

  public int blockSize() {
    return blockSize;
  }

  public long blockCount() {
    return blockCount;
  }

  /** Whether the overlay holds block {@code blockIndex}. */
  public boolean contains(long blockIndex) {
    return (words.get((int) (blockIndex >>> 6)) & (1L << blockIndex)) != 0;
  }

  /** How many blocks the overlay holds. */
  public long count() {
    long n = 0;
    for (int i = 0; i < words.length(); i++) {
      n += Long.bitCount(words.get(i));
    }
    return n;
  }

  /**
   * Sets the bits of blocks {@code [firstBlock, firstBlock + blockCount)} and writes the words that
   * changed to the file before it returns.
   */
  public synchronized void mark(long firstBlock, long blockCount) throws IOException {
    if (blockCount <= 0) {
      return;
    }
    long end = firstBlock + blockCount;
    int firstWord = (int) (firstBlock >>> 6);
    int lastWord = (int) ((end - 1) >>> 6);
    ByteBuffer out = ByteBuffer.allocate((lastWord - firstWord + 1) * 8);
    boolean changed = false;
    for (int w = firstWord; w <= lastWord; w++) {
      long from = Math.max(firstBlock, (long) w << 6);
      long to = Math.min(end, ((long) w + 1) << 6);
      long mask = to - from == 64 ? -1L : ((1L << (to - from)) - 1) << from;
      long old = words.get(w);
      long now = old | mask;
      if (now != old) {
        words.set(w, now);
        changed = true;
      }
      out.putLong(now);
    }
    if (changed) {
      out.flip();
      writeFully(channel, out, HEADER_BYTES + (long) firstWord * 8);
    }
  }

  /** Makes every bit set so far durable. */
  public void force() throws IOException {
    channel.force(false);
  }

  /**
   * Seals the map with {@code imageFile}, the overlay file's fingerprint now (its last write done
   * and forced), and a checksum over the map, then closes it: the mount closed the overlay cleanly.
   * Idempotent with {@link #close}.
   */
  public synchronized void closeSealed(Fingerprint imageFile) throws IOException {
    if (closed) {
      return;
    }
    try {
      ByteBuffer all = ByteBuffer.allocate(Math.toIntExact(channel.size()));
      readFully(channel, all, 0);
      seal(all, imageFile);
      channel.force(false); // the bits, before the seal that vouches for them
      writeFully(channel, all.slice(SEAL_AT, HEADER_BYTES - SEAL_AT), SEAL_AT);
    } finally {
      close();
    }
  }

  @Override
  public synchronized void close() throws IOException {
    if (!closed) {
      closed = true;
      try {
        channel.force(false);
      } finally {
        channel.close();
      }
    }
  }

  @Override
  public String toString() {
    return file.toString();
  }

  private static void readFully(FileChannel ch, ByteBuffer into, long at) throws IOException {
    while (into.hasRemaining()) {
      if (ch.read(into, at + into.position()) < 0) {
        throw new CbtfsException("overlay block map cut short at byte " + into.position());
      }
    }
  }

  static void writeFully(FileChannel ch, ByteBuffer from, long at) throws IOException {
    long start = at - from.position();
    while (from.hasRemaining()) {
      ch.write(from, start + from.position());
    }
  }
}
