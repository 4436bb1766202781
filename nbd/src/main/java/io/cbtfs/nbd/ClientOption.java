package io.cbtfs.nbd;

import java.io.IOException;

/**
 * One option of the handshake: its type and payload, read whole. A wrong magic number or a payload
 * longer than {@link Nbd#MAX_OPTION_BYTES} ends the session (its bytes cannot be trusted to frame
 * the next option); what is in the payload is checked by the parser of its type.
 */
record ClientOption(int type, byte[] data) {
  /** Reads the next option; the payload's length is checked before anything is allocated. */
  static ClientOption read(WireInput in) throws IOException {
    long magic = in.readLong();
    if (magic != Nbd.IHAVEOPT) {
      throw new NbdProtocolException(
          String.format("not an option: magic 0x%016x instead of IHAVEOPT", magic));
    }
    int type = in.readInt();
    long length = Integer.toUnsignedLong(in.readInt());
    if (length > Nbd.MAX_OPTION_BYTES) {
      throw new NbdProtocolException(
          "option " + Integer.toUnsignedString(type) + " of " + length + " bytes: too long");
    }
    byte[] data = new byte[(int) length];
    in.readFully(data);
    return new ClientOption(type, data);
  }
}
