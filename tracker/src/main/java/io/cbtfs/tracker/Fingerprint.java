package io.cbtfs.tracker;

/**
 * What identifies the content of a backing file between two mounts without reading it: size,
 * modification and change times (nanoseconds) and inode. Saved at a clean unmount and compared at
 * the next mount; a difference means something wrote the image while it was not served, which the
 * dirty set cannot know about.
 */
public record Fingerprint(long size, long mtimeNanos, long ctimeNanos, long inode) {
  /** "Not recorded": never matches, never mismatches. */
  public static final Fingerprint UNKNOWN = new Fingerprint(-1, 0, 0, 0);

  /** Only the size is known (callers without a stat of the file): never contradicts. */
  public static Fingerprint sizeOnly(long size) {
    return new Fingerprint(size, 0, 0, 0);
  }

  /** A full fingerprint: a real file has an inode number above zero. */
  public boolean isKnown() {
    return size >= 0 && inode > 0;
  }

  /** Whether both are known and differ. */
  public boolean contradicts(Fingerprint other) {
    return isKnown() && other.isKnown() && !equals(other);
  }
}
