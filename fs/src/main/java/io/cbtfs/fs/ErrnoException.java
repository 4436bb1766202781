package io.cbtfs.fs;

import java.io.IOException;

/** A failed system call, with the errno the FUSE layer hands back to the kernel. */
public final class ErrnoException extends IOException {
  private static final long serialVersionUID = 1L;
  private final int errno;

  public ErrnoException(int errno, String message) {
    super(message);
    this.errno = errno;
  }

  public int errno() {
    return errno;
  }
}
