package io.cbtfs.tracker;

/**
 * Root of the domain errors of cbtfs: conditions an operator must act on (wrong image, corrupt
 * state, a sync already running), as opposed to {@link java.io.IOException} for failed I/O. The
 * message is one line meant for the operator.
 */
public class CbtfsException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public CbtfsException(String message) {
    super(message);
  }

  public CbtfsException(String message, Throwable cause) {
    super(message, cause);
  }
}
