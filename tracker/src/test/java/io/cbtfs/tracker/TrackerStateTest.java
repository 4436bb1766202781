package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;
import java.util.UUID;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.roaringbitmap.RoaringBitmap;

class TrackerStateTest {
  private static final BlockGeometry G = BlockGeometry.of(65536);

  private static TrackerState sample() {
    RoaringBitmap b = RoaringBitmap.bitmapOf(0, 5, 6, 7, 1_000_000);
    TreeMap<Long, DirtySet> sets = new TreeMap<>();
    sets.put(43L, DirtySet.of(G, RoaringBitmap.bitmapOf(9, 10)));
    sets.put(45L, DirtySet.of(G, RoaringBitmap.bitmapOf(11)));
    List<Cursor> cursors =
        List.of(
            new Cursor("file:/backup/vm1.img", 42, Instant.ofEpochMilli(1_700_000_000_123L)),
            new Cursor("s3://bucket/store/vm1 \t\n\u00e9", 43, Instant.ofEpochMilli(5)));
    return new TrackerState(
        UUID.randomUUID(),
        G,
        123_456_789L,
        true,
        new Fingerprint(123_456_789L, 11, 22, 33),
        DirtySet.of(G, b),
        new ChangeHistory.Saved(45, 42, 44, sets, cursors));
  }

  @Test
  void roundTrips() {
    TrackerState s = sample();
    TrackerState back = TrackerState.decode(s.encode(), "test");
    assertThat(back).isEqualTo(s);
    assertThat(back.fingerprint().inode()).isEqualTo(33);
    assertThat(back.history().cursors().get(1).target())
        .isEqualTo("s3://bucket/store/vm1 \t\n\u00e9");
  }

  /** A state file as version 2 (or, without the issued generation, 1) wrote it. */
  static byte[] legacy(int version, TrackerState s, long committed, long issued, int flags)
      throws IOException {
    RoaringBitmap bitmap = s.dirty().toBitmap();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    DataOutputStream out = new DataOutputStream(bytes);
    out.write(TrackerState.MAGIC);
    out.writeInt(version);
    out.writeInt(flags);
    out.writeInt(s.geometry().blockSize());
    out.writeInt(0);
    out.writeLong(s.imageSize());
    out.writeLong(committed);
    if (version == 2) {
      out.writeLong(issued);
    }
    out.writeLong(s.lineage().getMostSignificantBits());
    out.writeLong(s.lineage().getLeastSignificantBits());
    out.writeLong(s.fingerprint().size());
    out.writeLong(s.fingerprint().mtimeNanos());
    out.writeLong(s.fingerprint().ctimeNanos());
    out.writeLong(s.fingerprint().inode());
    out.writeInt(bitmap.serializedSizeInBytes());
    bitmap.serialize(out);
    CRC32C crc = new CRC32C();
    crc.update(bytes.toByteArray());
    out.writeInt((int) crc.getValue());
    return bytes.toByteArray();
  }

  @Test
  void readsVersionTwoAsAHistoryFromItsCommittedGeneration() throws IOException {
    TrackerState s = sample();
    TrackerState back = TrackerState.decode(legacy(2, s, 42, 45, 1 | 2), "v2");

    assertThat(back.history().horizon()).isEqualTo(42);
    assertThat(back.issuedGeneration()).isEqualTo(45);
    assertThat(back.history().verifyBelow()).as("verify-next-sync: every target").isEqualTo(46);
    assertThat(back.history().changedIn()).isEmpty();
    assertThat(back.history().cursors()).isEmpty();
    assertThat(back.verifyNextSync()).isTrue();
    assertThat(back.clean()).isTrue();
    assertThat(back.dirty().toBitmap()).isEqualTo(s.dirty().toBitmap());
    // a target at any generation v2 vouched for lacks exactly the saved dirty set
    ChangeHistory h = new ChangeHistory(G, back.history());
    for (long g = 42; g <= 45; g++) {
      assertThat(h.knows(g)).isTrue();
      assertThat(h.since(g).isEmpty()).isTrue();
    }
    assertThat(h.knows(41)).isFalse();
    assertThat(h.knows(46)).isFalse();
    // and it is written back as version 3
    assertThat(ByteBuffer.wrap(back.encode()).getInt(8)).isEqualTo(3);
    assertThat(TrackerState.decode(back.encode(), "v3")).isEqualTo(back);
  }

  @Test
  void readsVersionOneWithTheIssuedGenerationAsTheCommittedOne() throws IOException {
    TrackerState s = sample();
    TrackerState back = TrackerState.decode(legacy(1, s, 42, 42, 0), "v1");

    assertThat(back.history().horizon()).isEqualTo(42);
    assertThat(back.issuedGeneration()).isEqualTo(42);
    assertThat(back.verifyNextSync()).isFalse();
    assertThat(back.dirty().toBitmap()).isEqualTo(s.dirty().toBitmap());
    assertThat(back.fingerprint()).isEqualTo(s.fingerprint());
  }

  private static byte[] withCrc(byte[] file) {
    CRC32C crc = new CRC32C();
    crc.update(file, 0, file.length - 4);
    ByteBuffer.wrap(file).putInt(file.length - 4, (int) crc.getValue());
    return file;
  }

  @Test
  void refusesAnIssuedGenerationBelowTheHorizon() {
    byte[] file = sample().encode();
    ByteBuffer.wrap(file).putLong(40, 41); // issued 41, horizon 42
    assertThatThrownBy(() -> TrackerState.decode(withCrc(file), "bad"))
        .isInstanceOf(CorruptStateException.class)
        .hasMessageContaining("inconsistent");
  }

  @Test
  void refusesACursorAtAGenerationNeverIssued() {
    TrackerState s = sample();
    byte[] file = s.encode();
    // the last cursor's generation sits 16 bytes before the CRC
    ByteBuffer.wrap(file).putLong(file.length - 4 - 16, 46);
    assertThatThrownBy(() -> TrackerState.decode(withCrc(file), "bad"))
        .isInstanceOf(CorruptStateException.class)
        .hasMessageContaining("inconsistent cursors");
  }

  @Test
  void everyTruncationIsRejected() {
    byte[] file = sample().encode();
    for (int len = 0; len < file.length; len++) {
      byte[] cut = Arrays.copyOf(file, len);
      assertThatThrownBy(() -> TrackerState.decode(cut, "cut"))
          .as("truncated to %d bytes", len)
          .isInstanceOf(CorruptStateException.class)
          .hasMessageContaining("--reset-tracking");
    }
  }

  @Test
  void everyTruncationWithAFixedChecksumIsRejected() {
    byte[] file = sample().encode();
    for (int len = 4; len < file.length; len++) {
      byte[] cut = withCrc(Arrays.copyOf(file, len));
      assertThatThrownBy(() -> TrackerState.decode(cut, "cut"))
          .as("truncated to %d bytes", len)
          .isInstanceOf(CorruptStateException.class);
    }
  }

  @Test
  void everyFlippedByteIsRejected() {
    byte[] file = sample().encode();
    for (int i = 0; i < file.length; i++) {
      byte[] bad = file.clone();
      bad[i] ^= 0x5a;
      assertThatThrownBy(() -> TrackerState.decode(bad, "flip"))
          .as("byte %d flipped", i)
          .isInstanceOf(CorruptStateException.class);
    }
  }

  @Test
  void aNamedStateRoundTripsAndBelongsToItsNameOnly() {
    TrackerState s = sample();
    String name = "é".repeat(127) + "x"; // 255 bytes of UTF-8
    byte[] file = s.encode(name);
    assertThat(TrackerState.decode(file, "named", name)).isEqualTo(s);
    assertThat(TrackerState.storedName(file, "named")).isEqualTo(name);
    assertThat(TrackerState.storedName(s.encode(), "plain")).isNull();
    assertThatThrownBy(() -> TrackerState.decode(file, "named", name + "y"))
        .isInstanceOf(CorruptStateException.class)
        .hasMessageContaining("another image name");
    for (int len = 0; len < file.length; len++) {
      byte[] cut = Arrays.copyOf(file, len);
      assertThatThrownBy(() -> TrackerState.decode(cut, "cut", name))
          .as("truncated to %d bytes", len)
          .isInstanceOf(CorruptStateException.class);
    }
  }
}
