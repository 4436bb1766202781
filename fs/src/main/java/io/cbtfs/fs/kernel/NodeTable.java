package io.cbtfs.fs.kernel;

import java.util.HashMap;
import java.util.Map;

/**
 * The kernel's inodes of the mount: the root ({@value FuseAbi#ROOT_ID}) and one node per image name
 * the kernel looked up, with its lookup count. A node lives until the kernel forgets every lookup
 * (FORGET, BATCH_FORGET); a name that is unlinked or renamed over leaves its node detached (no
 * name: ENOENT), since open handles go on through their fh. Node ids are never reused, so the
 * generation is always 0.
 */
final class NodeTable {
  private static final class Node {
    final long id;
    String name; // null once detached
    long lookups;

    Node(long id, String name) {
      this.id = id;
      this.name = name;
    }
  }

  private final Map<Long, Node> byId = new HashMap<>();
  private final Map<String, Node> byName = new HashMap<>();
  private long nextId = FuseAbi.ROOT_ID + 1;

  /** The node of {@code name}, made if new, with one more lookup; returns its id. */
  synchronized long lookup(String name) {
    Node n = byName.get(name);
    if (n == null) {
      n = new Node(nextId++, name);
      byName.put(name, n);
      byId.put(n.id, n);
    }
    n.lookups++;
    return n.id;
  }

  /**
   * The image name of node {@code id}, or null for an unknown or detached node (and for the root,
   * which has none).
   */
  synchronized String name(long id) {
    Node n = byId.get(id);
    return n == null ? null : n.name;
  }

  /** The node id of {@code name} if the kernel knows it, else 0. */
  synchronized long idOf(String name) {
    Node n = byName.get(name);
    return n == null ? 0 : n.id;
  }

  /** The kernel dropped {@code count} lookups of node {@code id}; at zero the node goes. */
  synchronized void forget(long id, long count) {
    Node n = byId.get(id);
    if (n == null) {
      return;
    }
    n.lookups -= Math.min(count, n.lookups);
    if (n.lookups == 0) {
      byId.remove(id);
      if (n.name != null) {
        byName.remove(n.name);
      }
    }
  }

  /** {@code name} was unlinked: its node (if any) keeps its id but no longer has a name. */
  synchronized void detach(String name) {
    Node n = byName.remove(name);
    if (n != null) {
      n.name = null;
    }
  }

  /** {@code from} was renamed to {@code to}: a node of {@code to} is detached, then moved. */
  synchronized void rename(String from, String to) {
    if (from.equals(to)) {
      return;
    }
    detach(to);
    Node n = byName.remove(from);
    if (n != null) {
      n.name = to;
      byName.put(to, n);
    }
  }

  /** Nodes the kernel holds (the root not counted), for tests and the log. */
  synchronized int size() {
    return byId.size();
  }
}
