package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.ToReadSet;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * Reads and encodes the records of a sync, from the image's backing file to a {@link DeltaWriter}:
 * the blocks are cut into records of at most {@code maxRecordBytes}, each read with one positional
 * read into a direct buffer and encoded ({@link RecordCodec}) on a pool of {@code threads}, then
 * written in order. At most {@code 2 x threads} records are in flight, so memory is bounded
 * whatever the image size; their buffers are reused, so once the pool of buffers has grown to the
 * records nothing is allocated per record. A hole becomes a zero record without a read.
 *
 * <p>A full sync reads every block once, past the page cache ({@link DirectReads}); any other reads
 * what it names, often still cached, through it, with one more pool thread walking ahead of the
 * readers to ask the kernel for the next {@value #READ_AHEAD_KIB} KiB ({@code posix_fadvise
 * WILLNEED}): the scattered records of an incremental sync then reach the disk many at a time.
 *
 * <p>Not thread-safe: one sync's thread calls {@link #ship}; {@link #close} waits for the pool.
 */
final class RecordPipeline implements AutoCloseable {
  private static final int READ_AHEAD_KIB = 32 << 10;

  private final Path file;
  private final FileChannel image;
  private final NativeFile hints;
  private final long imageSize;
  private final BlockGeometry geometry;
  private final int maxRecordBytes;
  private final int threads;
  private final RecordCodec codec = new RecordCodec();
  private final ToReadSet toRead;
  private final Fleece fleece;
  private final Supplier<Semaphore> readAheadWindow;

  private RecordPipeline(
      Path file,
      FileChannel image,
      NativeFile hints,
      BlockGeometry geometry,
      int maxRecordBytes,
      int threads,
      ToReadSet toRead,
      Fleece fleece,
      Supplier<Semaphore> readAheadWindow)
      throws IOException {
    this.readAheadWindow = readAheadWindow;
    this.toRead = toRead;
    this.fleece = fleece;
    this.file = file;
    this.image = image;
    this.hints = hints;
    this.imageSize =
        fleece != null && fleece.sizeAtDrain() >= 0 ? fleece.sizeAtDrain() : image.size();
    this.geometry = geometry;
    this.maxRecordBytes = Math.max(1, maxRecordBytes / geometry.blockSize()) * geometry.blockSize();
    this.threads = threads;
  }

  /**
   * Opens {@code file} for reading. For a point-in-time sync each record is read under the {@code
   * toRead} set's lock of its blocks, with the blocks copied aside read from the {@code fleece}
   * (both null for a sync that reads the image as it is).
   *
   * @param maxRecordBytes the most bytes a record spans, rounded down to whole blocks (one at
   *     least)
   * @param threads readers and encoders
   */
  static RecordPipeline open(
      Path file,
      BlockGeometry geometry,
      int maxRecordBytes,
      int threads,
      ToReadSet toRead,
      Fleece fleece)
      throws IOException {
    return open(
        file,
        geometry,
        maxRecordBytes,
        threads,
        toRead,
        fleece,
        () -> new Semaphore(READ_AHEAD_KIB));
  }

  /**
   * {@link #open(Path, BlockGeometry, int, int, ToReadSet, Fleece)}, each {@link #ship}'s
   * read-ahead window (KiB advised and not yet taken by the sync's thread) made by {@code
   * readAheadWindow}.
   */
  static RecordPipeline open(
      Path file,
      BlockGeometry geometry,
      int maxRecordBytes,
      int threads,
      ToReadSet toRead,
      Fleece fleece,
      Supplier<Semaphore> readAheadWindow)
      throws IOException {
    FileChannel image = FileChannel.open(file, StandardOpenOption.READ);
    try {
      NativeFile hints = NativeFile.open(file);
      try {
        return new RecordPipeline(
            file, image, hints, geometry, maxRecordBytes, threads, toRead, fleece, readAheadWindow);
      } catch (IOException | RuntimeException e) {
        hints.close();
        throw e;
      }
    } catch (IOException | RuntimeException e) {
      image.close();
      throw e;
    }
  }

  /** The image, for a comparison with the target. */
  FileChannel image() {
    return image;
  }

  /** The image's size at a point-in-time sync's drain, else when it was opened: what it sends. */
  long imageSize() {
    return imageSize;
  }

  /**
   * Reads, encodes and writes every block of {@code blocks} to {@code writer}, in order, telling
   * {@code progress} after each record; each record of {@code reuse} (null: none) goes as a
   * reference to what the target kept instead of being read.
   *
   * @param direct read past the page cache (a full sync), where the file system allows it
   * @return how many records were zero records
   */
  long ship(
      DirtySet blocks,
      boolean direct,
      DeltaWriter writer,
      SyncProgress progress,
      ReusableRecords reuse)
      throws IOException {
    int maxRecordBlocks = maxRecordBytes / geometry.blockSize();
    try (DirectReads reads = direct ? DirectReads.open(file, image) : null) {
      ExecutorService pool =
          Executors.newFixedThreadPool(
              reads == null ? threads + 1 : threads, Threads.daemon("cbtfs-sync"));
      Ordered out =
          new Ordered(
              writer,
              progress,
              blocks.byteCount(imageSize),
              blocks.blockCount(),
              2 * threads,
              reads != null ? reads::newBuffer : ByteBuffer::allocateDirect,
              reuse == null ? null : reuse.kept());
      Semaphore ahead = reads == null ? readAheadWindow.get() : null; // KiB advised, not taken
      try {
        // A resumed sync reads exactly what it does not reuse, and reuses every reusable record in
        // its place: the blocks it stops protecting from writes are exactly those it never reads
        DirtySet read = reuse == null ? blocks : reuse.notReused();
        int[] reused = reuse == null ? new int[0] : reuse.indexes();
        if (reads == null) {
          pool.submit(() -> readAhead(read.runs(maxRecordBlocks), ahead));
        }
        int nextReused = 0;
        DirtySet.RunIterator records = read.runs(maxRecordBlocks);
        while (records.next()) {
          long offset = geometry.byteOffset(records.firstBlock());
          int length = recordLength(records);
          if (length > 0) {
            nextReused = addReused(out, reuse, reused, nextReused, offset);
            submit(reads, pool, out, ahead, offset, length);
          }
        }
        addReused(out, reuse, reused, nextReused, Long.MAX_VALUE);
        out.finish();
      } finally {
        // the image's descriptors are closed after this: nothing may still use them
        pool.shutdownNow();
        Threads.uninterruptibly(() -> pool.awaitTermination(1, TimeUnit.DAYS));
      }
      return out.zeroRecords;
    }
  }

  /**
   * Queues the reused records {@code reused[from..]} that start before {@code before}, in order;
   * returns the index of the first left.
   */
  private static int addReused(
      Ordered out, ReusableRecords reuse, int[] reused, int from, long before) throws IOException {
    int i = from;
    for (; i < reused.length; i++) {
      KeptAttempt.KeptRecord kept = reuse.kept().records().get(reused[i]);
      if (kept.byteOffset() >= before) {
        break;
      }
      out.addReused(reused[i], kept.byteLength());
    }
    return i;
  }

  /**
   * Queues the record {@code [offset, offset + length)}: a zero record for a hole, else a read. The
   * sync's thread has taken it: its share of the read-ahead window goes back to the advice ({@code
   * ahead}, null when none runs), which walked the same records (none a kept one reused).
   */
  private void submit(
      DirectReads reads,
      ExecutorService pool,
      Ordered out,
      Semaphore ahead,
      long offset,
      int length)
      throws IOException {
    if (ahead != null) {
      ahead.release(kib(length));
    }
    if (toRead == null && hints.isHole(offset, length)) { // sparse: a zero record, no read
      out.add(CompletableFuture.completedFuture(codec.zero(offset, length)), null);
    } else {
      // read and encode on the pool: several reads in flight keep the disk's queue busy
      Buffers buf = out.takeBuffers(length);
      out.add(pool.submit(() -> encode(reads, offset, length, buf)), buf);
    }
  }

  /** Reads the record at {@code offset} into {@code buf} and encodes it (a pool thread). */
  private EncodedRecord encode(DirectReads reads, long offset, int length, Buffers buf)
      throws IOException {
    ByteBuffer data = buf.read.clear().limit(length);
    if (toRead == null) {
      read(reads, offset, data);
    } else { // no write copies these blocks meanwhile, nor lands on one not copied
      try (ToReadSet.Reading r =
          toRead.read(geometry.blockIndex(offset), (int) geometry.blockCount(length))) {
        boolean anyCopied = r.anyCopied();
        if (!anyCopied && hints.isHole(offset, length)) {
          return codec.zero(offset, length);
        }
        read(reads, offset, data);
        if (anyCopied) { // most records: no write reached them before their read
          fleece.overlay(r, offset, data);
        }
      }
    }
    EncodedRecord r = codec.encode(offset, data, buf.compressed);
    if (r.kind() == RecordKind.DATA_LZ4) {
      // the spare itself, or a larger buffer the codec made: kept for the next record
      buf.compressed = r.payload();
    }
    return r;
  }

  private void read(DirectReads reads, long offset, ByteBuffer data) throws IOException {
    if (reads != null) {
      reads.readFully(offset, data);
    } else {
      ImageReads.readFully(image, offset, data);
    }
  }

  /**
   * A second walk over the records (a pool thread) that stays up to {@value #READ_AHEAD_KIB} KiB
   * ahead of the sync's thread, asking the kernel to read each before a reader asks for it; the
   * sync's thread does not wait for the advice (each call allocates and submits the pages).
   */
  private Void readAhead(DirtySet.RunIterator records, Semaphore ahead) {
    try {
      while (records.next()) {
        int length = recordLength(records);
        if (length > 0) {
          ahead.acquire(kib(length));
          hints.willNeed(geometry.byteOffset(records.firstBlock()), length);
        }
      }
    } catch (InterruptedException e) {
      // the sync is over
    }
    return null;
  }

  /** A record's share of the read-ahead: never more than all of it, or its advice would wait. */
  private static int kib(int bytes) {
    return Math.min(READ_AHEAD_KIB, Math.max(1, (bytes + 1023) >> 10));
  }

  /** The bytes of the record {@code records} is at, cut at the end of the image: 0 wholly past. */
  private int recordLength(DirtySet.RunIterator records) {
    long offset = geometry.byteOffset(records.firstBlock());
    long whole = (long) records.blockCount() * geometry.blockSize();
    return (int) Math.max(0, Math.min(whole, imageSize - offset));
  }

  @Override
  public void close() throws IOException {
    try (image) {
      hints.close();
    }
  }

  /**
   * A borrowing stream's hold beyond the pending records: about this many payloads (StagingStream's
   * buffers, StreamVerifier's queue). The mount's memory budget counts them too (cli MemoryBudget).
   */
  static final int BORROWED_RECORDS = 8;

  /**
   * The direct bytes one record's buffers take at most: its read buffer, with a page for alignment,
   * and its compressed copy (LZ4's bound).
   */
  static long setBytes(int readBytes) {
    return readBytes + 4096L + readBytes + readBytes / 255 + 16;
  }

  /**
   * The direct bytes a sync's record buffers may take: what {@code 2 x threads} records in flight
   * and a borrowing stream's {@value #BORROWED_RECORDS} take at the default record size, the bytes
   * a mount's --max-memory sets aside for a sync. Records of bigger blocks (2 MiB, 4 MiB: a record
   * is one block at least) are fewer in flight within it, instead of running it out of memory.
   */
  static long recordBuffersBudget(int threads) {
    return (2L * threads + BORROWED_RECORDS) * setBytes(Syncer.DEFAULT_RECORD_BYTES);
  }

  /**
   * A record's read buffer (direct, aligned: a direct read fills it in place) and, once a record
   * compressed, the largest buffer a payload went to: both are reused for later records. Owned by
   * one record at a time, from its read until the stream gave its payload back.
   */
  private static final class Buffers {
    final ByteBuffer read;
    ByteBuffer compressed;

    Buffers(ByteBuffer read) {
      this.read = read;
    }
  }

  /**
   * The ordered end of the pipeline: records are written in the order they were read; a record's
   * buffers return to the pool only once the stream is done with its payload, which a stream that
   * borrows payloads ({@link BorrowingStream}) does later, on its own thread. At most {@code
   * inFlight} records are pending; a borrowing stream holds a bounded few more.
   */
  private final class Ordered {
    /** A record on its way; with {@code record} null, kept record {@code reused} instead. */
    private record InFlight(Future<EncodedRecord> record, Buffers buffers, int reused, int bytes) {}

    private final DeltaWriter writer;
    private final SyncProgress progress;
    private final long totalBytes;
    private final long totalBlocks;
    private final int inFlight;
    private final IntFunction<ByteBuffer> newReadBuffer;
    private final KeptAttempt kept;
    private final BlockingQueue<Buffers> buffers = new LinkedBlockingQueue<>(); // given back
    private final long budgetBytes = recordBuffersBudget(threads);
    private long liveBytes; // of the sets made and not dropped (the sync's thread's only)
    private final ArrayDeque<InFlight> pending = new ArrayDeque<>();
    private long doneBytes;
    private long doneBlocks;
    long zeroRecords;

    Ordered(
        DeltaWriter writer,
        SyncProgress progress,
        long totalBytes,
        long totalBlocks,
        int inFlight,
        IntFunction<ByteBuffer> newReadBuffer,
        KeptAttempt kept) {
      this.kept = kept;
      this.writer = writer;
      this.progress = progress;
      this.totalBytes = totalBytes;
      this.totalBlocks = totalBlocks;
      this.inFlight = inFlight;
      this.newReadBuffer = newReadBuffer;
    }

    /**
     * A free set of buffers for a record of {@code length} bytes, made only when none is free: a
     * sync of a few blocks allocates a few sets, not {@code inFlight}. {@link #add} keeps fewer
     * than {@code inFlight} records pending. A set is as large as the record's power of two (64 KiB
     * at least): a sync of scattered small records does not allocate a whole maximum for each; a
     * set too small for its record is dropped for a larger one.
     */
    Buffers takeBuffers(int length) throws IOException {
      int bytes =
          Math.min(maxRecordBytes, Math.max(64 << 10, Integer.highestOneBit(length - 1) << 1));
      Buffers b = buffers.poll();
      while (b == null || b.read.capacity() < length) {
        if (b != null) {
          liveBytes -= setBytes(b.read.capacity()); // too small: dropped for a larger one
        }
        if (liveBytes == 0 || liveBytes + setBytes(bytes) <= budgetBytes) {
          liveBytes += setBytes(bytes);
          return new Buffers(newReadBuffer.apply(bytes)); // a record never exceeds maxRecordBytes
        }
        // the budget is taken (big blocks: big records, fewer of them): a set comes back once its
        // record is written, or once the stream that borrowed its payload is done with it
        if (!pending.isEmpty()) {
          writeNext();
          b = buffers.poll();
        } else {
          b = givenBack();
        }
      }
      return b;
    }

    private Buffers givenBack() throws IOException {
      try {
        return buffers.take();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException("interrupted while waiting for a record buffer");
      }
    }

    void add(Future<EncodedRecord> record, Buffers buffers) throws IOException {
      queue(new InFlight(record, buffers, -1, 0));
    }

    /** Queues kept record {@code index} ({@code bytes} of the image), in its place. */
    void addReused(int index, int bytes) throws IOException {
      queue(new InFlight(null, null, index, bytes));
    }

    private void queue(InFlight next) throws IOException {
      pending.add(next);
      while (pending.size() >= inFlight) {
        writeNext();
      }
    }

    void finish() throws IOException {
      while (!pending.isEmpty()) {
        writeNext();
      }
    }

    private void writeNext() throws IOException {
      InFlight next = pending.removeFirst();
      if (next.record() == null) {
        writer.reuse(kept, next.reused());
        doneBytes += next.bytes();
        doneBlocks += geometry.blockCount(next.bytes());
        progress.update(doneBytes, totalBytes, doneBlocks, totalBlocks);
        return;
      }
      EncodedRecord r;
      try {
        r = Futures.await(next.record(), "syncing");
      } catch (IOException | RuntimeException e) {
        // a task still filling them (the wait was interrupted) is harmless: the pipeline ends here
        giveBack(next.buffers());
        throw e;
      }
      writer.write(r, () -> giveBack(next.buffers()));
      doneBytes += r.byteLength();
      doneBlocks += geometry.blockCount(r.byteLength());
      if (r.kind() == RecordKind.ZERO) {
        zeroRecords++;
      }
      progress.update(doneBytes, totalBytes, doneBlocks, totalBlocks);
    }

    private void giveBack(Buffers b) {
      if (b != null) {
        buffers.add(b);
      }
    }
  }
}
