package io.cbtfs.syncer;

import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.DirtySet;
import io.cbtfs.tracker.DirtyTracker;
import io.cbtfs.tracker.Drain;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drain, read, compress, checksum, ship, commit.
 *
 * <ol>
 *   <li>Ask the target what it holds; decide full or incremental (a new, behind or foreign target
 *       gets the whole image; a foreign one only with {@code forceFull}).
 *   <li>Take the dirty set ({@link DirtyTracker#beginDrain}): new writes go to the next generation.
 *   <li>Coalesce the blocks into runs of at most {@code chunkBytes}, read each run with one
 *       positional read, compress runs on all cores ({@link ChunkCodec}), write records in order.
 *       At most {@code inFlight} chunks exist at once: memory is bounded whatever the image size.
 *   <li>{@link Delivery#commit}: the target verifies, makes durable, applies, acknowledges.
 *   <li>Only then {@link Drain#commit} and persist the tracking state. Any failure before that
 *       merges the drained blocks back (the drain's try-with-resources).
 * </ol>
 *
 * <p>Thread safety: one sync per image at a time (the tracker refuses a second drain).
 */
public final class Syncer {
  private static final Logger log = LoggerFactory.getLogger(Syncer.class);
  public static final int DEFAULT_CHUNK_BYTES = 1 << 20;

  /** Reads in flight at least this many, whatever the core count: cold random reads are latency. */
  private static final int MIN_IO_THREADS = 8;

  private final int chunkBytes;
  private final int threads;

  public Syncer() {
    this(DEFAULT_CHUNK_BYTES, Runtime.getRuntime().availableProcessors());
  }

  public Syncer(int chunkBytes, int threads) {
    this.chunkBytes = chunkBytes;
    this.threads = Math.max(MIN_IO_THREADS, threads);
  }

  /**
   * Syncs {@code source} to {@code target}.
   *
   * @param forceFull send every block, and overwrite a target that holds another image
   * @throws CbtfsException if the target refuses (foreign image, out of order): nothing changed
   * @throws IOException if reading, shipping or the target failed: the dirty set is intact
   */
  public SyncReport sync(SyncSource source, Target target, boolean forceFull, SyncProgress progress)
      throws IOException {
    long started = System.nanoTime();
    DirtyTracker tracker = source.image().tracker();
    BlockGeometry geometry = tracker.geometry();
    TargetState state = target.state();
    List<String> warnings = new ArrayList<>();
    // what the report needs, set before the commit point
    DeltaHeader header = null;
    DirtySet blocks = null;
    long records = 0;
    long zeros = 0;
    long wire = 0;
    long shipped = 0;
    long committedAt = 0; // when the target committed: from then on nothing fails the sync
    try (FileChannel image = FileChannel.open(source.backingFile(), StandardOpenOption.READ);
        NativeFile hints = NativeFile.open(source.backingFile());
        Drain drain = tracker.beginDrain()) {
      // The new generation's number is durable before any target can hold it: after a crash it is
      // not issued again for other contents.
      source.persister().persist(source.image());
      long imageSize = image.size();
      long base = forceFull ? -1 : incrementalBase(state, source, drain, target);
      boolean full = base < 0;
      header =
          new DeltaHeader(
              source.image().lineage(),
              imageSize,
              geometry.blockSize(),
              full ? 0 : base,
              drain.generation(),
              full);
      // After a change made outside the mount, compare every block with the target instead of
      // trusting the dirty set (a full sync sends every block anyway).
      boolean verify = !full && source.image().verifyNextSync();
      blocks = full ? DirtySet.allOf(geometry, imageSize) : drain.blocks().within(imageSize);
      if (verify) {
        DirtySet differing;
        try {
          differing = target.differing(image, imageSize, geometry, Long.MAX_VALUE);
        } catch (UnsupportedOperationException e) {
          differing = DirtySet.allOf(geometry, imageSize); // cannot compare: send every block
        }
        blocks = blocks.union(differing).within(imageSize);
      }
      if (target.granuleBytes() > geometry.blockSize()) {
        blocks =
            blocks
                .alignedTo((int) (target.granuleBytes() / geometry.blockSize()))
                .within(imageSize);
      }
      // A full sync reads every block once, past the page cache; any other reads what it names,
      // often still cached, through it, with the kernel reading ahead of the readers.
      try (Delivery delivery = target.begin(header, forceFull);
          DirectReads direct = full ? DirectReads.open(source.backingFile(), image) : null) {
        DeltaWriter writer = new DeltaWriter(delivery.stream(), header);
        zeros = ship(image, direct, hints, imageSize, geometry, blocks, writer, progress);
        records = writer.recordCount();
        wire = writer.finish();
        shipped = System.nanoTime();
        delivery.commit(); // the target's commit point
        committedAt = System.nanoTime();
        if (!delivery.warning().isEmpty()) {
          warnings.add(delivery.warning());
        }
        drain.commit();
        if (full || verify) {
          source.image().verifiedSyncDone();
        }
        wire = delivery.wireBytes(wire);
      }
    } catch (IOException | RuntimeException e) {
      if (committedAt == 0) {
        throw e; // before the commit point: the drain merged its blocks back
      }
      // closing the delivery, the image or the drain failed once the target had committed
      log.warn("after the sync to {} committed: {}", target.describe(), e.toString());
      warnings.add("after the commit: " + e.getMessage());
    }
    try {
      source.persister().persist(source.image());
    } catch (IOException | RuntimeException e) { // the target holds the data: a warning
      log.warn("the tracking state was not saved after the sync committed: {}", e.toString());
      warnings.add("the tracking state was not saved: " + e.getMessage());
    }
    log.debug(
        "sync phases: state+drain+read+encode+ship {} ms, target commit {} ms, "
            + "tracker commit {} ms",
        (shipped - started) / 1_000_000,
        (committedAt - shipped) / 1_000_000,
        (System.nanoTime() - committedAt) / 1_000_000);
    SyncReport report =
        new SyncReport(
            target.describe(),
            header.generation(),
            header.full(),
            blocks.blockCount(),
            blocks.byteCount(header.imageSize()),
            wire,
            records,
            zeros,
            (System.nanoTime() - started) / 1e9,
            String.join("; ", warnings));
    log.info(
        "synced {} to {}: {}, {} blocks, {} bytes on the wire",
        source.backingFile(),
        target.describe(),
        header.describe(),
        report.blocks(),
        report.wireBytes());
    return report;
  }

  /**
   * The generation the target holds, if a delta of the drained blocks brings it up to date: any
   * generation from the committed one to the highest issued before this drain (a sync that failed
   * after its target had it merged its blocks back, so they are drained again); -1 if it needs
   * every block (empty, or at a generation this tracker cannot vouch for).
   */
  private static long incrementalBase(
      TargetState state, SyncSource source, Drain drain, Target target) {
    if (!state.exists()) {
      return -1;
    }
    state.requireLineage(source.image().lineage(), target.describe(), target.otherImageAdvice());
    long committed = source.image().tracker().committedGeneration();
    long issued = drain.generation() - 1;
    long held = state.generation();
    if (held >= committed && held <= issued) {
      return held;
    }
    log.warn(
        "{} is at generation {}, the image at {} (highest issued {}): sending every block",
        target.describe(),
        held,
        committed,
        issued);
    return -1;
  }

  /** Reads, encodes in parallel and writes every run of {@code blocks}; returns zero records. */
  private long ship(
      FileChannel image,
      DirectReads direct,
      NativeFile hints,
      long imageSize,
      BlockGeometry geometry,
      DirtySet blocks,
      DeltaWriter writer,
      SyncProgress progress)
      throws IOException {
    int maxRunBytes = maxRunBytes(geometry);
    int maxRunBlocks = maxRunBytes / geometry.blockSize();
    Pipeline p =
        new Pipeline(
            writer,
            geometry,
            progress,
            blocks.byteCount(imageSize),
            blocks.blockCount(),
            2 * threads,
            maxRunBytes,
            direct != null ? direct::newBuffer : ByteBuffer::allocateDirect);
    ExecutorService pool =
        Executors.newFixedThreadPool(threads, Threads.daemon("cbtfs-sync-encode"));
    ChunkCodec codec = new ChunkCodec();
    DirtySet.RunIterator runs = blocks.runs(maxRunBlocks);
    RunReader reader =
        direct != null
            ? direct::readFully
            : (offset, into) -> ImageReads.readFully(image, offset, into);
    Prefetch prefetch =
        direct != null ? null : new Prefetch(blocks.runs(maxRunBlocks), hints, geometry, imageSize);
    try {
      while (runs.next()) {
        long offset = geometry.byteOffset(runs.firstBlock());
        int length = runLength(runs, geometry, imageSize);
        if (length == 0) {
          continue;
        }
        if (prefetch != null) {
          prefetch.shipped(length);
        }
        if (hints.isHole(offset, length)) { // sparse: a zero record without reading
          p.add(CompletableFuture.completedFuture(codec.zero(offset, length)), null);
        } else {
          // read and encode on the pool: several reads in flight keep the disk's queue busy
          Buffers buf = p.takeBuffers(length);
          p.add(
              pool.submit(
                  () -> {
                    ByteBuffer run = buf.read.clear().limit(length);
                    reader.readFully(offset, run);
                    EncodedRecord r = codec.encode(offset, run, buf.compressed);
                    if (r.kind() == RecordKind.DATA_LZ4) {
                      // the spare itself, or a larger buffer the codec made: kept for the next run
                      buf.compressed = r.payload();
                    }
                    return r;
                  }),
              buf);
        }
      }
      p.finish();
    } finally {
      pool.shutdownNow();
      if (prefetch != null) {
        prefetch.stop();
      }
    }
    return p.zeroRecords;
  }

  /** The most bytes one run (one read, one record) spans: whole blocks, about chunkBytes. */
  private int maxRunBytes(BlockGeometry geometry) {
    return Math.max(1, chunkBytes / geometry.blockSize()) * geometry.blockSize();
  }

  /** The bytes of the run {@code runs} is at, cut at the end of the image: 0 wholly past it. */
  private static int runLength(DirtySet.RunIterator runs, BlockGeometry geometry, long imageSize) {
    long offset = geometry.byteOffset(runs.firstBlock());
    long whole = (long) runs.blockCount() * geometry.blockSize();
    return (int) Math.max(0, Math.min(whole, imageSize - offset));
  }

  /** Fills {@code into}, position to limit, with the image's bytes at {@code offset}. */
  @FunctionalInterface
  private interface RunReader {
    void readFully(long offset, ByteBuffer into) throws IOException;
  }

  /**
   * A second walk over the runs, on its own thread, that stays up to {@value #READ_AHEAD_KIB} KiB
   * of data ahead of the sync's thread, asking the kernel to read each run before a reader thread
   * asks for it: the scattered runs of an incremental sync then reach the disk many at a time, not
   * one per reader thread, and the sync's thread does not wait for the advice (each call allocates
   * and submits the run's pages).
   */
  private static final class Prefetch {
    private static final int READ_AHEAD_KIB = 32 << 10;
    private final Semaphore ahead = new Semaphore(READ_AHEAD_KIB); // KiB advised, not yet shipped
    private final Thread thread;

    Prefetch(DirtySet.RunIterator runs, NativeFile kernel, BlockGeometry geometry, long imageSize) {
      thread =
          Threads.daemon("cbtfs-sync-prefetch")
              .newThread(
                  () -> {
                    try {
                      while (runs.next()) {
                        int length = runLength(runs, geometry, imageSize);
                        if (length > 0) {
                          ahead.acquire(kib(length));
                          kernel.willNeed(geometry.byteOffset(runs.firstBlock()), length);
                        }
                      }
                    } catch (InterruptedException e) {
                      // the sync is over
                    }
                  });
      thread.start();
    }

    /** A run's share of the read-ahead: never more than all of it, or its advice would wait. */
    private static int kib(int bytes) {
      return Math.min(READ_AHEAD_KIB, Math.max(1, (bytes + 1023) >> 10));
    }

    /** The sync's thread has taken the next run: the advice may go that much further. */
    void shipped(int length) {
      ahead.release(kib(length));
    }

    /** Stops the walk and waits for it: the image's descriptor is closed after the sync. */
    void stop() {
      thread.interrupt();
      Threads.uninterruptibly(thread::join);
    }
  }

  /**
   * A run's read buffer (direct, aligned: a direct read fills it in place) and, once a run
   * compressed, the largest buffer a payload went to: both are reused for later runs, so once a set
   * has grown to its runs the pipeline allocates nothing per record. Owned by one run at a time,
   * from its read until the stream gave its payload back.
   */
  private static final class Buffers {
    final ByteBuffer read;
    ByteBuffer compressed;

    Buffers(ByteBuffer read) {
      this.read = read;
    }
  }

  /**
   * The ordered end of the sync pipeline: records are written in the order their runs were read; a
   * run's buffers return to the pool only once the stream is done with its record's payload (one of
   * them), which a stream that borrows payloads does later, on its own thread. At most {@code
   * inFlight} runs are pending; a borrowing stream holds a bounded few more.
   */
  private static final class Pipeline {
    private record InFlight(Future<EncodedRecord> record, Buffers buffers) {}

    private final DeltaWriter writer;
    private final BlockGeometry geometry;
    private final SyncProgress progress;
    private final long totalBytes;
    private final long totalBlocks;
    private final int inFlight;
    private final int maxRunBytes;
    private final IntFunction<ByteBuffer> newReadBuffer;
    private final Queue<Buffers> buffers = new ConcurrentLinkedQueue<>(); // given back by streams
    private final ArrayDeque<InFlight> pending = new ArrayDeque<>();
    private long doneBytes;
    private long doneBlocks;
    long zeroRecords;

    Pipeline(
        DeltaWriter writer,
        BlockGeometry geometry,
        SyncProgress progress,
        long totalBytes,
        long totalBlocks,
        int inFlight,
        int maxRunBytes,
        IntFunction<ByteBuffer> newReadBuffer) {
      this.writer = writer;
      this.geometry = geometry;
      this.progress = progress;
      this.totalBytes = totalBytes;
      this.totalBlocks = totalBlocks;
      this.inFlight = inFlight;
      this.maxRunBytes = maxRunBytes;
      this.newReadBuffer = newReadBuffer;
    }

    /**
     * A free set of buffers for a run of {@code length} bytes, made only when none is free: a sync
     * of a few blocks allocates a few sets, not {@code inFlight}. {@link #add} keeps fewer than
     * {@code inFlight} runs pending. A set is as large as the run's power of two (64 KiB at least):
     * a sync of scattered small runs does not allocate, and zero, a whole chunk for each; a set too
     * small for its run is dropped for a larger one.
     */
    Buffers takeBuffers(int length) {
      Buffers b = buffers.poll();
      if (b == null || b.read.capacity() < length) {
        int bytes =
            Math.min(maxRunBytes, Math.max(64 << 10, Integer.highestOneBit(length - 1) << 1));
        b = new Buffers(newReadBuffer.apply(bytes)); // a run never exceeds maxRunBytes
      }
      return b;
    }

    void add(Future<EncodedRecord> record, Buffers buffers) throws IOException {
      pending.add(new InFlight(record, buffers));
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
