package io.cbtfs.tracker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentSkipListSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pull backup's drain ({@link TrackedImage#beginBackup}): its cursor's basis as a sync's, every
 * block protected whatever the cursor lacks, no read clearing a protection, one drain at a time,
 * and a commit that moves the cursor while an abort leaves it.
 */
class TrackedImageBackupTest {
  private static final BlockGeometry G = BlockGeometry.of(4096);
  private static final long IMAGE = 1L << 20; // 256 blocks

  @TempDir Path dir;

  /** Records the blocks copied aside. */
  private static final class Saves implements BlockSaver {
    final Set<Long> saved = new ConcurrentSkipListSet<>();

    @Override
    public long imageBytesAtDrain() {

      return -1;
    }

    @Override
    public void protecting(long blockCount) {}

    @Override
    public void save(long blockIndex) {
      saved.add(blockIndex);
    }
  }

  private static void write(TrackedImage img, long block) throws IOException {
    img.beforeWrite(block * G.blockSize(), G.blockSize());
    img.afterWrite(block * G.blockSize(), G.blockSize());
  }

  private static Set<Long> blocks(DirtySet s) {
    Set<Long> out = new TreeSet<>();
    s.forEachBlock(b -> out.add((long) b));
    return out;
  }

  private static long cursor(TrackedImage img, String name) {
    return img.targets().stream()
        .map(TrackedImage.TargetLag::cursor)
        .filter(c -> c.target().equals(name))
        .mapToLong(Cursor::generation)
        .findFirst()
        .orElse(-1);
  }

  @Test
  void everyBlockIsProtectedTheCursorLacksItsOwnAndCommitMovesIt() throws IOException {
    try (TrackerStore store = TrackerStore.open(dir, TrackingOptions.defaults(G))) {
      TrackedImage img = store.image("vm.img", Fingerprint.sizeOnly(IMAGE));
      write(img, 7);
      Saves first = new Saves();
      Drain d1 = img.beginBackup("nbd:a", new CopyBeforeWrite(first, 1));
      assertThat(d1.isBackup()).isTrue();
      assertThat(d1.basis()).isEqualTo(Drain.Basis.EMPTY);
      assertThat(d1.lacking(IMAGE).blockCount()).as("a new cursor: every block").isEqualTo(256);
      img.commit(d1, IMAGE);
      assertThat(cursor(img, "nbd:a")).isEqualTo(d1.generation());

      write(img, 9);
      write(img, 10);
      Saves second = new Saves();
      Drain d2 = img.beginBackup("nbd:a", new CopyBeforeWrite(second, 1));
      assertThat(d2.basis()).isEqualTo(Drain.Basis.HISTORY);
      assertThat(blocks(d2.lacking(IMAGE))).containsExactly(9L, 10L);
      write(img, 200); // not lacked, yet the consumer may read it: copied
      write(img, 9);
      write(img, 200); // once per block: no read ever clears a backup's protection
      assertThat(second.saved).containsExactly(9L, 200L);
      assertThat(d2.toRead().copied(200)).isTrue();

      assertThatThrownBy(() -> img.beginSync("file:/r.img", -1))
          .isInstanceOf(CbtfsException.class)
          .hasMessage(
              "a pull backup of this image is open (cursor nbd:a): one drain at a time, end it"
                  + " first");
      d2.close(); // abort: the cursor stays and still lacks them
      assertThat(cursor(img, "nbd:a")).isEqualTo(d1.generation());
      Drain d3 = img.beginBackup("nbd:a", null);
      assertThat(blocks(d3.lacking(IMAGE))).containsExactly(9L, 10L, 200L);
      d3.close();
    }
  }
}
