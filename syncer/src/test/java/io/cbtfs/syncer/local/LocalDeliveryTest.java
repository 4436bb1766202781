package io.cbtfs.syncer.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.syncer.CorruptDeltaException;
import io.cbtfs.syncer.DeltaHeader;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The landing state machine on its own, with a recording target: staged, verified and durable,
 * installed (the commit point), applied, settled; the sync lock released once it ends.
 */
class LocalDeliveryTest {
  private static final UUID LINEAGE = UUID.randomUUID();
  private static final int SIZE = 1 << 20;
  private static final DeltaHeader NEXT = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 2, false);
  private static final DeltaHeader FULL = new DeltaHeader(LINEAGE, SIZE, 65536, 0, 1, true);

  @TempDir Path dir;
  private final List<String> steps = new ArrayList<>();
  private final Closeable syncLock = () -> steps.add("unlock");

  /** A target that records each step; {@code failAt} throws at that step. */
  private LocalDelivery.Install target(String failAt) {
    return (verified, header) -> {
      steps.add("install " + header.generation() + " " + Files.readAllBytes(verified).length);
      if (failAt.equals("install")) {
        throw new IOException("install failed");
      }
      return new LocalDelivery.Committed() {
        @Override
        public void apply() throws IOException {
          steps.add("apply");
          if (failAt.equals("apply")) {
            throw new IOException("disk full");
          }
          if (failAt.equals("apply-error")) {
            throw new OutOfMemoryError("Direct buffer memory");
          }
        }

        @Override
        public String leave(Exception e) {
          steps.add("leave");
          return "left: " + e.getMessage();
        }

        @Override
        public void settle() {
          steps.add("settle");
        }
      };
    };
  }

  private static byte[] delta(DeltaHeader h, long seed) throws IOException {
    byte[] data = new byte[300_000]; // larger than a staging buffer
    new Random(seed).nextBytes(data);
    return ReplicaTargetTest.delta(h, 65536, data);
  }

  @Test
  void aVerifiedDeltaIsInstalledAppliedAndSettledThenTheSyncLockGoes() throws IOException {
    byte[] bytes = delta(NEXT, 1);
    Path staging = dir.resolve("staging");
    try (LocalDelivery d =
        new LocalDelivery(StagingFile.ofDelta(staging), NEXT, target(""), syncLock)) {
      d.stream().write(bytes);
      assertThat(d.commit()).isEqualTo(2);
      assertThat(d.warning()).isEmpty();
    }
    assertThat(steps).containsExactly("install 2 " + bytes.length, "apply", "settle", "unlock");
    assertThat(staging).as("the target owns the committed file").exists();
  }

  @Test
  void aFailedApplyIsReportedNotThrownAndNothingSettles() throws IOException {
    byte[] bytes = delta(NEXT, 2);
    try (LocalDelivery d =
        new LocalDelivery(StagingFile.ofDelta(dir.resolve("s")), NEXT, target("apply"), syncLock)) {
      d.stream().write(bytes);
      assertThat(d.commit()).isEqualTo(2);
      assertThat(d.warning()).isEqualTo("left: disk full");
    }
    assertThat(steps).containsExactly("install 2 " + bytes.length, "apply", "leave", "unlock");
  }

  @Test
  void anErrorInTheApplyStillLetsGoOfBothLocks() throws IOException {
    byte[] bytes = delta(NEXT, 5);
    try (LocalDelivery d =
        new LocalDelivery(
            StagingFile.ofDelta(dir.resolve("s")), NEXT, target("apply-error"), syncLock)) {
      d.stream().write(bytes);
      assertThatThrownBy(d::commit).isInstanceOf(OutOfMemoryError.class);
    }
    assertThat(steps).containsExactly("install 2 " + bytes.length, "apply", "leave", "unlock");
  }

  @Test
  void aFailedInstallFailsTheCommitAndClosingDiscardsTheStagedDelta() throws IOException {
    Path staging = dir.resolve("s");
    try (LocalDelivery d =
        new LocalDelivery(StagingFile.ofDelta(staging), NEXT, target("install"), syncLock)) {
      d.stream().write(delta(NEXT, 3));
      assertThatThrownBy(d::commit).hasMessage("install failed");
      assertThat(steps).as("still held until the delivery is closed").doesNotContain("unlock");
    }
    assertThat(staging).doesNotExist();
    assertThat(steps).hasSize(2).last().isEqualTo("unlock");
  }

  @Test
  void aCorruptDeltaIsNeverInstalled() throws IOException {
    byte[] bad = delta(NEXT, 4);
    bad[bad.length / 2] ^= 1;
    Path staging = dir.resolve("s");
    try (LocalDelivery d =
        new LocalDelivery(StagingFile.ofDelta(staging), NEXT, target(""), syncLock)) {
      d.stream().write(bad);
      assertThatThrownBy(d::commit).isInstanceOf(CorruptDeltaException.class);
    }
    assertThat(steps).containsExactly("unlock");
    assertThat(staging).doesNotExist();
  }

  @Test
  void aDeltaOtherThanTheAnnouncedOneIsNeverInstalled() throws IOException {
    DeltaHeader other = new DeltaHeader(LINEAGE, SIZE, 65536, 1, 3, false);
    try (LocalDelivery d =
        new LocalDelivery(StagingFile.ofDelta(dir.resolve("s")), NEXT, target(""), syncLock)) {
      d.stream().write(delta(other, 5));
      assertThatThrownBy(d::commit).isInstanceOf(CorruptDeltaException.class);
    }
    assertThat(steps).containsExactly("unlock");
  }

  @Test
  void anImageStagedInPlaceIsWholeSizedAndDurableWhenInstalled() throws IOException {
    byte[] data = new byte[300_000];
    new Random(6).nextBytes(data);
    Path image = dir.resolve("new.img");
    byte[][] installed = new byte[1][];
    try (LocalDelivery d =
        new LocalDelivery(
            StagingFile.ofImage(image),
            FULL,
            (verified, h) -> {
              installed[0] = Files.readAllBytes(verified);
              return LocalDelivery.Committed.NOTHING;
            },
            syncLock)) {
      d.stream().write(ReplicaTargetTest.delta(FULL, 65536, data));
      assertThat(d.commit()).isEqualTo(1);
    }
    byte[] expected = new byte[SIZE];
    System.arraycopy(data, 0, expected, 65536, data.length);
    assertThat(installed[0]).isEqualTo(expected);
  }

  @Test
  void aDeliveryClosedWithoutCommitLeavesNothingAndEndsOnce() throws IOException {
    Path image = dir.resolve("new.img");
    LocalDelivery d = new LocalDelivery(StagingFile.ofImage(image), FULL, target(""), syncLock);
    byte[] bytes = ReplicaTargetTest.delta(FULL, 0, new byte[70_000]);
    d.stream().write(bytes, 0, bytes.length / 2);
    d.close();
    d.close();
    assertThat(image).doesNotExist();
    assertThat(steps).containsExactly("unlock");
    assertThatThrownBy(d::commit).isInstanceOf(IllegalStateException.class);
  }
}
