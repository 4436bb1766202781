package io.cbtfs.tracker.crashsim;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Every state a crash may leave from one {@link SimulatedDisk.Snapshot}, as the Linux page cache
 * over a journaling file system allows: names as durable plus any prefix of the pending name
 * operations; each file's data as durable plus any subset of its pending writes (in order), a write
 * larger than a 512-byte sector possibly torn into any subset of its sectors. When the combinations
 * exceed {@code maxStates}, a seeded sampler picks them.
 */
final class CrashStates {
  static final int SECTOR = 512;

  private CrashStates() {}

  /** A crash state: file name to content. */
  static List<Map<String, byte[]>> of(SimulatedDisk.Snapshot s, int maxStates, Random rnd) {
    List<Map<String, byte[]>> states = new ArrayList<>();
    int metaChoices = s.pendingNames().size() + 1;
    int dataWrites = 0;
    for (SimulatedDisk.Inode n : s.inodes().values()) {
      dataWrites += n.pending.size();
    }
    boolean exhaustive = dataWrites <= 6 && metaChoices * (1L << dataWrites) <= maxStates;
    if (exhaustive) {
      for (int m = 0; m < metaChoices; m++) {
        for (long mask = 0; mask < (1L << dataWrites); mask++) {
          states.add(build(s, m, mask, false, rnd));
        }
      }
      // plus torn variants of the all-writes case, sampled
      for (int t = 0; t < Math.min(4, maxStates - states.size()); t++) {
        states.add(build(s, metaChoices - 1, (1L << dataWrites) - 1, true, rnd));
      }
    } else {
      for (int i = 0; i < maxStates; i++) {
        long mask = dataWrites >= 63 ? rnd.nextLong() : rnd.nextLong() & ((1L << dataWrites) - 1);
        states.add(build(s, rnd.nextInt(metaChoices), mask, rnd.nextBoolean(), rnd));
      }
    }
    return states;
  }

  private static Map<String, byte[]> build(
      SimulatedDisk.Snapshot s, int metaPrefix, long mask, boolean tear, Random rnd) {
    Map<String, Integer> names = new LinkedHashMap<>(s.durableNames());
    for (int i = 0; i < metaPrefix; i++) {
      SimulatedDisk.NameOp op = s.pendingNames().get(i);
      Integer id = op.newInode() != null ? op.newInode() : null;
      if (op.source() != null) {
        Integer moved = names.remove(op.source());
        id = op.target() == null ? null : (moved != null ? moved : op.newInode());
      }
      if (op.target() != null && id != null) {
        names.put(op.target(), id);
      }
    }
    Map<Integer, byte[]> contents = new HashMap<>();
    int bit = 0;
    for (Map.Entry<Integer, SimulatedDisk.Inode> e : s.inodes().entrySet()) {
      byte[] content = e.getValue().durable;
      for (SimulatedDisk.Write w : e.getValue().pending) {
        if ((mask >>> (bit++ & 63) & 1) == 1) {
          content =
              tear && w.bytes().length > SECTOR
                  ? torn(content, w, rnd)
                  : SimulatedDisk.apply(content, w);
        }
      }
      contents.put(e.getKey(), content);
    }
    Map<String, byte[]> files = new HashMap<>();
    names.forEach((name, id) -> files.put(name, contents.getOrDefault(id, new byte[0])));
    return files;
  }

  /** Applies a random subset of the write's sectors (sector boundaries of the file). */
  private static byte[] torn(byte[] content, SimulatedDisk.Write w, Random rnd) {
    byte[] base = w.replace() ? new byte[0] : content;
    long start = w.position();
    long end = start + w.bytes().length;
    byte[] out = base;
    for (long sector = start / SECTOR * SECTOR; sector < end; sector += SECTOR) {
      if (rnd.nextBoolean()) {
        long from = Math.max(sector, start);
        long to = Math.min(sector + SECTOR, end);
        byte[] part =
            java.util.Arrays.copyOfRange(w.bytes(), (int) (from - start), (int) (to - start));
        out = SimulatedDisk.apply(out, new SimulatedDisk.Write(false, from, part));
      }
    }
    return out;
  }

  /** A read-only {@link io.cbtfs.tracker.StateIo} over one crash state, for recovery. */
  static io.cbtfs.tracker.StateIo reader(Map<String, byte[]> files) {
    return new io.cbtfs.tracker.StateIo() {
      @Override
      public byte[] read(Path file) throws java.nio.file.NoSuchFileException {
        byte[] b = files.get(file.toString());
        if (b == null) {
          throw new java.nio.file.NoSuchFileException(file.toString());
        }
        return b.clone();
      }

      @Override
      public boolean exists(Path file) {
        return files.containsKey(file.toString());
      }

      @Override
      public void write(Path file, byte[] bytes) {
        throw new UnsupportedOperationException();
      }

      @Override
      public void writeAt(Path file, long position, byte[] bytes) {
        throw new UnsupportedOperationException();
      }

      @Override
      public void fsync(Path file, boolean dataOnly) {
        throw new UnsupportedOperationException();
      }

      @Override
      public void rename(Path from, Path to) {
        throw new UnsupportedOperationException();
      }

      @Override
      public void delete(Path file) {
        throw new UnsupportedOperationException();
      }

      @Override
      public void fsyncDirectory(Path dir) {
        throw new UnsupportedOperationException();
      }
    };
  }
}
