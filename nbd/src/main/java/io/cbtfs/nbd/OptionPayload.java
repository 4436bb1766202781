package io.cbtfs.nbd;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * A cursor over one option's payload. Every read is checked against what is left, and every
 * string's length against {@link Nbd#MAX_STRING_BYTES} and its bytes as strict UTF-8: anything else
 * is an {@link InvalidOptionException}, answered {@code NBD_REP_ERR_INVALID}.
 */
final class OptionPayload {
  private final ByteBuffer data;

  OptionPayload(byte[] data) {
    this.data = ByteBuffer.wrap(data);
  }

  long readUnsignedInt() throws InvalidOptionException {
    need(4);
    return Integer.toUnsignedLong(data.getInt());
  }

  int readUnsignedShort() throws InvalidOptionException {
    need(2);
    return Short.toUnsignedInt(data.getShort());
  }

  /** A string whose length (32 bits) comes first. */
  String readString() throws InvalidOptionException {
    return readString(readUnsignedInt());
  }

  /** A string of {@code byteLength} bytes. */
  String readString(long byteLength) throws InvalidOptionException {
    if (byteLength > Nbd.MAX_STRING_BYTES) {
      throw invalid("a string of " + byteLength + " bytes (at most " + Nbd.MAX_STRING_BYTES + ")");
    }
    need(byteLength);
    ByteBuffer bytes = data.slice().limit((int) byteLength);
    data.position(data.position() + (int) byteLength);
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(bytes)
          .toString();
    } catch (CharacterCodingException e) {
      throw invalid("a string that is not UTF-8");
    }
  }

  int remaining() {
    return data.remaining();
  }

  /** Checks that nothing is left after the fields. */
  void end() throws InvalidOptionException {
    if (data.hasRemaining()) {
      throw invalid(data.remaining() + " bytes after the option's fields");
    }
  }

  private void need(long byteCount) throws InvalidOptionException {
    if (byteCount > data.remaining()) {
      throw invalid("a field runs past the option's end");
    }
  }

  static InvalidOptionException invalid(String message) {
    return new InvalidOptionException(Nbd.REP_ERR_INVALID, message);
  }
}
