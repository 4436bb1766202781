package io.cbtfs.nbd;

import java.util.List;

/**
 * What a handshake agreed on: the export opened for the session (its size fixed now), whether
 * replies are structured, and the meta contexts selected for it, in the order of their ids (1, 2,
 * ...). Writable only if the server and the export both are.
 */
record Negotiated(ExportedImage export, long size, boolean structured, List<String> contexts) {
  boolean writable() {
    return export.writable();
  }
}
