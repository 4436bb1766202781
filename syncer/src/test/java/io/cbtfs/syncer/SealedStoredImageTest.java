package io.cbtfs.syncer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.syncer.crypto.SealBrokenException;
import io.cbtfs.syncer.local.ArchiveTarget;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * {@link StoredImageTest}'s generations in an encrypted archive: read in place under the key they
 * equal their restores, a tampered sealed record fails exactly its range, and without the key (or
 * with another) nothing opens.
 */
class SealedStoredImageTest extends StoredImageTest {
  static final EncryptionKey KEY = EncryptionKey.generate();

  @Override
  EncryptionKey key() {
    return KEY;
  }

  @Override
  Class<? extends CbtfsException> damage() {
    return SealBrokenException.class;
  }

  /**
   * A sealed record's place is inside its seal, so indexing opens every record: one damaged before
   * the generation is opened fails the open (never a wrong byte), naming the delta and record.
   */
  @Override
  @Test
  void aDamagedRecordFailsTheReadsThatTouchItAndNoOthers() throws IOException {
    Path delta = tmp.resolve("archive").resolve("gen-00000002.cbtd");
    DeltaIndex.Entry hit;
    try (FileChannel ch = FileChannel.open(delta)) {
      hit = DeltaIndex.of(ch, delta.toString(), KEY).entries().get(0);
    }
    try (RandomAccessFile f = new RandomAccessFile(delta.toFile(), "rw")) {
      long at = hit.payloadAt() + hit.payloadLength() / 2;
      f.seek(at);
      int b = f.read();
      f.seek(at);
      f.write(b ^ 0x10);
    }
    assertThatThrownBy(() -> archive.open(2, new PieceCache(1 << 20)))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining(delta.toString())
        .hasMessageContaining("record 0");
    archive.open(1, new PieceCache(1 << 20)).close(); // generation 1 does not need that delta
  }

  /** A sealed record damaged after its generation was indexed fails the reads of its range only. */
  @Test
  void aSealedRecordDamagedAfterIndexingFailsExactlyItsRange() throws IOException {
    damagedRecordFailsExactlyItsRange(true);
  }

  @Test
  void theDeltasAreSealedSoTheirIndexIsTheSealedRecords() throws IOException {
    Path delta = tmp.resolve("archive").resolve("gen-00000002.cbtd");
    try (FileChannel ch = FileChannel.open(delta)) {
      DeltaIndex index = DeltaIndex.of(ch, delta.toString(), KEY);
      assertThat(index.header().sealed()).isTrue();
      assertThat(index.entries()).isNotEmpty().allMatch(e -> e.sealedIndex() >= 0);
    }
  }

  @Test
  void withoutTheKeyOrWithAnotherEveryGenerationIsRefusedBeforeAByteIsRead() throws IOException {
    ArchiveTarget keyless = new ArchiveTarget(tmp.resolve("archive"), null);
    ArchiveTarget other = new ArchiveTarget(tmp.resolve("archive"), EncryptionKey.generate());
    for (int gen = 1; gen <= 5; gen++) {
      long g = gen;
      assertThatThrownBy(() -> keyless.requireKeyFor(g))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("generation 1 ")
          .hasMessageContaining("give its key with --encrypt-key");
      assertThatThrownBy(() -> other.requireKeyFor(g))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("not with the given key");
      assertThatThrownBy(() -> keyless.open(g, new PieceCache(1 << 20)))
          .isInstanceOf(CorruptDeltaException.class)
          .hasMessageContaining("give its key with --encrypt-key");
      assertThatThrownBy(() -> other.open(g, new PieceCache(1 << 20)))
          .isInstanceOf(CorruptDeltaException.class)
          .hasMessageContaining("not with the given key");
      archive.requireKeyFor(g);
    }
  }
}
