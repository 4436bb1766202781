package io.cbtfs.tracker.crashsim;

import io.cbtfs.tracker.StateIo;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An in-memory file system with the page cache's failure semantics, recording a snapshot of its
 * durable and pending state before every operation. Data writes stay pending until the file is
 * fsynced; names (create, rename, remove) stay pending until the directory is fsynced and then
 * reach the disk as a prefix, in order, as a journaling file system commits them. {@link
 * CrashStates} builds every state a crash may leave from a snapshot.
 */
final class SimulatedDisk implements StateIo {
  /** One data write: {@code replace} truncates the file first (a create or rewrite). */
  record Write(boolean replace, long position, byte[] bytes) {}

  /** A name change: {@code target} gets the inode of {@code source} (null: a remove). */
  record NameOp(String source, String target, Integer newInode) {}

  static final class Inode {
    byte[] durable = new byte[0];
    byte[] current = new byte[0];
    List<Write> pending = new ArrayList<>();

    Inode copy() {
      Inode c = new Inode();
      c.durable = durable;
      c.current = current;
      c.pending = new ArrayList<>(pending);
      return c;
    }
  }

  /** Everything a crash state is built from, at one moment. */
  record Snapshot(
      Map<String, Integer> durableNames,
      List<NameOp> pendingNames,
      Map<Integer, Inode> inodes,
      int eventCount) {}

  private final Map<Integer, Inode> inodes = new HashMap<>();
  private final Map<String, Integer> names = new LinkedHashMap<>();
  private Map<String, Integer> durableNames = new LinkedHashMap<>();
  private final List<NameOp> pendingNames = new ArrayList<>();
  private final List<Snapshot> snapshots = new ArrayList<>();
  private final List<Object> events = new ArrayList<>();
  private int nextInode = 1;

  /** A workload event (an image write that may now reach the disk, a commit) at this moment. */
  synchronized void event(Object e) {
    events.add(e);
  }

  synchronized List<Object> events() {
    return List.copyOf(events);
  }

  synchronized List<Snapshot> snapshots() {
    snapshot();
    return List.copyOf(snapshots);
  }

  private void snapshot() {
    Map<Integer, Inode> copy = new HashMap<>();
    inodes.forEach((k, v) -> copy.put(k, v.copy()));
    snapshots.add(
        new Snapshot(
            new LinkedHashMap<>(durableNames), new ArrayList<>(pendingNames), copy, events.size()));
  }

  private static String key(Path file) {
    return file.toString();
  }

  private Inode inode(Path file) throws NoSuchFileException {
    Integer id = names.get(key(file));
    if (id == null) {
      throw new NoSuchFileException(file.toString());
    }
    return inodes.get(id);
  }

  @Override
  public synchronized byte[] read(Path file) throws IOException {
    return inode(file).current.clone();
  }

  @Override
  public synchronized boolean exists(Path file) {
    return names.containsKey(key(file));
  }

  @Override
  public synchronized void write(Path file, byte[] bytes) throws IOException {
    snapshot();
    Integer id = names.get(key(file));
    if (id == null) {
      id = nextInode++;
      inodes.put(id, new Inode());
      names.put(key(file), id);
      pendingNames.add(new NameOp(null, key(file), id));
    }
    Inode n = inodes.get(id);
    n.pending.add(new Write(true, 0, bytes.clone()));
    n.current = bytes.clone();
  }

  @Override
  public synchronized void writeAt(Path file, long position, byte[] bytes) throws IOException {
    snapshot();
    Inode n = inode(file);
    n.pending.add(new Write(false, position, bytes.clone()));
    n.current = apply(n.current, new Write(false, position, bytes));
  }

  static byte[] apply(byte[] content, Write w) {
    if (w.replace()) {
      return w.bytes().clone();
    }
    int end = (int) w.position() + w.bytes().length;
    byte[] out = content.length >= end ? content.clone() : Arrays.copyOf(content, end);
    System.arraycopy(w.bytes(), 0, out, (int) w.position(), w.bytes().length);
    return out;
  }

  @Override
  public synchronized void fsync(Path file, boolean dataOnly) throws IOException {
    snapshot();
    Inode n = inode(file);
    n.durable = n.current;
    n.pending.clear();
  }

  @Override
  public synchronized void rename(Path from, Path to) throws IOException {
    snapshot();
    Integer id = names.remove(key(from));
    if (id == null) {
      throw new NoSuchFileException(from.toString());
    }
    names.put(key(to), id);
    pendingNames.add(new NameOp(key(from), key(to), id));
  }

  @Override
  public synchronized void delete(Path file) {
    snapshot();
    if (names.remove(key(file)) != null) {
      pendingNames.add(new NameOp(key(file), null, null));
    }
  }

  @Override
  public synchronized void fsyncDirectory(Path dir) {
    snapshot();
    durableNames = new LinkedHashMap<>(names);
    pendingNames.clear();
  }
}
