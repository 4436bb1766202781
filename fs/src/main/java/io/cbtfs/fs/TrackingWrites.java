package io.cbtfs.fs;

import io.cbtfs.tracker.TrackedImage;
import java.io.IOException;
import jnr.ffi.Pointer;

/**
 * Every operation that changes an image's bytes or size, each in the order the tracking needs:
 * intent before the backing call ({@link TrackedImage#beforeWrite}), the dirty bit after it returns
 * ({@link TrackedImage#afterWrite}), even when it fails part way (marking more than changed is
 * safe; marking less is data loss on the replica). An Error (out of memory, a stack overflow) part
 * way may have cut that order short after the file changed: the image then asks for a verified next
 * sync ({@link TrackedImage#requireVerifiedSync}) instead of being trusted.
 */
public final class TrackingWrites {
  private final Posix posix;
  private final WriteTracking tracking;

  public TrackingWrites(Posix posix) {
    this(posix, WriteTracking.TRACKED);
  }

  public TrackingWrites(Posix posix, WriteTracking tracking) {
    this.posix = posix;
    this.tracking = tracking;
  }

  /**
   * Writes all {@code byteLength} bytes of {@code buf} at {@code byteOffset}; returns the count.
   */
  public int write(OpenImage file, Pointer buf, long byteLength, long byteOffset)
      throws IOException {
    TrackedImage image = file.image();
    try {
      tracking.beforeWrite(image, byteOffset, byteLength);
      try {
        posix.pwriteFully(file.fd(), buf, byteLength, byteOffset, file.imageName());
        image.countWrite(byteLength);
        return (int) byteLength;
      } finally {
        tracking.afterWrite(image, byteOffset, byteLength);
      }
    } catch (Error e) {
      throw untrusted(image, e);
    }
  }

  /** {@code image}'s dirty set may lack a change that {@code e} cut short: never trust it. */
  private static Error untrusted(TrackedImage image, Error e) {
    image.requireVerifiedSync();
    return e;
  }

  /** Sets the size of an open image; marks every byte between the old and new end. */
  public void truncate(int fd, String imageName, TrackedImage image, long newSize)
      throws IOException {
    truncate(fd, imageName, image, posix.fileSize(fd), newSize);
  }

  /** {@link #truncate(int, String, TrackedImage, long)} with the size already known. */
  public void truncate(int fd, String imageName, TrackedImage image, long oldSize, long newSize)
      throws IOException {
    long from = Math.min(oldSize, newSize);
    long length = Math.max(oldSize, newSize) - from;
    try {
      tracking.beforeWrite(image, from, length);
      try {
        posix.check(posix.libc().ftruncate(fd, newSize), "ftruncate", imageName);
      } finally {
        tracking.afterWrite(image, from, length);
      }
    } catch (Error e) {
      throw untrusted(image, e);
    }
    image.noteSize(newSize); // after afterWrite, which raises the known size to the range's end
  }

  /**
   * fallocate with any mode. Allocation, zeroing and punching a hole change bytes of the range (or
   * the size); collapse and insert shift everything after the offset, so the rest of the file is
   * marked too.
   */
  public void fallocate(OpenImage file, int mode, long byteOffset, long byteLength)
      throws IOException {
    TrackedImage image = file.image();
    boolean shifts = (mode & (Posix.FALLOC_FL_COLLAPSE_RANGE | Posix.FALLOC_FL_INSERT_RANGE)) != 0;
    long end = byteOffset + byteLength;
    if (shifts) { // only a shift needs the size (a discard, punching holes, must not pay an fstat)
      end = Math.max(posix.fileSize(file.fd()) + byteLength, end);
    }
    try {
      tracking.beforeWrite(image, byteOffset, end - byteOffset);
      try {
        posix.check(
            posix.libc().fallocate(file.fd(), mode, byteOffset, byteLength),
            "fallocate",
            file.imageName());
      } finally {
        tracking.afterWrite(image, byteOffset, end - byteOffset);
      }
    } catch (Error e) {
      throw untrusted(image, e);
    }
  }
}
