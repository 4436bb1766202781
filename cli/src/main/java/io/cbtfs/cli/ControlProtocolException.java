package io.cbtfs.cli;

import io.cbtfs.tracker.CbtfsException;

/** A control-socket frame that breaks the protocol: answered with its message, never acted on. */
class ControlProtocolException extends CbtfsException {
  private static final long serialVersionUID = 1L;

  ControlProtocolException(String message) {
    super(message);
  }
}
