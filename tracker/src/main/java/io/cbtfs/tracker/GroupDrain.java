package io.cbtfs.tracker;

import java.io.IOException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Starts the point-in-time syncs of several images at one instant (a consistency group: the disks
 * of one VM). Every image's {@link DrainGate} closes first, so from the last closing on no write to
 * any of them starts unheld; only then is each image's set taken and published, and its held writes
 * go on through it (copied before they land, so in none of the drains). A write acknowledged before
 * the last gate closed is in its image's drain; a write in flight then is in or out, as for one
 * image. No gate opens before every gate is closed: otherwise a write to one image, held and then
 * let through after that image's drain, could be followed by a write to another image that lands
 * before that one's gate closes, and the second image's replica would show a write the first one's
 * misses.
 *
 * <p>Each image then ships and commits its own drain, as a single sync does.
 *
 * <p>Locks: the images' monitors are all held from the first check to the last save, taken in the
 * group's order under one lock of all groups, so two groups cannot take them in opposite orders; a
 * single image's sync takes only its own. No gate is closed while a monitor is awaited.
 */
public final class GroupDrain {
  private static final Object GROUPS = new Object();

  /** One image of the group: its sync's target, what that holds, and its copy-before-write. */
  public record Member(
      TrackedImage image, String target, long targetGeneration, CopyBeforeWrite copyBeforeWrite) {
    public Member {
      if (copyBeforeWrite == null) {
        throw new IllegalArgumentException("a consistency group is point-in-time");
      }
    }
  }

  private GroupDrain() {}

  /**
   * Begins the sync of every member at one instant ({@link TrackedImage#beginSync} for each).
   *
   * @return their drains, in the members' order; each ends with its image's commit or its close
   * @throws CbtfsException naming the image, if one is synced already or twice in the group, or its
   *     target's generation is refused: no drain is taken
   * @throws IOException if a state cannot be saved: no sync starts (the taken blocks stay in each
   *     history, dirty for every target)
   */
  public static List<Drain> begin(List<Member> members) throws IOException {
    Map<TrackedImage, Boolean> seen = new IdentityHashMap<>();
    for (Member m : members) {
      if (seen.put(m.image(), Boolean.TRUE) != null) {
        throw new CbtfsException(m.image().name() + " is twice in the group");
      }
    }
    synchronized (GROUPS) {
      return holding(members, 0);
    }
  }

  /** Takes the monitor of member {@code from} and of every later one, then begins them all. */
  private static List<Drain> holding(List<Member> members, int from) throws IOException {
    if (from == members.size()) {
      return beginHeld(members);
    }
    synchronized (members.get(from).image()) {
      return holding(members, from + 1);
    }
  }

  private static List<Drain> beginHeld(List<Member> members) throws IOException {
    List<Drain.Basis> bases = new ArrayList<>();
    for (Member m : members) {
      try {
        bases.add(m.image().admit(m.target(), m.targetGeneration()));
      } catch (CbtfsException e) {
        throw new CbtfsException(m.image().name() + ": " + e.getMessage());
      }
    }
    List<DrainGate> gates = new ArrayList<>();
    for (Member m : members) {
      gates.add(m.image().closeGate()); // the group's instant: the last of these
    }
    List<Drain> drains = new ArrayList<>();
    boolean begun = false;
    try {
      for (int i = 0; i < members.size(); i++) {
        Member m = members.get(i);
        drains.add(
            m.image()
                .take(
                    m.target(),
                    m.targetGeneration(),
                    bases.get(i),
                    m.copyBeforeWrite(),
                    gates.get(i),
                    false));
      }
      for (int i = 0; i < members.size(); i++) {
        members.get(i).image().started(drains.get(i));
      }
      begun = true;
      return drains;
    } finally {
      for (int i = 0; i < members.size(); i++) {
        members.get(i).image().reopen(gates.get(i)); // its set never published: no sync
        if (!begun && i < drains.size()) {
          members.get(i).image().abandon(drains.get(i));
        }
      }
    }
  }
}
