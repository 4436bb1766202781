package io.cbtfs.s3;

import io.cbtfs.tracker.CbtfsException;
import java.io.InterruptedIOException;
import net.jpountz.lz4.LZ4Factory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The heap the S3 deliveries of this process may hold, and how many chunks each keeps in flight
 * within it. A chunk in flight holds its array and, once its upload thread has compressed one, that
 * thread's compressed copy: two chunks' worth. At the default 1 MiB chunks that is 16 in flight in
 * 38 MiB, which a mount's default 64 MiB heap holds; 2 MiB chunks ({@code --block-size 2M}) took
 * twice that and ran the mount out of heap. Now a delivery takes as many as fit ({@link
 * S3Store#CONNECTIONS} at most), fewer for bigger chunks; concurrent deliveries share the same
 * memory (a delivery that finds too little waits for one to end), and one that cannot fit even
 * alone is refused before anything is sent, naming the {@code --max-memory} it needs. Thread-safe.
 */
final class UploadMemory {
  private static final Logger log = LoggerFactory.getLogger(UploadMemory.class);

  /**
   * What this process's deliveries may hold: 5/8 of the heap, what one delivery of 1 MiB chunks
   * always held in a mount's default 64 MiB heap (the rest is the mount's tracking and the JVM's).
   */
  static final UploadMemory PROCESS = new UploadMemory(Runtime.getRuntime().maxMemory() / 8 * 5);

  private final long bytes;
  private long reserved;

  /**
   * @param bytes the heap all deliveries together may hold
   */
  UploadMemory(long bytes) {
    this.bytes = bytes;
  }

  /** What {@link #reserve} granted: {@code inFlight} chunks; close it when the delivery ends. */
  final class Reservation implements AutoCloseable {
    private final int inFlight;
    private long held;

    private Reservation(int inFlight, long held) {
      this.inFlight = inFlight;
      this.held = held;
    }

    int inFlight() {
      return inFlight;
    }

    /** Gives the memory back (once). */
    @Override
    public void close() {
      synchronized (UploadMemory.this) {
        reserved -= held;
        held = 0;
        UploadMemory.this.notifyAll();
      }
    }
  }

  /**
   * The most heap one delivery holds with {@code inFlight} chunks of up to {@code chunkBytes} and
   * records of up to {@code recordBytes}: per chunk in flight its array and a compressed copy; then
   * the chunk being gathered, one more array for each chunk being sealed, the verifier's record and
   * its decoded bytes, and the stream's batch.
   */
  static long heldBytes(int inFlight, int chunkBytes, int recordBytes) {
    long array = Math.max(chunkBytes, ChunkObject.sealedBytes(chunkBytes));
    long compressed = LZ4Factory.nativeInstance().fastCompressor().maxCompressedLength(chunkBytes);
    return inFlight * (array + compressed)
        + (1L + ChunkUploader.SEALING_AT_ONCE) * array
        + 2L * LZ4Factory.nativeInstance().fastCompressor().maxCompressedLength(recordBytes)
        + BatchingStream.BATCH_BYTES;
  }

  /**
   * Reserves for a delivery of chunks of up to {@code chunkBytes} and records of up to {@code
   * recordBytes} as many chunks in flight as fit ({@link S3Store#CONNECTIONS} at most); waits while
   * other deliveries hold what one needs.
   *
   * @throws CbtfsException if one chunk in flight does not fit even with no other delivery: names
   *     the {@code --max-memory} a mount needs for it
   */
  synchronized Reservation reserve(int chunkBytes, int recordBytes) throws InterruptedIOException {
    if (heldBytes(1, chunkBytes, recordBytes) > bytes) {
      throw new CbtfsException(tooSmall(chunkBytes, recordBytes));
    }
    if (heldBytes(1, chunkBytes, recordBytes) > bytes - reserved) {
      log.info("waiting for another S3 sync of this process to give back its upload memory");
    }
    while (heldBytes(1, chunkBytes, recordBytes) > bytes - reserved) {
      try {
        wait();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while waiting for another S3 sync's memory");
      }
    }
    int inFlight = 1;
    while (inFlight < S3Store.CONNECTIONS
        && heldBytes(inFlight + 1, chunkBytes, recordBytes) <= bytes - reserved) {
      inFlight++;
    }
    long held = heldBytes(inFlight, chunkBytes, recordBytes);
    reserved += held;
    return new Reservation(inFlight, held);
  }

  /**
   * "an S3 sync of 4 MiB chunks needs 26 MiB of heap, this one has 20 MiB for it: give the mount
   * --max-memory 228M or more (a quarter of it is heap)".
   */
  private String tooSmall(int chunkBytes, int recordBytes) {
    long need = heldBytes(1, chunkBytes, recordBytes);
    long heap = need / 5 * 8; // as PROCESS takes 5/8 of the heap
    long budgetMib = ((4 * heap) >> 20) + 1; // a mount's heap is a quarter of --max-memory
    return "an S3 sync of "
        + (chunkBytes >> 10)
        + " KiB chunks needs "
        + ((need >> 20) + 1)
        + " MiB of heap, this process has "
        + (bytes >> 20)
        + " MiB for it: give the mount --max-memory "
        + budgetMib
        + "M or more (a quarter of it is heap)";
  }
}
