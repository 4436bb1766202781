package io.cbtfs.fs.mount;

import java.util.Locale;

/**
 * How a mount talks to the kernel's FUSE driver. {@link #KERNEL} speaks the protocol on /dev/fuse
 * itself (mount(2), root only): asynchronous direct I/O, 1 MiB requests, parallel writes to one
 * image. {@link #LIBFUSE2} goes through libfuse 2.9 with jnr-fuse: 128 KiB requests, one write per
 * image at a time, but it mounts as any user (fusermount). {@link #AUTO}: the kernel transport when
 * it can mount, else libfuse 2.
 */
public enum FuseTransport {
  AUTO,
  KERNEL,
  LIBFUSE2;

  /** The name the CLI and the status show: {@code kernel}, {@code libfuse2}, {@code auto}. */
  public String label() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * Parses a label; null or empty is {@link #AUTO}.
   *
   * @throws IllegalArgumentException for anything else
   */
  public static FuseTransport parse(String label) {
    if (label == null || label.isEmpty()) {
      return AUTO;
    }
    for (FuseTransport t : values()) {
      if (t.label().equals(label.toLowerCase(Locale.ROOT))) {
        return t;
      }
    }
    throw new IllegalArgumentException(
        "unknown FUSE transport '" + label + "' (kernel, libfuse2 or auto)");
  }
}
