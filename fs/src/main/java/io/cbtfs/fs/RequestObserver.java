package io.cbtfs.fs;

/**
 * Told of every FUSE request a mount answered, by either transport, on the thread that served it:
 * which operation and how long it took, from the moment it was read to the moment its reply was
 * handed back. Called on the data path, so an implementation must be quick, thread-safe and
 * allocate nothing; the mount's metrics adapt it (cli), {@link #NONE} otherwise.
 */
@FunctionalInterface
public interface RequestObserver {
  void answered(FuseOperation operation, long nanos);

  /** Observes nothing: a mount without metrics. */
  RequestObserver NONE = (operation, nanos) -> {};
}
