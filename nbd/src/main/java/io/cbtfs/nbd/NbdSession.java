package io.cbtfs.nbd;

import java.io.IOException;
import java.nio.channels.ByteChannel;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client's connection: the {@link Handshake}, then its {@link Transmission}. A client that
 * breaks the framing, or hangs up, ends only this session; whatever ends it, the export it opened
 * is closed.
 *
 * <p>Not thread-safe: one thread runs a session; {@link NbdServer} closes its channel to end it.
 */
final class NbdSession {
  private static final Logger log = LoggerFactory.getLogger(NbdSession.class);

  private final ByteChannel channel;
  private final ExportCatalog catalog;
  private final boolean writable;
  private final Runnable handshakeDone;

  /**
   * @param handshakeDone told once the session enters transmission (the handshake's deadline ends)
   */
  NbdSession(ByteChannel channel, ExportCatalog catalog, boolean writable, Runnable handshakeDone) {
    this.channel = channel;
    this.catalog = catalog;
    this.writable = writable;
    this.handshakeDone = handshakeDone;
  }

  /** Serves the connection until the client leaves or breaks the protocol; closes it. */
  void run() {
    WireInput in = new WireInput(channel);
    ReplyWriter out = new ReplyWriter(channel);
    ExportedImage export = null;
    try {
      Optional<Negotiated> negotiated = new Handshake(in, out, catalog, writable).run();
      if (negotiated.isPresent()) {
        export = negotiated.get().export();
        handshakeDone.run();
        new Transmission(in, out, channel, negotiated.get()).run();
      }
    } catch (NbdProtocolException e) {
      log.info("NBD client dropped: {}", e.getMessage());
    } catch (IOException e) {
      log.debug("NBD connection ended: {}", e.toString());
    } catch (RuntimeException e) {
      log.warn("NBD session failed", e);
    } finally {
      close(export);
    }
  }

  private void close(ExportedImage export) {
    try {
      if (export != null) {
        export.close();
      }
    } catch (IOException | RuntimeException e) {
      log.debug("closing an NBD export: {}", e.toString());
    }
    try {
      channel.close();
    } catch (IOException e) {
      log.debug("closing an NBD connection: {}", e.toString());
    }
  }
}
