package io.cbtfs.nbd;

/**
 * An option whose framing is whole but whose payload is not what its type needs (a length past the
 * end, invalid UTF-8, too many queries): answered with an error reply, and haggling goes on.
 */
final class InvalidOptionException extends NbdProtocolException {
  private static final long serialVersionUID = 1L;

  /** The error reply to send: {@link Nbd#REP_ERR_INVALID} or {@link Nbd#REP_ERR_TOO_BIG}. */
  private final int reply;

  InvalidOptionException(int reply, String message) {
    super(message);
    this.reply = reply;
  }

  int reply() {
    return reply;
  }
}
