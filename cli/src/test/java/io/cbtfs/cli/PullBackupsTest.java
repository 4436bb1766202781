package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.cbtfs.fs.ImageFiles;
import io.cbtfs.nbd.NbdAddress;
import io.cbtfs.syncer.FleeceLimit;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.TrackedImage;
import io.cbtfs.tracker.TrackerStore;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pull backups of a mount, without FUSE or NBD sessions: what an operator reads at the end. */
class PullBackupsTest {
  private static final int BLOCK = 65536;

  @TempDir Path tmp;
  ImageFiles files;
  TrackerStore store;
  PullBackups backups;

  @BeforeEach
  void setUp() throws IOException {
    byte[] bytes = new byte[8 * BLOCK];
    new Random(3).nextBytes(bytes);
    Files.write(tmp.resolve("vm.img"), bytes);
    Path stateDir = tmp.resolve(".cbtfs");
    files = new ImageFiles(tmp, stateDir);
    store = TrackerStore.open(stateDir, TrackingOptions.defaults(BlockGeometry.of(BLOCK)));
    backups = new PullBackups(store, files, stateDir);
    backups.servedOn(List.of(NbdAddress.parse("unix:" + tmp.resolve("nbd.sock"))));
  }

  @AfterEach
  void tearDown() throws IOException {
    backups.close();
    store.close();
  }

  /** A write as the mount makes it: tracked around the backing write. */
  private void write(long offset) throws IOException {
    TrackedImage t = store.image("vm.img", () -> files.fingerprint("vm.img"));
    t.beforeWrite(offset, BLOCK);
    try (FileChannel ch = FileChannel.open(tmp.resolve("vm.img"), StandardOpenOption.WRITE)) {
      ch.write(ByteBuffer.allocate(BLOCK), offset);
    } finally {
      t.afterWrite(offset, BLOCK);
    }
  }

  /**
   * A backup whose fleece filled: its end says what broke in one line, without a sync's advice
   * ("the sync is abandoned", "sync with --no-snapshot": no sync ran, and a backup has no such
   * option).
   */
  @Test
  void theEndOfABrokenBackupSaysWhatBrokeWithoutASyncsAdvice() throws IOException {
    backups.begin("vm.img", "nightly", FleeceLimit.parse("64K")); // one block's old bytes
    write(2L * BLOCK); // copied
    write(5L * BLOCK); // no room: the view breaks, the write goes on
    assertThatThrownBy(() -> backups.end("vm.img", "nightly", false))
        .isInstanceOf(CbtfsException.class)
        .hasMessage(
            "the backup vm.img@nightly broke, nothing committed: the fleece is full: 64K of old"
                + " blocks (the next backup for this cursor lists these blocks again)");
    assertThat(backups.exportNames()).isEmpty();
  }
}
