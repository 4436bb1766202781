package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class DeltaFormatTest {
  static final DeltaHeader HEADER =
      new DeltaHeader(UUID.randomUUID(), 10 << 20, 65536, 4, 5, false);
  static byte[] delta;

  /** Byte offsets where each record starts, then the trailer's. */
  static List<Integer> boundaries = new ArrayList<>();

  static byte[] compressible = new byte[200_000];
  static byte[] random = new byte[65536];

  @BeforeAll
  static void write() throws IOException {
    new Random(3).nextBytes(random);
    Arrays.fill(compressible, (byte) 'a');
    RecordCodec codec = new RecordCodec();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    DeltaWriter w = new DeltaWriter(out, HEADER);
    boundaries.add(out.size());
    w.write(codec.encode(0, compressible, compressible.length));
    boundaries.add(out.size());
    w.write(codec.encode(1 << 20, random, random.length));
    boundaries.add(out.size());
    w.write(codec.encode(2 << 20, new byte[65536], 65536));
    boundaries.add(out.size());
    w.finish();
    delta = out.toByteArray();
  }

  private static DeltaReader.Summary read(byte[] bytes, List<String> seen) throws IOException {
    return DeltaReader.read(
        new ByteArrayInputStream(bytes),
        "test",
        (kind, off, data, len) -> seen.add(kind + "@" + off + "+" + len));
  }

  @Test
  void roundTripsEveryKind() throws IOException {
    List<String> seen = new ArrayList<>();
    DeltaReader.Summary s = read(delta, seen);
    assertThat(s.header()).isEqualTo(HEADER);
    assertThat(s.recordCount()).isEqualTo(3);
    assertThat(seen)
        .containsExactly("DATA_LZ4@0+200000", "DATA_RAW@1048576+65536", "ZERO@2097152+65536");
    assertThat(delta.length).as("compressible and zero data shrink").isLessThan(100_000);
  }

  @Test
  void everyTruncationIsRejected() {
    for (int len = 0; len < delta.length; len++) {
      byte[] cut = Arrays.copyOf(delta, len);
      assertThatThrownBy(() -> read(cut, new ArrayList<>()))
          .as("truncated to %d bytes", len)
          .isInstanceOf(CorruptDeltaException.class)
          .hasMessageContaining("rejected");
    }
  }

  @Test
  void truncationAtEveryRecordBoundarySaysTruncated() {
    for (int b : boundaries) {
      assertThatThrownBy(() -> read(Arrays.copyOf(delta, b), new ArrayList<>()))
          .hasMessageContaining("truncated");
    }
  }

  @Test
  void aFlippedByteInAnySectionIsRejected() {
    for (int i = 0; i < delta.length; i++) {
      byte[] bad = delta.clone();
      bad[i] ^= 0x40;
      assertThatThrownBy(() -> read(bad, new ArrayList<>()))
          .as("byte %d flipped", i)
          .isInstanceOf(CorruptDeltaException.class);
    }
  }

  @Test
  void trailingGarbageIsRejected() {
    byte[] longer = Arrays.copyOf(delta, delta.length + 1);
    assertThatThrownBy(() -> read(longer, new ArrayList<>()))
        .hasMessageContaining("after the trailer");
  }

  @Test
  void hostileLengthsAreBoundedBeforeAllocation() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(HEADER.encode());
    out.write(RecordHeader.encode(RecordKind.DATA_RAW, 0, Integer.MAX_VALUE, Integer.MAX_VALUE, 0));
    assertThatThrownBy(() -> read(out.toByteArray(), new ArrayList<>()))
        .hasMessageContaining("bad length");
  }

  @Test
  void headerRejectsNonsense() {
    assertThatThrownBy(() -> new DeltaHeader(UUID.randomUUID(), 1, 65536, 5, 5, false))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(
            () ->
                DeltaReader.readHeader(
                    new ByteArrayInputStream(
                        "definitely not a delta, just some text that is long enough to fill a whole header"
                            .getBytes()),
                    "text"))
        .hasMessageContaining("bad magic");
  }

  /**
   * A sealed delta's records are sealed into buffers the writer reuses: a sync allocates no
   * record-sized array per record (an encrypted archive sync inside a mount has a small heap).
   */
  @Test
  void sealingRecordsAllocatesNoArrayPerRecord() throws IOException {
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    io.cbtfs.syncer.crypto.EncryptionKey key = io.cbtfs.syncer.crypto.EncryptionKey.generate();
    DeltaHeader header = HEADER.sealedWith(key.fingerprint());
    int records = 64;
    int length = 1 << 20;
    java.nio.ByteBuffer payload = java.nio.ByteBuffer.allocateDirect(length); // as a sync reads
    byte[] bytes = new byte[length];
    new Random(5).nextBytes(bytes);
    payload.put(bytes).flip();
    java.io.OutputStream sink = java.io.OutputStream.nullOutputStream();
    DeltaWriter w = new DeltaWriter(sink, header, new RecordSeal(key.seal(), header));
    int checksum = RecordCodec.checksum(RecordKind.DATA_RAW, 0, bytes, length);
    w.write(new EncodedRecord(RecordKind.DATA_RAW, 0, length, checksum, payload)); // warms up
    long before = threads.getCurrentThreadAllocatedBytes();
    for (int i = 1; i <= records; i++) {
      w.write(new EncodedRecord(RecordKind.DATA_RAW, (long) i * length, length, 0, payload));
    }
    long allocated = threads.getCurrentThreadAllocatedBytes() - before;
    w.finish();
    assertThat(w.recordCount()).isEqualTo(records + 2); // and the sealed end
    assertThat(allocated).as("bytes allocated for %d records of 1 MiB", records).isLessThan(length);
  }

  /**
   * Into a stream that stages in buffers, each sealed record is handed on by itself (flushed at its
   * end), as a clear record's lent payload is: staged writes then keep the clear path's shape, not
   * whole buffers at buffer boundaries (docs/BENCHMARKS.md, encryption's cost). The delta is the
   * same bytes and reads back.
   */
  @Test
  void aSealedRecordIsHandedOnByItself() throws IOException {
    io.cbtfs.syncer.crypto.EncryptionKey key = io.cbtfs.syncer.crypto.EncryptionKey.generate();
    DeltaHeader header = HEADER.sealedWith(key.fingerprint());
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    List<Long> flushedAt = new ArrayList<>();
    BorrowingStream staging =
        new BorrowingStream() {
          @Override
          public void borrow(java.nio.ByteBuffer b, Runnable giveBack) {
            copy(b);
            giveBack.run();
          }

          @Override
          public void copy(java.nio.ByteBuffer b) {
            byte[] a = new byte[b.remaining()];
            b.duplicate().get(a);
            bytes.write(a, 0, a.length);
          }

          @Override
          public void flush() {
            flushedAt.add((long) bytes.size());
          }
        };
    DeltaWriter w = new DeltaWriter(staging, header, new RecordSeal(key.seal(), header));
    int records = 5;
    int length = 64 << 10;
    byte[] data = new byte[length];
    new Random(11).nextBytes(data);
    List<Long> ends = new ArrayList<>();
    for (int i = 0; i < records; i++) {
      java.nio.ByteBuffer payload = java.nio.ByteBuffer.wrap(data);
      int checksum = RecordCodec.checksum(RecordKind.DATA_RAW, (long) i * length, data, length);
      w.write(new EncodedRecord(RecordKind.DATA_RAW, (long) i * length, length, checksum, payload));
      ends.add((long) bytes.size());
    }
    w.finish();
    assertThat(flushedAt).containsSubsequence(ends);
    List<Long> read = new ArrayList<>();
    DeltaReader.read(
        new ByteArrayInputStream(bytes.toByteArray()),
        "staged",
        (kind, offset, d, l) -> read.add(offset),
        key);
    assertThat(read).hasSize(records);
  }

  /**
   * Reading a sealed delta (a restore, a verify, an index of an encrypted archive) allocates what
   * each record opens to and no copy of it: the payload goes to the reader's own buffer.
   */
  @Test
  void readingASealedDeltaAllocatesOnlyTheOpenedRecords() throws IOException {
    com.sun.management.ThreadMXBean threads =
        (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
    io.cbtfs.syncer.crypto.EncryptionKey key = io.cbtfs.syncer.crypto.EncryptionKey.generate();
    int records = 64;
    int length = 1 << 20;
    DeltaHeader header =
        new DeltaHeader(UUID.randomUUID(), (long) records * length, 65536, 4, 5, false)
            .sealedWith(key.fingerprint());
    byte[] bytes = new byte[length];
    new Random(6).nextBytes(bytes);
    RecordCodec codec = new RecordCodec();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    DeltaWriter w = new DeltaWriter(out, header, new RecordSeal(key.seal(), header));
    for (int i = 0; i < records; i++) {
      w.write(codec.encode((long) i * length, bytes, length));
    }
    w.finish();
    byte[] delta = out.toByteArray();
    long[] seen = new long[1];
    long before = threads.getCurrentThreadAllocatedBytes();
    DeltaReader.read(
        new ByteArrayInputStream(delta), "test", (kind, off, data, len) -> seen[0] += len, key);
    long allocated = threads.getCurrentThreadAllocatedBytes() - before;
    assertThat(seen[0]).isEqualTo((long) records * length);
    assertThat(allocated)
        .as("bytes allocated to read %d sealed records of 1 MiB", records)
        .isLessThan((long) records * length * 3 / 2);
  }
}
