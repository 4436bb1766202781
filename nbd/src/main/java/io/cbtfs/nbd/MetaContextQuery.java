package io.cbtfs.nbd;

import java.util.ArrayList;
import java.util.List;

/**
 * The payload of {@code NBD_OPT_LIST_META_CONTEXT} and {@code NBD_OPT_SET_META_CONTEXT}: an export
 * name and at most {@link Nbd#MAX_QUERIES} queries (more: {@code NBD_REP_ERR_TOO_BIG}).
 */
record MetaContextQuery(String exportName, List<String> queries) {
  static MetaContextQuery parse(byte[] data) throws InvalidOptionException {
    OptionPayload in = new OptionPayload(data);
    String name = in.readString();
    long count = in.readUnsignedInt();
    if (count > Nbd.MAX_QUERIES) {
      throw new InvalidOptionException(
          Nbd.REP_ERR_TOO_BIG, count + " queries (at most " + Nbd.MAX_QUERIES + ")");
    }
    List<String> queries = new ArrayList<>((int) count);
    for (long i = 0; i < count; i++) {
      queries.add(in.readString());
    }
    in.end();
    return new MetaContextQuery(name, List.copyOf(queries));
  }
}
