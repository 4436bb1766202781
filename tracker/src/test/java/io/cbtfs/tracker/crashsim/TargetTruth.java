package io.cbtfs.tracker.crashsim;

import java.util.Arrays;
import java.util.BitSet;

/**
 * The oracle of the crash checks: what each target of the workload holds, replayed from the
 * workload's events, independently of the tracker. For each target, the generation it holds (what
 * its {@code Target.state()} would report) and the blocks whose image write may have reached the
 * disk since the data it holds was read.
 */
final class TargetTruth {
  /** An image write whose intent is durable: from here its bytes may be on disk. */
  record ImageWrite(BitSet blocks) {}

  /**
   * The target durably holds {@code generation}: it received {@code sent} (the blocks of the drain,
   * as of the drain), or with {@code sent} null, the sync compared every block and the target now
   * equals the image. Recorded when the target has it, before the tracker commits (if it does).
   */
  record Holds(int target, long generation, BitSet sent) {}

  /** The target was emptied (removed, to be added again): it holds nothing. */
  record Wiped(int target) {}

  private final long[] held;
  private final BitSet[] changed;

  TargetTruth(int targets) {
    held = new long[targets];
    Arrays.fill(held, -1);
    changed = new BitSet[targets];
    Arrays.setAll(changed, t -> new BitSet());
  }

  void apply(Object event) {
    if (event instanceof ImageWrite w) {
      for (BitSet c : changed) {
        c.or(w.blocks());
      }
    } else if (event instanceof Holds h) {
      held[h.target()] = h.generation();
      if (h.sent() == null) {
        changed[h.target()].clear();
      } else {
        changed[h.target()].andNot(h.sent());
      }
    } else if (event instanceof Wiped w) {
      held[w.target()] = -1;
      changed[w.target()].clear();
    } else {
      throw new IllegalArgumentException("not an event: " + event);
    }
  }

  int targets() {
    return held.length;
  }

  /** The generation target {@code t} holds; -1 if it holds nothing. */
  long held(int t) {
    return held[t];
  }

  /** The blocks that may differ between the image on disk and target {@code t} (a copy). */
  BitSet changed(int t) {
    return (BitSet) changed[t].clone();
  }

  /** The blocks that may differ from some target. */
  BitSet changedForAny() {
    BitSet any = new BitSet();
    for (BitSet c : changed) {
      any.or(c);
    }
    return any;
  }
}
