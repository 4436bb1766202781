package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.roaringbitmap.RoaringBitmap;

class TrackerStateTest {
  private static TrackerState sample() {
    BlockGeometry g = BlockGeometry.of(65536);
    RoaringBitmap b = RoaringBitmap.bitmapOf(0, 5, 6, 7, 1_000_000);
    return new TrackerState(
        UUID.randomUUID(),
        g,
        123_456_789L,
        42,
        45,
        true,
        true,
        new Fingerprint(123_456_789L, 11, 22, 33),
        DirtySet.of(g, b));
  }

  @Test
  void roundTrips() {
    TrackerState s = sample();
    TrackerState back = TrackerState.decode(s.encode(), "test");
    assertThat(back).isEqualTo(s);
    assertThat(back.fingerprint().inode()).isEqualTo(33);
  }

  @Test
  void readsVersionOneWithTheIssuedGenerationAsTheCommittedOne() {
    TrackerState s = sample();
    byte[] v2 = s.encode();
    // version 1 is version 2 without the issued generation (bytes 40..47)
    byte[] v1 = new byte[v2.length - 8];
    System.arraycopy(v2, 0, v1, 0, 40);
    System.arraycopy(v2, 48, v1, 40, v2.length - 48);
    java.nio.ByteBuffer.wrap(v1).putInt(8, 1);
    java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
    crc.update(v1, 0, v1.length - 4);
    java.nio.ByteBuffer.wrap(v1).putInt(v1.length - 4, (int) crc.getValue());

    TrackerState back = TrackerState.decode(v1, "v1");

    assertThat(back.committedGeneration()).isEqualTo(42);
    assertThat(back.issuedGeneration()).isEqualTo(42);
    assertThat(back.dirty().toBitmap()).isEqualTo(s.dirty().toBitmap());
    assertThat(back.fingerprint()).isEqualTo(s.fingerprint());
  }

  @Test
  void refusesAnIssuedGenerationBelowTheCommittedOne() {
    TrackerState s = sample();
    TrackerState bad =
        new TrackerState(
            s.lineage(),
            s.geometry(),
            s.imageSize(),
            42,
            41,
            s.clean(),
            s.verifyNextSync(),
            s.fingerprint(),
            s.dirty());
    assertThatThrownBy(() -> TrackerState.decode(bad.encode(), "bad"))
        .isInstanceOf(CorruptStateException.class)
        .hasMessageContaining("inconsistent");
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
