package io.cbtfs.nbd;

import java.util.ArrayList;
import java.util.List;

/**
 * The payload of {@code NBD_OPT_INFO} and {@code NBD_OPT_GO}: an export name and the information
 * the client asks for.
 */
record ExportQuery(String name, List<Integer> infoRequests) {
  static ExportQuery parse(byte[] data) throws InvalidOptionException {
    OptionPayload in = new OptionPayload(data);
    String name = in.readString();
    int count = in.readUnsignedShort();
    if (in.remaining() != 2 * count) {
      throw OptionPayload.invalid(
          count + " information requests in " + in.remaining() + " bytes: not 2 each");
    }
    List<Integer> requests = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      requests.add(in.readUnsignedShort());
    }
    in.end();
    return new ExportQuery(name, List.copyOf(requests));
  }

  /** The payload of {@code NBD_OPT_EXPORT_NAME}: the name alone. */
  static String parseName(byte[] data) throws InvalidOptionException {
    OptionPayload in = new OptionPayload(data);
    String name = in.readString(data.length);
    in.end();
    return name;
  }
}
