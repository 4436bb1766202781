package io.cbtfs.cli;

/**
 * One request of the control socket ({@link ControlProtocol}).
 *
 * @param type {@link ControlProtocol#PING}, {@code STATUS}, {@code SYNC} or {@code UNMOUNT}
 * @param name the image's name (STATUS, SYNC), else empty
 * @param target the target URI (SYNC), else empty
 * @param full whether a SYNC sends every block
 */
record ControlRequest(int type, String name, String target, boolean full) {
  static ControlRequest ping() {
    return new ControlRequest(ControlProtocol.PING, "", "", false);
  }

  static ControlRequest unmount() {
    return new ControlRequest(ControlProtocol.UNMOUNT, "", "", false);
  }

  static ControlRequest status(String name) {
    return new ControlRequest(ControlProtocol.STATUS, name, "", false);
  }

  static ControlRequest sync(String name, String target, boolean full) {
    return new ControlRequest(ControlProtocol.SYNC, name, target, full);
  }
}
