package io.cbtfs.nbd;

import java.io.IOException;

/** A failed I/O of an export with the NBD error it is answered with. */
public final class ExportIoException extends IOException {
  private static final long serialVersionUID = 1L;

  /** {@code NBD_EPERM}: the image refuses changes (a stopping mount). */
  public static final int EPERM = Nbd.EPERM;

  /** {@code NBD_ENOSPC}: the backing file system is full. */
  public static final int ENOSPC = Nbd.ENOSPC;

  /** {@code NBD_ESHUTDOWN}: the export was withdrawn (a pull backup ended). */
  public static final int ESHUTDOWN = Nbd.ESHUTDOWN;

  private final int nbdError;

  public ExportIoException(int nbdError, String message, Throwable cause) {
    super(message, cause);
    this.nbdError = nbdError;
  }

  int nbdError() {
    return nbdError;
  }
}
