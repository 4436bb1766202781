package io.cbtfs.tracker;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The activity log of one image, in the spirit of DRBD's: the set of <em>hot</em> extents (runs of
 * blocks, 4 MiB by default) that writes may be touching. An extent is made hot durably (the new hot
 * set is written and fdatasync'ed) <em>before</em> the first write into it; after a crash, recovery
 * marks every block of every hot extent dirty, so a write that reached the disk but not the saved
 * bitmap is never forgotten, and the resync is bounded by the hot set.
 *
 * <p>The hot set is bounded ({@code maxHot}). To make room, an extent with no write in flight is
 * made cold, but only after the saved bitmap holds every bit of it ({@link Evictions#persist}), so
 * the extent may leave the log. Victims are chosen by the CLOCK algorithm (second chance), an
 * approximation of LRU whose fast path needs no lock.
 *
 * <p>File: two slots, written alternately, each a whole hot set with a sequence number and a
 * CRC32C; a write torn by a crash spoils at most the slot being written, and recovery takes the
 * valid slot with the highest sequence. Layout in docs/STATE.md.
 *
 * <p>Fast path ({@link #enter}/{@link #exit}) for an extent already hot: one CAS and one atomic add
 * on a per-extent word. Thread safety: any number of writers; the slow path takes a lock.
 */
public final class ActivityLog implements AutoCloseable {
  static final byte[] MAGIC = {'C', 'B', 'T', 'F', 'S', 'A', 'L', '1'};
  static final int FORMAT_VERSION = 1;

  /** A slot's bytes before its hot list: magic, version, extent shift, sequence, lineage, count. */
  public static final int SLOT_HEADER_BYTES = 8 + 4 + 4 + 8 + 16 + 4;

  public static final int DEFAULT_EXTENT_SIZE = 4 << 20;
  public static final int DEFAULT_MAX_HOT = 1024;

  private static final VarHandle STATES = MethodHandles.arrayElementVarHandle(int[].class);
  private static final int HOT = 1 << 31;
  private static final int REFERENCED = 1 << 30;
  private static final int IN_FLIGHT = REFERENCED - 1;
  private static final int PAGE_SHIFT = 12;
  private static final int PAGE_SIZE = 1 << PAGE_SHIFT;
  private static final int SLACK_EXTENTS = 64;
  public static final int MIN_MAX_HOT = 16;

  /** Makes the dirty bits of extents about to leave the log durable elsewhere. */
  @FunctionalInterface
  public interface Evictions {
    void persist() throws IOException;
  }

  private final StateIo io;
  private Path file; // guarded by lock: follows a rename of the image
  private final UUID lineage;
  private final int extentShift;
  private final int maxHot;
  private final int slotBytes;
  private final Evictions evictions;
  private final Object lock = new Object();
  private final ArrayDeque<Long> clock = new ArrayDeque<>();
  private volatile int[][] pages = new int[0][];
  private long sequence;
  private long durableWrites;
  private boolean closed;

  private ActivityLog(
      StateIo io,
      Path file,
      UUID lineage,
      int extentShift,
      int maxHot,
      long sequence,
      Evictions evictions) {
    this.io = io;
    this.file = file;
    this.lineage = lineage;
    this.extentShift = extentShift;
    this.maxHot = maxHot;
    this.slotBytes = slotBytes(maxHot);
    this.sequence = sequence;
    this.evictions = evictions;
  }

  /** Room for the bound plus writers whose extents were all busy when eviction ran. */
  static int slotBytes(int maxHot) {
    return SLOT_HEADER_BYTES + 8 * (maxHot + SLACK_EXTENTS) + 4;
  }

  /** Ranges touching more extents than this bypass the log (see {@link #isBulk}). */
  public int bulkExtents() {
    return Math.max(2, maxHot / 4);
  }

  /**
   * Whether a range is too large for the log (a big truncate or fallocate): its bits are then made
   * durable in the saved bitmap before the operation instead of through hot extents.
   */
  public boolean isBulk(long byteOffset, long byteLength) {
    if (byteLength <= 0) {
      return false;
    }
    long extents = ((byteOffset + byteLength - 1) >>> extentShift) - (byteOffset >>> extentShift);
    return extents + 1 > bulkExtents();
  }

  /**
   * Starts a log with an empty hot set, replacing whatever {@code file} held, and makes it durable.
   *
   * @param extentSize bytes per extent: a power of two, at least the block size
   * @param firstSequence continue after the sequence of the log this one replaces
   */
  public static ActivityLog create(
      Path file, UUID lineage, int extentSize, int maxHot, long firstSequence, Evictions evictions)
      throws IOException {
    return create(
        FileStateIo.INSTANCE, file, lineage, extentSize, maxHot, firstSequence, evictions);
  }

  /** {@link #create(Path, UUID, int, int, long, Evictions)} through {@code io}. */
  public static ActivityLog create(
      StateIo io,
      Path file,
      UUID lineage,
      int extentSize,
      int maxHot,
      long firstSequence,
      Evictions evictions)
      throws IOException {
    if (Integer.bitCount(extentSize) != 1 || extentSize < BlockGeometry.MIN_BLOCK_SIZE) {
      throw new IllegalArgumentException("activity-log extent size must be a power of two >= 4K");
    }
    if (maxHot < MIN_MAX_HOT || maxHot > 1 << 20) {
      throw new IllegalArgumentException("activity-log extent count must be 16 to 1048576");
    }
    ActivityLog log =
        new ActivityLog(
            io,
            file,
            lineage,
            Integer.numberOfTrailingZeros(extentSize),
            maxHot,
            firstSequence,
            evictions);
    // Fixed size, two slots: slot B starts at half the file, whatever maxHot was.
    io.write(file, new byte[2 * slotBytes(maxHot)]);
    log.writeSlot(new long[0]); // slot A: empty hot set
    log.writeSlot(new long[0]); // slot B too: both valid, the newer wins
    return log;
  }

  public int extentSize() {
    return 1 << extentShift;
  }

  /** The sequence of the last durable hot set. */
  public long sequence() {
    synchronized (lock) {
      return sequence;
    }
  }

  /** How many hot-set writes (each an fdatasync) this log made: the cost of cold extents. */
  public long durableWrites() {
    synchronized (lock) {
      return durableWrites;
    }
  }

  /** Number of hot extents now. */
  public int hotCount() {
    synchronized (lock) {
      return clock.size();
    }
  }

  /**
   * Before a write of {@code [byteOffset, byteOffset + byteLength)}: makes every extent it touches
   * durably hot and counts the write in flight in each. Pair with {@link #exit} (same range) once
   * the write's dirty bits are marked.
   */
  public void enter(long byteOffset, long byteLength) throws IOException {
    if (byteLength <= 0) {
      return;
    }
    long first = byteOffset >>> extentShift;
    long last = (byteOffset + byteLength - 1) >>> extentShift;
    for (long e = first; e <= last; e++) {
      try {
        while (!tryEnterHot(e)) {
          makeHot(e);
        }
      } catch (IOException | RuntimeException failure) {
        if (e > first) { // leave no count behind for the extents already entered
          exit(first << extentShift, (e - first) << extentShift);
        }
        throw failure;
      }
    }
  }

  /** After the write's dirty bits are marked: the write is no longer in flight. */
  public void exit(long byteOffset, long byteLength) {
    if (byteLength <= 0) {
      return;
    }
    long last = (byteOffset + byteLength - 1) >>> extentShift;
    int[][] p = pages;
    for (long e = byteOffset >>> extentShift; e <= last; e++) {
      STATES.getAndAdd(p[(int) (e >>> PAGE_SHIFT)], (int) (e & (PAGE_SIZE - 1)), -1);
    }
  }

  private boolean tryEnterHot(long extent) {
    int[][] p = pages;
    int pageIndex = (int) (extent >>> PAGE_SHIFT);
    if (pageIndex >= p.length) {
      return false;
    }
    int[] page = p[pageIndex];
    int i = (int) (extent & (PAGE_SIZE - 1));
    while (true) {
      int v = (int) STATES.getVolatile(page, i);
      if ((v & HOT) == 0) {
        return false;
      }
      if (STATES.compareAndSet(page, i, v, (v + 1) | REFERENCED)) {
        return true;
      }
    }
  }

  /** The slow path: under the lock, evict if full, write the new hot set durably, mark it hot. */
  private void makeHot(long extent) throws IOException {
    synchronized (lock) {
      if (closed) {
        throw new IOException("activity log closed");
      }
      int[][] p = ensureCapacity(extent);
      int[] page = p[(int) (extent >>> PAGE_SHIFT)];
      int i = (int) (extent & (PAGE_SIZE - 1));
      if (((int) STATES.getVolatile(page, i) & HOT) != 0) {
        return;
      }
      if (clock.size() >= maxHot) {
        evictSome();
      }
      if (clock.size() >= maxHot + SLACK_EXTENTS) {
        throw new IOException("activity log full: every hot extent has a write in flight");
      }
      long[] hot = new long[clock.size() + 1];
      int n = 0;
      for (long e : clock) {
        hot[n++] = e;
      }
      hot[n] = extent;
      writeSlot(hot);
      clock.addLast(extent);
      STATES.getAndBitwiseOr(page, i, HOT | REFERENCED);
    }
  }

  /**
   * Makes a sixteenth of the hot set cold (at least one extent), then persists the bitmap so the
   * victims may leave the log. Extents with writes in flight are skipped; if every extent is busy,
   * the set grows past its bound rather than wait.
   */
  private void evictSome() throws IOException {
    int target = Math.max(1, maxHot / 16);
    int evicted = 0;
    long[] victims = new long[target];
    for (int visits = 0; visits < 2 * clock.size() + 2 && evicted < target; visits++) {
      Long e = clock.pollFirst();
      if (e == null) {
        break;
      }
      int[] page = pages[(int) (e >>> PAGE_SHIFT)];
      int i = (int) (e & (PAGE_SIZE - 1));
      int v = (int) STATES.getVolatile(page, i);
      if ((v & REFERENCED) != 0) {
        STATES.getAndBitwiseAnd(page, i, ~REFERENCED); // second chance
        clock.addLast(e);
      } else if ((v & IN_FLIGHT) != 0 || !STATES.compareAndSet(page, i, v, 0)) {
        clock.addLast(e);
      } else {
        victims[evicted++] = e;
      }
    }
    if (evicted > 0) {
      // Every write into a victim has marked its bits (in flight was 0); new writes to it now
      // wait for this lock. Persist before the next hot set, which no longer names the victims.
      try {
        evictions.persist();
      } catch (IOException | RuntimeException failure) {
        for (int k = 0; k < evicted; k++) { // unsaved: they must stay in the log
          long e = victims[k];
          STATES.getAndBitwiseOr(pages[(int) (e >>> PAGE_SHIFT)], (int) (e & (PAGE_SIZE - 1)), HOT);
          clock.addLast(e);
        }
        throw failure;
      }
    }
  }

  private int[][] ensureCapacity(long extent) {
    int[][] p = pages;
    int needed = (int) (extent >>> PAGE_SHIFT) + 1;
    if (needed > p.length) {
      int[][] grown = Arrays.copyOf(p, Math.max(needed, p.length * 2));
      for (int k = p.length; k < grown.length; k++) {
        grown[k] = new int[PAGE_SIZE];
      }
      pages = grown;
      p = grown;
    }
    return p;
  }

  private void writeSlot(long[] hot) throws IOException {
    long seq = sequence + 1;
    byte[] slot = encodeSlot(seq, extentShift, lineage, hot);
    long position = (seq & 1) * slotBytes;
    io.writeAt(file, position, slot);
    io.fsync(file, true); // fdatasync: the hot set is durable before any write into it
    sequence = seq;
    durableWrites++;
  }

  /** One slot's bytes (docs/STATE.md): header, hot extents, CRC32C. */
  static byte[] encodeSlot(long sequence, int extentShift, UUID lineage, long[] hot) {
    ByteBuffer buf = ByteBuffer.allocate(SLOT_HEADER_BYTES + 8 * hot.length + 4);
    buf.put(MAGIC)
        .putInt(FORMAT_VERSION)
        .putInt(extentShift)
        .putLong(sequence)
        .putLong(lineage.getMostSignificantBits())
        .putLong(lineage.getLeastSignificantBits())
        .putInt(hot.length);
    for (long e : hot) {
      buf.putLong(e);
    }
    CRC32C crc = new CRC32C();
    crc.update(buf.array(), 0, buf.position());
    buf.putInt((int) crc.getValue());
    return buf.array();
  }

  /** Runs {@code action} with no slot write in progress (a rename of the log's file). */
  void locked(IoAction action) throws IOException {
    synchronized (lock) {
      action.run();
    }
  }

  /** An I/O step run under the log's lock. */
  @FunctionalInterface
  interface IoAction {
    void run() throws IOException;
  }

  /** The log file was renamed (with its image): later writes go to {@code newFile}. */
  void relocate(Path newFile) {
    synchronized (lock) {
      file = newFile;
    }
  }

  /** Closes the file. Idempotent. */
  @Override
  public void close() throws IOException {
    synchronized (lock) {
      closed = true; // the file stays; nothing is held open
    }
  }

  /**
   * What a log file says after a crash: the hot extents of the newest valid slot.
   *
   * @param extentShift log2 of the extent size the log was written with
   * @param extents hot extent indexes
   * @param damagedSlot whether the other slot holds bytes that are not a valid slot (torn by the
   *     crash, or rotten since): it may have been the newer one and named extents this one does
   *     not, so the log cannot bound what changed
   */
  public record Contents(long sequence, int extentShift, long[] extents, boolean damagedSlot) {
    /** A slot read whole, beside another valid or never-written one. */
    public Contents(long sequence, int extentShift, long[] extents) {
      this(sequence, extentShift, extents, false);
    }

    /** Marks every block of every hot extent. */
    public DirtySet blocks(BlockGeometry geometry) {
      org.roaringbitmap.RoaringBitmap b = new org.roaringbitmap.RoaringBitmap();
      for (long e : extents) {
        long first = geometry.blockIndex(e << extentShift);
        long end =
            Math.min(
                geometry.blockIndex(((e + 1) << extentShift) - 1) + 1,
                BlockGeometry.MAX_BLOCK_COUNT);
        if (first < end) {
          b.add(first, end);
        }
      }
      return DirtySet.of(geometry, b);
    }
  }

  /**
   * Reads a log file: the valid slot (magic, version, lineage, CRC) with the highest sequence, and
   * whether the other slot is damaged. A slot of zeros (or beyond a short file) was never written,
   * which is not damage: a new log's file is zero-filled before its slots are written.
   *
   * @return empty when neither slot is valid (or the file is empty)
   */
  public static java.util.Optional<Contents> read(byte[] file, UUID lineage) {
    int half = file.length / 2;
    Contents a = parseSlot(file, 0, half, lineage);
    Contents b = parseSlot(file, half, file.length, lineage);
    Contents newest = a == null || (b != null && b.sequence() > a.sequence()) ? b : a;
    if (newest == null) {
      return java.util.Optional.empty();
    }
    Contents other = newest == a ? b : a;
    boolean damaged =
        other == null && !isBlank(file, newest == a ? half : 0, newest == a ? file.length : half);
    return java.util.Optional.of(
        new Contents(newest.sequence(), newest.extentShift(), newest.extents(), damaged));
  }

  /** Whether {@code file[from, to)} is all zero: a slot never written. */
  private static boolean isBlank(byte[] file, int from, int to) {
    for (int i = from; i < to; i++) {
      if (file[i] != 0) {
        return false;
      }
    }
    return true;
  }

  /** The slot in {@code file[offset, end)}, or null if it is not a valid one. */
  private static Contents parseSlot(byte[] file, int offset, int end, UUID lineage) {
    if (end - offset < SLOT_HEADER_BYTES + 4) {
      return null;
    }
    ByteBuffer in = ByteBuffer.wrap(file, offset, end - offset).slice();
    byte[] magic = new byte[MAGIC.length];
    in.get(magic);
    if (!Arrays.equals(magic, MAGIC) || in.getInt() != FORMAT_VERSION) {
      return null;
    }
    int shift = in.getInt();
    long seq = in.getLong();
    UUID id = new UUID(in.getLong(), in.getLong());
    int count = in.getInt();
    if (count < 0
        || count > (end - offset - SLOT_HEADER_BYTES - 4) / 8
        || shift < 12
        || shift > 40
        || !id.equals(lineage)) {
      return null;
    }
    long[] extents = new long[count];
    for (int k = 0; k < count; k++) {
      extents[k] = in.getLong();
    }
    int crcAt = in.position();
    CRC32C crc = new CRC32C();
    crc.update(file, offset, crcAt);
    if (in.getInt() != (int) crc.getValue()) {
      return null;
    }
    return new Contents(seq, shift, extents);
  }
}
