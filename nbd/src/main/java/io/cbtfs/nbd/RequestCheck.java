package io.cbtfs.nbd;

/**
 * Whether a request may run on an export, as a pure function: the NBD error to answer, or 0. Every
 * request the parser can produce gets one of the two (the fuzz test's property).
 *
 * @param exportSize the export's size, fixed at the handshake
 * @param writable whether writes were offered
 * @param structured whether structured replies were negotiated
 * @param contexts how many meta contexts were selected
 */
record RequestCheck(long exportSize, boolean writable, boolean structured, int contexts) {
  /** The NBD error for {@code request}, or 0 if it may run. */
  int errorOf(Request request) {
    int allowedFlags =
        switch (request.type()) {
          case Nbd.CMD_READ, Nbd.CMD_FLUSH -> Nbd.CMD_FLAG_FUA; // clients are known to set FUA
          case Nbd.CMD_WRITE, Nbd.CMD_TRIM -> Nbd.CMD_FLAG_FUA;
          case Nbd.CMD_BLOCK_STATUS -> Nbd.CMD_FLAG_REQ_ONE | Nbd.CMD_FLAG_FUA;
          case Nbd.CMD_DISC -> 0;
          default -> -1;
        };
    if (allowedFlags < 0 || (request.flags() & ~allowedFlags) != 0) {
      return Nbd.EINVAL; // an unknown command or flag
    }
    switch (request.type()) {
      case Nbd.CMD_DISC:
        return 0;
      case Nbd.CMD_FLUSH:
        return writable ? 0 : Nbd.EINVAL; // offered only on a writable export
      case Nbd.CMD_WRITE:
      case Nbd.CMD_TRIM:
        if (!writable) {
          return Nbd.EPERM;
        }
        if (request.type() == Nbd.CMD_WRITE && request.length() > Nbd.MAX_PAYLOAD_BYTES) {
          return Nbd.EINVAL;
        }
        return inside(request) ? 0 : (request.type() == Nbd.CMD_WRITE ? Nbd.ENOSPC : Nbd.EINVAL);
      case Nbd.CMD_READ:
        if (request.length() > Nbd.MAX_PAYLOAD_BYTES || request.length() == 0) {
          return Nbd.EINVAL;
        }
        return inside(request) ? 0 : Nbd.EINVAL;
      case Nbd.CMD_BLOCK_STATUS:
        if (!structured || contexts == 0 || request.length() == 0) {
          return Nbd.EINVAL;
        }
        return inside(request) ? 0 : Nbd.EINVAL;
      default:
        return Nbd.EINVAL;
    }
  }

  private boolean inside(Request request) {
    long end = request.end();
    return end >= 0 && end <= exportSize;
  }
}
