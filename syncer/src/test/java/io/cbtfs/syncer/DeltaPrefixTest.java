package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A delta cut anywhere keeps exactly its complete records; a damaged one is refused whole. */
class DeltaPrefixTest {
  @TempDir Path tmp;

  private static final int BLOCK = 4096;

  /** A delta of records of various kinds and sizes; the file offsets where each record ends. */
  private static byte[] delta(List<Long> recordEnds) throws IOException {
    Random rnd = new Random(3);
    DeltaHeader header = new DeltaHeader(UUID.randomUUID(), 64L * BLOCK, BLOCK, 0, 1, true);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    DeltaWriter w = new DeltaWriter(bytes, header);
    RecordCodec codec = new RecordCodec();
    long offset = 0;
    for (int i = 0; i < 12; i++) {
      int length = BLOCK * (1 + rnd.nextInt(4));
      byte[] data = new byte[length];
      switch (i % 3) {
        case 0 -> rnd.nextBytes(data); // raw
        case 1 -> Arrays.fill(data, 0, length / 2, (byte) 7); // compresses
        default -> {} // zeros
      }
      w.write(i % 3 == 2 ? codec.zero(offset, length) : codec.encode(offset, data, length));
      offset += length;
      recordEnds.add((long) bytes.size());
    }
    w.finish();
    return bytes.toByteArray();
  }

  @Test
  void aCutDeltaKeepsItsCompleteRecordsOnly() throws IOException {
    List<Long> ends = new ArrayList<>();
    byte[] whole = delta(ends);
    Path file = tmp.resolve("d");
    Random rnd = new Random(5);
    for (int n = 0; n < 200; n++) {
      int cut = n == 0 ? whole.length : DeltaHeader.BYTES + rnd.nextInt(whole.length - 75);
      Files.write(file, Arrays.copyOf(whole, cut));
      DeltaPrefix.Prefix p = DeltaPrefix.scan(file);
      long complete = ends.stream().filter(e -> e <= cut).count();
      assertThat(p.records()).as("cut at %d", cut).hasSize((int) complete);
      long at = DeltaHeader.BYTES;
      for (DeltaPrefix.Record r : p.records()) { // back to back, each ending within the cut
        assertThat(r.fileOffset()).isEqualTo(at);
        at += r.fileBytes();
        assertThat(at).isLessThanOrEqualTo(cut);
      }
    }
  }

  @Test
  void aDamagedRecordRefusesTheWholeFile() throws IOException {
    List<Long> ends = new ArrayList<>();
    byte[] whole = delta(ends);
    whole[(int) (ends.get(3) - 10)] ^= 1; // inside record 3's payload
    Path file = tmp.resolve("d");
    Files.write(file, whole);
    assertThatThrownBy(() -> DeltaPrefix.scan(file)).isInstanceOf(CorruptDeltaException.class);
  }
}
