package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrackerStoreTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);
  @TempDir Path dir;

  private Path state() {
    return dir.resolve("state");
  }

  @Test
  void cleanCloseKeepsTheDirtySetAndLineage() throws IOException {
    String lineage;
    try (TrackerStore store = TrackerStore.open(state(), G, false)) {
      TrackedImage img = store.image("a.img", 1 << 20);
      assertThat(img.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.NEW);
      img.afterWrite(8192, 1);
      lineage = img.lineage().toString();
      store.closeClean(Map.of("a.img", 1L << 20));
    }
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state())))
        .isEqualTo("rwx------");
    try (TrackerStore store = TrackerStore.open(state(), G, false)) {
      TrackedImage img = store.image("a.img", 1 << 20);
      assertThat(img.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.CLEAN);
      assertThat(img.lineage()).hasToString(lineage);
      assertThat(img.tracker().isDirty(2)).isTrue();
      assertThat(img.tracker().dirtyBlockCount()).isEqualTo(1);
    }
  }

  @Test
  void aStateInUseIsUncleanOnDiskSoACrashResendsEverything() throws IOException {
    TrackerStore store = TrackerStore.open(state(), G, false);
    TrackedImage img = store.image("a.img", 40960);
    img.afterWrite(0, 1);
    assertThat(TrackerStore.readState(state(), "a.img").orElseThrow().clean()).isFalse();
    store.close(); // a crash: no clean persist
    try (TrackerStore again = TrackerStore.open(state(), G, false)) {
      TrackedImage back = again.image("a.img", 40960);
      assertThat(back.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.UNCLEAN);
      assertThat(back.tracker().dirtyBlockCount()).isEqualTo(10);
    }
  }

  @Test
  void corruptStateRefusesUnlessReset() throws IOException {
    try (TrackerStore store = TrackerStore.open(state(), G, false)) {
      store.image("a.img", 8192);
      store.closeClean(Map.of("a.img", 8192L));
    }
    Path file = state().resolve("a.img.cbt");
    byte[] bytes = Files.readAllBytes(file);
    bytes[bytes.length / 2] ^= 1;
    Files.write(file, bytes);
    try (TrackerStore store = TrackerStore.open(state(), G, false)) {
      assertThatThrownBy(() -> store.image("a.img", 8192))
          .isInstanceOf(CorruptStateException.class)
          .hasMessageContaining("checksum");
    }
    assertThat(Files.readAllBytes(file)).as("refusal changes nothing").isEqualTo(bytes);
    try (TrackerStore store = TrackerStore.open(state(), G, true)) {
      TrackedImage img = store.image("a.img", 8192);
      assertThat(img.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.RESET);
      assertThat(img.tracker().dirtyBlockCount()).isEqualTo(2);
    }
  }

  @Test
  void oneMountPerStateDirectory() throws IOException {
    try (TrackerStore store = TrackerStore.open(state(), G, false)) {
      assertThatThrownBy(() -> TrackerStore.open(state(), G, false))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("in use");
    }
    TrackerStore.open(state(), G, false).close();
  }

  @Test
  void renameAndRemoveFollowTheImage() throws IOException {
    try (TrackerStore store = TrackerStore.open(state(), G, false)) {
      store.image("a.img", 4096).afterWrite(0, 1);
      store.rename("a.img", "b.img");
      assertThat(store.loaded("a.img")).isEmpty();
      assertThat(store.loaded("b.img")).isPresent();
      assertThat(TrackerStore.trackedNames(state())).containsExactly("b.img");
      store.remove("b.img");
      assertThat(TrackerStore.trackedNames(state())).isEmpty();
    }
  }

  @Test
  void theBlockSizeOfAnImageIsKeptAcrossMounts() throws IOException {
    try (TrackerStore store = TrackerStore.open(state(), G, false)) {
      store.image("a.img", 4096);
      store.closeClean(Map.of("a.img", 4096L));
    }
    try (TrackerStore store = TrackerStore.open(state(), BlockGeometry.of(1 << 20), false)) {
      assertThat(store.image("a.img", 4096).tracker().geometry()).isEqualTo(G);
    }
  }
}
