package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.tracker.Fuzz;
import io.cbtfs.tracker.Mutations;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the readers of a delta stream (docs/FORMAT.md), which a replica, an archive and a receiver
 * get from elsewhere: {@link DeltaReader} (a file, a journal), {@link StreamVerifier} (the same
 * bytes as they arrive, in pieces), and the header decoders. Inputs: random bytes, valid deltas of
 * every record kind, and seeded mutations of those (bit flips, truncations, insertions, splices,
 * hostile lengths; half of the mutated headers with their CRC made right again). A reader returns
 * records that encode back to the same image bytes, or throws {@link CorruptDeltaException};
 * anything else, a hostile length allocated or a hang fails ({@link Fuzz}). A few seconds here;
 * {@code -Dcbtfs.fuzz.factor=N} runs N times longer (bench/fuzz.sh).
 */
class DeltaFuzzTest {
  private static final RecordCodec CODEC = new RecordCodec();

  /** A record as the reader hands it over: its bytes (null for zeros). */
  private record Rec(long offset, int length, byte[] bytes) {
    byte[] image() {
      return bytes == null ? new byte[length] : bytes;
    }
  }

  @Test
  void aDeltaReadsAsRecordsThatEncodeBackOrIsRefused() {
    Fuzz.Report r = Fuzz.run("delta", 4000, DeltaFuzzTest::delta, DeltaFuzzTest::readDelta);
    assertThat(r.accepted()).isPositive();
    assertThat(r.refused()).isPositive();
  }

  @Test
  void theStreamVerifierAgreesWithTheReaderWhateverThePieces() {
    Fuzz.Report r =
        Fuzz.run("stream verifier", 1500, DeltaFuzzTest::delta, DeltaFuzzTest::verifyStream);
    assertThat(r.accepted()).isPositive();
    assertThat(r.refused()).isPositive();
  }

  @Test
  void aDeltaHeaderDecodesToWhatItEncodesOrIsRefused() {
    Fuzz.Report r =
        Fuzz.run(
            "delta header",
            8000,
            rnd ->
                switch (rnd.nextInt(3)) {
                  case 0 -> Mutations.random(rnd, DeltaHeader.BYTES);
                  case 1 -> Mutations.mutate(header(rnd).encode(), rnd);
                  default -> fixHeaderCrc(Mutations.mutate(header(rnd).encode(), rnd));
                },
            bytes -> {
              DeltaHeader h;
              try {
                h = DeltaHeader.decode(bytes, "fuzz");
              } catch (CorruptDeltaException e) {
                return false;
              }
              assertThat(DeltaHeader.decode(h.encode(), "again")).isEqualTo(h);
              return true;
            });
    assertThat(r.accepted()).isPositive();
  }

  @Test
  void aRecordHeaderOfAKnownKindEncodesBackToItsBytes() {
    Fuzz.run(
        "record header",
        8000,
        rnd -> {
          byte[] head = Mutations.random(rnd, RecordHeader.BYTES);
          if (rnd.nextBoolean()) {
            head[0] = (byte) (1 + rnd.nextInt(3)); // a known kind, half the time
          }
          return head;
        },
        bytes -> {
          RecordHeader h = RecordHeader.decode(bytes);
          RecordKind kind = RecordKind.of(h.marker());
          if (kind == null) {
            return false;
          }
          assertThat(
                  RecordHeader.encode(
                      kind, h.offset(), h.length(), h.payloadLength(), h.checksum()))
              .isEqualTo(bytes);
          return true;
        });
  }

  /** Hostile inputs kept from the runs that prove the fuzzer catches a reader without a check. */
  @Test
  void keptHostileDeltasAreRefused() throws Exception {
    Fuzz.Report read = Fuzz.replay(getClass(), "delta", DeltaFuzzTest::readDelta);
    Fuzz.Report streamed = Fuzz.replay(getClass(), "delta", DeltaFuzzTest::verifyStream);
    assertThat(read.tries()).isPositive().isEqualTo(read.refused());
    assertThat(streamed.refused()).isEqualTo(read.refused());
  }

  // ---- checks ----

  private static boolean readDelta(byte[] input) throws IOException {
    List<Rec> records = new ArrayList<>();
    DeltaReader.Summary s;
    try {
      s = DeltaReader.read(new ByteArrayInputStream(input), "fuzz", collect(records));
    } catch (CorruptDeltaException e) {
      return false;
    }
    assertThat(s.recordCount()).isEqualTo(records.size());
    // encoded again (the codec may choose other kinds): the same image bytes, the same summary
    byte[] again = write(s.header(), records);
    List<Rec> back = new ArrayList<>();
    DeltaReader.Summary s2 =
        DeltaReader.read(new ByteArrayInputStream(again), "again", collect(back));
    assertThat(s2).isEqualTo(s);
    assertThat(back).hasSameSizeAs(records);
    for (int i = 0; i < back.size(); i++) {
      assertThat(back.get(i).offset()).isEqualTo(records.get(i).offset());
      assertThat(back.get(i).image()).isEqualTo(records.get(i).image());
    }
    return true;
  }

  /** The same bytes through a {@link StreamVerifier}, in pieces: the same verdict as the reader. */
  private static boolean verifyStream(byte[] input) throws IOException {
    boolean readable;
    try {
      DeltaReader.read(new ByteArrayInputStream(input), "fuzz", (k, o, d, l) -> {});
      readable = true;
    } catch (CorruptDeltaException e) {
      readable = false;
    }
    Random pieces = new Random(Arrays.hashCode(input));
    StreamVerifier v = new StreamVerifier("fuzz");
    boolean verified;
    try {
      for (int at = 0; at < input.length; ) {
        int n = Math.min(input.length - at, 1 + pieces.nextInt(pieces.nextBoolean() ? 16 : 70_000));
        if (pieces.nextBoolean()) {
          v.write(input, at, n);
        } else {
          ByteBuffer lent = ByteBuffer.wrap(Arrays.copyOfRange(input, at, at + n));
          v.borrow(lent, () -> {});
        }
        at += n;
      }
      v.close();
      v.result();
      verified = true;
    } catch (CorruptDeltaException e) {
      verified = false;
    }
    assertThat(verified).as("the verifier's verdict is the reader's").isEqualTo(readable);
    return verified;
  }

  private static DeltaReader.RecordSink collect(List<Rec> into) {
    return (kind, offset, data, length) ->
        into.add(new Rec(offset, length, data == null ? null : Arrays.copyOf(data, length)));
  }

  // ---- inputs ----

  private static byte[] delta(Random r) {
    return switch (r.nextInt(5)) {
      case 0 -> Mutations.random(r, r.nextInt(2000));
      case 1 -> validDelta(r);
      case 2 -> Mutations.mutate(validDelta(r), r);
      case 3 -> hostileRecordField(r);
      default -> {
        byte[] d = Mutations.mutate(validDelta(r), r); // past the header's CRC, into the records
        yield d.length >= DeltaHeader.BYTES ? fixHeaderCrc(d) : d;
      }
    };
  }

  private static DeltaHeader header(Random r) {
    long base = r.nextInt(10);
    boolean full = r.nextBoolean();
    return new DeltaHeader(
        new UUID(r.nextLong(), r.nextLong()),
        r.nextInt(4) == 0 ? r.nextLong() & Long.MAX_VALUE : 1 + r.nextInt(8 << 20),
        4096 << r.nextInt(11),
        full ? 0 : base,
        base + 1,
        full);
  }

  private static final int[] HOSTILE = {
    -1,
    0,
    1,
    Integer.MIN_VALUE,
    Integer.MAX_VALUE,
    Integer.MAX_VALUE - 8,
    1 << 30,
    16 << 20,
    (16 << 20) + 1
  };

  /**
   * A valid delta with one field of one record header (offset, length or payload length) set to a
   * hostile value: blind mutations seldom hit a field exactly.
   */
  private static byte[] hostileRecordField(Random r) {
    List<Integer> heads = new ArrayList<>();
    byte[] d = validDelta(r, heads);
    if (heads.isEmpty()) {
      return d;
    }
    int head = heads.get(r.nextInt(heads.size()));
    ByteBuffer b = ByteBuffer.wrap(d);
    int v = HOSTILE[r.nextInt(HOSTILE.length)];
    switch (r.nextInt(3)) {
      case 0 -> b.putLong(head + 1, r.nextBoolean() ? v : (long) v << 20);
      case 1 -> b.putInt(head + 9, v);
      default -> b.putInt(head + 13, v);
    }
    return d;
  }

  private static byte[] validDelta(Random r) {
    return validDelta(r, new ArrayList<>());
  }

  /**
   * A valid delta: a few records of every kind, ascending; {@code heads} gets where each record's
   * header starts.
   */
  private static byte[] validDelta(Random r, List<Integer> heads) {
    // a huge image half the time: then only the reader's own bounds stand against a hostile length
    long size = r.nextBoolean() ? 1 + r.nextInt(4 << 20) : 1L << (32 + r.nextInt(20));
    DeltaHeader h = new DeltaHeader(new UUID(r.nextLong(), r.nextLong()), size, 65536, 0, 1, true);
    List<Rec> records = new ArrayList<>();
    long at = 0;
    for (int k = r.nextInt(6); k > 0 && at < h.imageSize(); k--) {
      long offset = at + r.nextInt(100_000);
      int length = (int) Math.min(1 + r.nextInt(40_000), h.imageSize() - offset);
      if (length <= 0) {
        break;
      }
      byte[] data = new byte[length];
      switch (r.nextInt(3)) {
        case 0 -> {} // zeros: a zero record
        case 1 -> Arrays.fill(data, (byte) r.nextInt(256)); // compresses: LZ4
        default -> r.nextBytes(data); // does not: raw
      }
      records.add(new Rec(offset, length, data));
      at = offset + length;
    }
    try {
      return write(h, records, heads);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  private static byte[] write(DeltaHeader h, List<Rec> records) throws IOException {
    return write(h, records, new ArrayList<>());
  }

  private static byte[] write(DeltaHeader h, List<Rec> records, List<Integer> heads)
      throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    DeltaWriter w = new DeltaWriter(out, h);
    for (Rec rec : records) {
      heads.add(out.size());
      w.write(CODEC.encode(rec.offset(), rec.image(), rec.length()));
    }
    w.finish();
    return out.toByteArray();
  }

  /** The header's CRC made right again for whatever its first 72 bytes now say. */
  private static byte[] fixHeaderCrc(byte[] bytes) {
    if (bytes.length < DeltaHeader.BYTES) {
      return bytes;
    }
    CRC32C crc = new CRC32C();
    crc.update(bytes, 0, DeltaHeader.BYTES - 4);
    ByteBuffer.wrap(bytes).putInt(DeltaHeader.BYTES - 4, (int) crc.getValue());
    return bytes;
  }
}
