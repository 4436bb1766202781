package io.cbtfs.syncer.local;

import static io.cbtfs.syncer.Allocation.allocatedBytes;
import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.syncer.NativeFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A zero record reads as zeros in every case, and takes no space where the file system allows. */
class RecordWritesTest {
  private static final int MIB = 1 << 20;
  @TempDir Path dir;

  private Path denseFile(int bytes) throws IOException {
    byte[] data = new byte[bytes];
    new Random(1).nextBytes(data);
    Path f = dir.resolve("dense.img");
    Files.write(f, data);
    return f;
  }

  private static FileChannel open(Path f) throws IOException {
    return FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE);
  }

  private static void assertZeros(Path f, long from, long to) throws IOException {
    byte[] all = Files.readAllBytes(f);
    for (long at = from; at < to; at++) {
      if (all[(int) at] != 0) {
        throw new AssertionError("byte " + at + " of " + f + " is not zero");
      }
    }
  }

  @Test
  void aZeroRecordInsideTheFilePunchesAHole() throws IOException {
    Path f = denseFile(8 * MIB);
    long before = allocatedBytes(f);
    try (FileChannel out = open(f);
        NativeFile holes = NativeFile.openForWriting(f)) {
      RecordWrites.zero(out, holes::punchHole, MIB + 100, 4 * MIB); // edges not block-aligned
    }
    assertThat(Files.size(f)).isEqualTo(8 * MIB);
    assertZeros(f, MIB + 100, 5 * MIB + 100);
    byte[] all = Files.readAllBytes(f);
    assertThat(all[MIB + 99]).as("the byte before is kept").isNotZero();
    assertThat(allocatedBytes(f)).isLessThanOrEqualTo(before - 4 * MIB + 8192);
  }

  @Test
  void whereNoHoleCanBePunchedZerosAreWritten() throws IOException {
    Path f = denseFile(4 * MIB);
    try (FileChannel out = open(f)) {
      RecordWrites.zero(out, RecordWrites.NO_HOLES, 100, 3 * MIB);
    }
    assertZeros(f, 100, 3 * MIB + 100);
    assertThat(Files.readAllBytes(f)[99]).isNotZero();
    assertThat(Files.readAllBytes(f)[3 * MIB + 100]).isNotZero();
  }

  @Test
  void aDescriptorThatCannotPunchSaysSoAndTheRangeGetsZeros() throws IOException {
    Path f = denseFile(2 * MIB);
    Path missing = dir.resolve("not-there");
    try (FileChannel out = open(f);
        NativeFile nowhere = NativeFile.openForWriting(missing)) {
      assertThat(nowhere.punchHole(0, MIB)).isFalse();
      RecordWrites.zero(out, nowhere::punchHole, 0, MIB);
    }
    assertZeros(f, 0, MIB);
  }

  @Test
  void aSymbolicLinkIsNeverOpenedToPunchThrough() throws IOException {
    Path f = denseFile(MIB);
    byte[] before = Files.readAllBytes(f);
    Path link = Files.createSymbolicLink(dir.resolve("link"), f);
    try (NativeFile holes = NativeFile.openForWriting(link)) {
      assertThat(holes.punchHole(0, MIB)).isFalse();
    }
    assertThat(Files.readAllBytes(f)).isEqualTo(before);
  }

  @Test
  void theZeroRangePastTheEndIsLeftToTheResize() throws IOException {
    Path f = denseFile(MIB);
    try (FileChannel out = open(f);
        NativeFile holes = NativeFile.openForWriting(f)) {
      RecordWrites.zero(out, holes::punchHole, 3 * MIB, MIB); // wholly past the end
      assertThat(out.size()).isEqualTo(MIB);
      RecordWrites.zero(out, holes::punchHole, MIB / 2, 2 * MIB); // across the end
      assertThat(out.size()).as("a zero record never extends the file").isEqualTo(MIB);
      RecordWrites.resize(out, 5 * MIB);
    }
    assertZeros(f, MIB / 2, 5 * MIB);
    assertThat(allocatedBytes(f)).isLessThanOrEqualTo(MIB / 2 + 8192);
  }

  @Test
  void dataRecordsAroundAHoleLandWhereTheyBelong() throws IOException {
    Path f = denseFile(3 * MIB);
    byte[] expected = Files.readAllBytes(f);
    byte[] data = new byte[4096];
    new Random(2).nextBytes(data);
    try (FileChannel out = open(f);
        NativeFile holes = NativeFile.openForWriting(f)) {
      RecordWrites.zero(out, holes::punchHole, 0, 2 * MIB);
      RecordWrites.writeFully(out, ByteBuffer.wrap(data), MIB);
    }
    Arrays.fill(expected, 0, 2 * MIB, (byte) 0);
    System.arraycopy(data, 0, expected, MIB, data.length);
    assertThat(Files.readAllBytes(f)).isEqualTo(expected);
  }
}
