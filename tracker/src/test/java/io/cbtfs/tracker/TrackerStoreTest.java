package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.roaringbitmap.RoaringBitmap;

class TrackerStoreTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);

  /** 64 KiB extents, at least 16 hot: small numbers keep the arithmetic visible. */
  private static final TrackingOptions OPTIONS = new TrackingOptions(G, 65536, 16, false);

  @TempDir Path dir;

  private Path state() {
    return dir.resolve("state");
  }

  static Fingerprint fp(long size) {
    return new Fingerprint(size, 1_000, 2_000, 42);
  }

  private static void write(TrackedImage img, long off, long len) throws IOException {
    img.beforeWrite(off, len);
    img.afterWrite(off, len);
  }

  @Test
  void cleanCloseKeepsTheDirtySetAndLineage() throws IOException {
    String lineage;
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      TrackedImage img = store.image("a.img", fp(1 << 20));
      assertThat(img.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.NEW);
      write(img, 8192, 1);
      lineage = img.lineage().toString();
      store.closeClean(Map.of("a.img", fp(1 << 20)));
    }
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state())))
        .isEqualTo("rwx------");
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      TrackedImage img = store.image("a.img", fp(1 << 20));
      assertThat(img.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.CLEAN);
      assertThat(img.lineage()).hasToString(lineage);
      assertThat(img.tracker().isDirty(2)).isTrue();
      assertThat(img.tracker().dirtyBlockCount()).isEqualTo(1);
    }
  }

  /**
   * An adopted image (a hydrated overlay of generation 12 with blocks 3 and 9 written) loads with
   * the backup's lineage, a cursor of the backup at 12 that lacks exactly those blocks, and nothing
   * that would make its first sync compare; adopting a name tracked already is refused.
   */
  @Test
  void anAdoptedImageLacksOnlyWhatWasWrittenOverItsGeneration() throws IOException {
    long size = 1 << 20;
    UUID lineage = UUID.randomUUID();
    DirtySet written = DirtySet.of(G, RoaringBitmap.bitmapOf(3, 9));
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      store.adopt("a.img", lineage, 12, "archive:/backup", written, fp(size), false);
      assertThatThrownBy(
              () -> store.adopt("a.img", lineage, 12, "archive:/b", written, fp(size), false))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("tracked in");
    }
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      TrackedImage img = store.image("a.img", fp(size));
      assertThat(img.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.CLEAN);
      assertThat(img.lineage()).isEqualTo(lineage);
      assertThat(img.verifyNextSync()).isFalse();
      assertThat(img.lacks("archive:/backup").orElseThrow().toBitmap())
          .isEqualTo(RoaringBitmap.bitmapOf(3, 9));
      assertThat(img.targets()).extracting(t -> t.cursor().generation()).containsExactly(12L);
    }
  }

  /**
   * An image adopted without a map that vouches for its written blocks: its first sync to the
   * backup compares every block (the cursor at 12 is below the verify mark), and says so; a
   * fingerprint saved again after adopt renamed the file is what the next mount checks.
   */
  @Test
  void anAdoptedImageToVerifyComparesAtItsFirstSyncAndKeepsAFingerprintSavedAgain()
      throws IOException {
    long size = 1 << 20;
    DirtySet written = DirtySet.of(G, RoaringBitmap.bitmapOf(3));
    Fingerprint moved = new Fingerprint(size, 1_000, 9_000, 42);
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      store.adopt("a.img", UUID.randomUUID(), 12, "archive:/backup", written, fp(size), true);
      store.refingerprint("a.img", moved);
      assertThatThrownBy(() -> store.refingerprint("b.img", moved))
          .isInstanceOf(CbtfsException.class);
    }
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      TrackedImage img = store.image("a.img", moved);
      assertThat(img.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.CLEAN);
      assertThat(img.verifyNextSync()).isTrue();
      assertThat(img.lacks("archive:/backup")).as("not known: compared").isEmpty();
      assertThat(img.dirtyBlocks().toBitmap()).isEqualTo(RoaringBitmap.bitmapOf(3));
    }
  }

  /**
   * A state directory of a version-2 mount: its one dirty set is what every target at a generation
   * from the committed to the issued one lacks (version 2 merged a failed sync's blocks back).
   * Loaded, it is saved as version 3 at once (before the image is served); a target at the
   * committed generation, or at one issued after it, is sent exactly the saved dirty set; one below
   * the committed generation is compared; one above the issued one too.
   */
  @Test
  void aVersionTwoStateMigratesToThree() throws IOException {
    long size = 1 << 20;
    DirtySet saved = DirtySet.of(G, RoaringBitmap.bitmapOf(3, 10, 11, 12));
    TrackerState v2 =
        new TrackerState(
            UUID.randomUUID(), G, size, true, fp(size), saved, ChangeHistory.Saved.of(5, 7, false));
    Files.createDirectories(state());
    Path file = state().resolve("a.img.cbt");
    Files.write(file, TrackerStateTest.legacy(2, v2, 5, 7, 1));
    assertThat(ByteBuffer.wrap(Files.readAllBytes(file)).getInt(8)).isEqualTo(2);

    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      TrackedImage img = store.image("a.img", fp(size));
      assertThat(img.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.CLEAN);
      assertThat(img.lineage()).isEqualTo(v2.lineage());
      assertThat(ByteBuffer.wrap(Files.readAllBytes(file)).getInt(8))
          .as("saved as version 3 at the first save")
          .isEqualTo(3);
      TrackerState v3 = StateFiles.readState(state(), "a.img").orElseThrow();
      assertThat(v3.history().horizon()).isEqualTo(5);
      assertThat(v3.issuedGeneration())
          .as("a load that syncs nothing changes nothing")
          .isEqualTo(7);
      assertThat(v3.history().issuedRanges())
          .as("6 and 7, issued by version 2")
          .containsEntry(6L, 7L);
      assertThat(v3.history().cursors()).isEmpty();
      assertThat(v3.dirty()).isEqualTo(saved);
      assertThat(img.verifyNextSync()).isFalse();

      for (long at : new long[] {5, 7}) { // syncs that fail: their set stays in the history
        try (Drain d = img.beginSync("file:/replica", at)) {
          assertThat(d.basis()).as("at %d", at).isEqualTo(Drain.Basis.HISTORY);
          assertThat(d.blocks()).as("at %d: exactly the saved dirty set", at).isEqualTo(saved);
        }
      }
      try (Drain d = img.beginSync("archive:/b", 4)) {
        assertThat(d.basis()).isEqualTo(Drain.Basis.BEHIND);
        assertThat(d.mustCompare()).isTrue();
        assertThat(d.why()).contains("generation 4 is older than the tracker's history (from 5)");
      }
      try (Drain d = img.beginSync("file:/replica", 5)) {
        assertThat(d.blocks()).isEqualTo(saved);
        img.commit(d, size);
      }
      assertThat(img.dirtyBlocks().isEmpty()).isTrue();
      store.closeClean(Map.of("a.img", fp(size)));
    }
    TrackerState after = StateFiles.readState(state(), "a.img").orElseThrow();
    assertThat(after.history().cursors())
        .singleElement()
        .satisfies(c -> assertThat(c.target()).isEqualTo("file:/replica"))
        .satisfies(c -> assertThat(c.generation()).isEqualTo(after.issuedGeneration()));
  }

  @Test
  void aCrashResendsTheHotExtentsNotTheWholeImage() throws IOException {
    long size = 64L << 20; // 16,384 blocks of 4 KiB
    TrackerStore store = TrackerStore.open(state(), OPTIONS);
    TrackedImage img = store.image("a.img", fp(size));
    write(img, 0, 1); // extent 0
    write(img, 10L << 20, 4096); // extent 160
    assertThat(StateFiles.readState(state(), "a.img").orElseThrow().clean()).isFalse();
    store.close(); // a crash: nothing saved at the end

    TrackerState saved = StateFiles.readState(state(), "a.img").orElseThrow();
    StateRecovery.Recovered offline = StateRecovery.recover(state(), "a.img", saved);
    assertThat(offline.dirty().blockCount()).isEqualTo(32);
    assertThat(offline.verifyNextSync()).as("both slots intact").isFalse();
    try (TrackerStore again = TrackerStore.open(state(), OPTIONS)) {
      TrackedImage back = again.image("a.img", fp(size));
      assertThat(back.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.UNCLEAN);
      assertThat(back.recovery().logExtents()).isEqualTo(2);
      DirtySet dirty = back.tracker().snapshot();
      assertThat(dirty.blockCount()).as("two extents of 16 blocks").isEqualTo(32);
      assertThat(dirty.contains(0)).isTrue();
      assertThat(dirty.contains(2560)).isTrue();
      assertThat(back.recovery().describe()).contains("2 activity-log extents");
    }
  }

  @Test
  void evictionSavesTheBitsBeforeAnExtentLeavesTheLog() throws IOException {
    TrackerStore store = TrackerStore.open(state(), OPTIONS);
    TrackedImage img = store.image("a.img", fp(64L << 20));
    for (int e = 0; e < 40; e++) { // 40 extents, 16 hot at most
      write(img, e * 65536L + 4096, 1);
    }
    assertThat(img.log().hotCount()).isLessThanOrEqualTo(16);
    store.close(); // crash
    try (TrackerStore again = TrackerStore.open(state(), OPTIONS)) {
      DirtySet dirty = again.image("a.img", fp(64L << 20)).tracker().snapshot();
      for (int e = 0; e < 40; e++) {
        assertThat(dirty.contains(e * 16L + 1)).as("block written in extent %d", e).isTrue();
      }
      assertThat(dirty.blockCount()).isLessThan(40 * 16);
    }
  }

  @Test
  void aChangeWhileNotMountedDemandsAVerifiedSync() throws IOException {
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      store.image("a.img", fp(40960));
      store.closeClean(Map.of("a.img", fp(40960)));
    }
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      TrackedImage img = store.image("a.img", new Fingerprint(40960, 1_001, 2_001, 42));
      assertThat(img.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.CHANGED_OUTSIDE);
      assertThat(img.verifyNextSync()).as("the next sync compares every block").isTrue();
    }
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      // not synced yet: the demand survives a remount (and a crash: it is saved at once)
      TrackedImage img = store.image("a.img", new Fingerprint(40960, 1_001, 2_001, 42));
      assertThat(img.verifyNextSync()).isTrue();
    }
  }

  /**
   * The case: a write into extent 0, then one into extent 40, a crash, one bit of the
   * newest slot flipped. The older slot names only extent 0, so the write into extent 40 is known
   * to no one: the next sync must compare, and say so, and the demand must survive a crash.
   */
  @Test
  void aDamagedSlotAfterAnUncleanStopDemandsAVerifiedSync() throws IOException {
    long size = 8L << 20;
    TrackerStore store = TrackerStore.open(state(), OPTIONS);
    TrackedImage img = store.image("a.img", fp(size));
    write(img, 0, 4096); // extent 0
    write(img, 40L * 65536, 4096); // extent 40: the newest slot
    store.close(); // a crash
    Path log = state().resolve("a.img.alog");
    byte[] bytes = Files.readAllBytes(log);
    UUID lineage = img.lineage();
    long newest = ActivityLog.read(bytes, lineage).orElseThrow().sequence();
    int slot = (int) (newest & 1) * (bytes.length / 2);
    bytes[slot + ActivityLog.SLOT_HEADER_BYTES + 8 + 3] ^= 0x10; // the hot list's second entry
    Files.write(log, bytes);

    TrackerState saved = StateFiles.readState(state(), "a.img").orElseThrow();
    StateRecovery.Recovered offline = StateRecovery.recover(state(), "a.img", saved);
    assertThat(offline.verifyNextSync()).as("what status shows offline").isTrue();
    assertThat(offline.dirty().contains(40 * 16)).as("the older slot lacks extent 40").isFalse();
    try (TrackerStore again = TrackerStore.open(state(), OPTIONS)) {
      TrackedImage back = again.image("a.img", fp(size));
      assertThat(back.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.UNCLEAN_DAMAGED_LOG);
      assertThat(back.recovery().describe()).contains("compares every block");
      assertThat(back.verifyNextSync()).isTrue();
      assertThat(back.tracker().isDirty(0)).as("the valid slot is still used").isTrue();
      assertThat(StateFiles.readState(state(), "a.img").orElseThrow().verifyNextSync())
          .as("saved before the damaged log is replaced")
          .isTrue();
    }
    try (TrackerStore again = TrackerStore.open(state(), OPTIONS)) {
      // a crash since: the log is new and whole, the demand is still there
      assertThat(again.image("a.img", fp(size)).verifyNextSync()).isTrue();
    }
  }

  @Test
  void corruptStateRefusesUnlessReset() throws IOException {
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      store.image("a.img", fp(8192));
      store.closeClean(Map.of("a.img", fp(8192)));
    }
    Path file = state().resolve("a.img.cbt");
    byte[] bytes = Files.readAllBytes(file);
    bytes[bytes.length / 2] ^= 1;
    Files.write(file, bytes);
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      assertThatThrownBy(() -> store.image("a.img", fp(8192)))
          .isInstanceOf(CorruptStateException.class)
          .hasMessageContaining("checksum");
    }
    assertThat(Files.readAllBytes(file)).as("refusal changes nothing").isEqualTo(bytes);
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS.withReset(true))) {
      TrackedImage img = store.image("a.img", fp(8192));
      assertThat(img.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.RESET);
      assertThat(img.tracker().dirtyBlockCount()).isEqualTo(2);
    }
  }

  @Test
  void anUncleanStateWithoutItsLogIsCorrupt() throws IOException {
    TrackerStore store = TrackerStore.open(state(), OPTIONS);
    write(store.image("a.img", fp(8192)), 0, 1);
    store.close();
    Files.write(state().resolve("a.img.alog"), new byte[100]);
    try (TrackerStore again = TrackerStore.open(state(), OPTIONS)) {
      assertThatThrownBy(() -> again.image("a.img", fp(8192)))
          .isInstanceOf(CorruptStateException.class)
          .hasMessageContaining("activity log");
    }
  }

  @Test
  void oneMountPerStateDirectory() throws IOException {
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      assertThatThrownBy(() -> TrackerStore.open(state(), OPTIONS))
          .isInstanceOf(CbtfsException.class)
          .hasMessageContaining("in use");
    }
    TrackerStore.open(state(), OPTIONS).close();
  }

  @Test
  void renameAndRemoveFollowTheImage() throws IOException {
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      write(store.image("a.img", fp(4096)), 0, 1);
      store.rename("a.img", "b.img");
      assertThat(store.loaded("a.img")).isEmpty();
      assertThat(store.loaded("b.img")).isPresent();
      assertThat(StateFiles.trackedNames(state())).containsExactly("b.img");
      assertThat(Files.exists(state().resolve("b.img.alog"))).isTrue();
      write(store.loaded("b.img").orElseThrow(), 1 << 20, 1); // evicts nothing, logs b's extent
      store.remove("b.img");
      assertThat(StateFiles.trackedNames(state())).isEmpty();
      assertThat(Files.exists(state().resolve("b.img.alog"))).isFalse();
    }
  }

  @Test
  void theBlockSizeOfAnImageIsKeptAcrossMounts() throws IOException {
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      store.image("a.img", fp(4096));
      store.closeClean(Map.of("a.img", fp(4096)));
    }
    TrackingOptions big = TrackingOptions.defaults(BlockGeometry.of(1 << 20));
    try (TrackerStore store = TrackerStore.open(state(), big)) {
      assertThat(store.image("a.img", fp(4096)).tracker().geometry()).isEqualTo(G);
    }
  }

  @Test
  void bulkRangesAreSavedBeforeTheOperation() throws IOException {
    TrackerStore store = TrackerStore.open(state(), OPTIONS);
    TrackedImage img = store.image("a.img", fp(0));
    img.beforeWrite(0, 64L << 20); // a truncate up to 64 MiB: 1024 extents
    TrackerState saved = StateFiles.readState(state(), "a.img").orElseThrow();
    assertThat(saved.dirty().blockCount()).isEqualTo(16384);
    // a sync drains and commits the range before the operation has run: the saved state keeps it
    try (Drain d = img.beginSync("file:/target", -1)) {
      img.commit(d, Long.MAX_VALUE);
    }
    assertThat(StateFiles.readState(state(), "a.img").orElseThrow().dirty().blockCount())
        .as("pinned until the operation is done")
        .isEqualTo(16384);
    img.afterWrite(0, 64L << 20);
    assertThat(img.log().hotCount()).isZero();
    img.save();
    assertThat(StateFiles.readState(state(), "a.img").orElseThrow().dirty().blockCount())
        .as("marked again after it ran")
        .isEqualTo(16384);
    store.close();
  }

  /** Every name a file may have (255 bytes) is tracked: its state files fit whatever its length. */
  @Test
  void namesUpTo255BytesAreTrackedAcrossMountsAndRenames() throws IOException {
    java.util.List<String> names = new java.util.ArrayList<>();
    for (int bytes = 240; bytes <= 255; bytes++) {
      names.add("n".repeat(bytes - 4) + ".img");
    }
    names.add("é".repeat(127) + "x"); // 255 bytes of UTF-8, 128 characters
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      for (String name : names) {
        write(store.image(name, fp(1 << 20)), 8192, 1);
      }
      store.closeClean(
          names.stream().collect(java.util.stream.Collectors.toMap(n -> n, n -> fp(1 << 20))));
    }
    assertThat(StateFiles.trackedNames(state())).containsExactlyInAnyOrderElementsOf(names);
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      for (String name : names) {
        TrackedImage img = store.image(name, fp(1 << 20));
        assertThat(img.recovery().kind()).as(name).isEqualTo(TrackedImage.Recovery.Kind.CLEAN);
        assertThat(img.tracker().isDirty(2)).as(name).isTrue();
      }
    }
    // names whose NAME.cbt.tmp fits keep the plain file names (and format) they always had
    String plain = "p".repeat(247);
    String hashed = "h".repeat(248);
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      store.image(plain, fp(4096));
      store.image(hashed, fp(4096));
      store.closeClean(Map.of(plain, fp(4096), hashed, fp(4096)));
    }
    assertThat(state().resolve(plain + ".cbt")).exists();
    assertThat(TrackerState.storedName(Files.readAllBytes(state().resolve(plain + ".cbt")), "p"))
        .as("a plain file holds no name")
        .isNull();
    assertThat(state().resolve(hashed + ".cbt")).doesNotExist();
  }

  @Test
  void renamesBetweenShortAndLongNamesKeepTheTracking() throws IOException {
    String longName = "l".repeat(250);
    String lineage;
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      TrackedImage img = store.image("a.img", fp(1 << 20));
      lineage = img.lineage().toString();
      write(img, 4096, 1);
      store.rename("a.img", longName); // loaded
      write(store.loaded(longName).orElseThrow(), 3 * 4096, 1);
      store.closeClean(Map.of(longName, fp(1 << 20)));
    }
    try (TrackerStore store = TrackerStore.open(state(), OPTIONS)) {
      store.rename(longName, "l".repeat(251)); // not loaded: the state file is rewritten
      store.rename("l".repeat(251), "b.img");
      TrackedImage img = store.image("b.img", fp(1 << 20));
      assertThat(img.recovery().kind()).isEqualTo(TrackedImage.Recovery.Kind.CLEAN);
      assertThat(img.lineage()).hasToString(lineage);
      assertThat(img.tracker().snapshot().blockCount()).isEqualTo(2);
    }
    assertThat(StateFiles.trackedNames(state())).containsExactly("b.img");
  }

  @Test
  void aMissingStateDirectoryIsMade0700AndAnExistingOneKeepsItsMode() throws IOException {
    TrackerStore.open(state(), OPTIONS).close();
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state())))
        .isEqualTo("rwx------");
    Path mine = Files.createDirectory(dir.resolve("mine"));
    Files.setPosixFilePermissions(mine, PosixFilePermissions.fromString("rwxr-xr-x"));
    TrackerStore.open(mine, OPTIONS).close();
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(mine)))
        .as("not made by cbtfs: left as it was")
        .isEqualTo("rwxr-xr-x");
  }

  @Test
  void aSharedStateDirectoryIsRefusedAndLeftAsItWas() throws IOException {
    Path shared = Files.createDirectory(dir.resolve("shared"));
    Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
    assertThatThrownBy(() -> TrackerStore.open(shared, OPTIONS))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("writable by other users");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(shared)))
        .isEqualTo("rwxrwxrwx");
    try (var entries = Files.list(shared)) {
      assertThat(entries).as("nothing made in it").isEmpty();
    }
  }

  @Test
  void aStateDirectoryOfAnotherUserIsRefused() throws IOException {
    Path theirs = Files.createDirectory(dir.resolve("theirs"));
    try {
      Files.setAttribute(theirs, "unix:uid", 65534);
    } catch (IOException e) {
      org.junit.jupiter.api.Assumptions.abort("cannot give a folder away here: " + e);
    }
    assertThatThrownBy(() -> TrackerStore.open(theirs, OPTIONS))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("belongs to another user");
    try (var entries = Files.list(theirs)) {
      assertThat(entries).isEmpty();
    }
  }

  @Test
  void aStateDirectoryIsMadeOnlyInAFolderThatExists() {
    Path deep = dir.resolve("missing/state");
    assertThatThrownBy(() -> TrackerStore.open(deep, OPTIONS))
        .isInstanceOf(CbtfsException.class)
        .hasMessageContaining("does not exist");
    assertThat(dir.resolve("missing")).doesNotExist();
  }
}
