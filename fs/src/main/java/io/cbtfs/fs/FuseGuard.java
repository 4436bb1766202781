package io.cbtfs.fs;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The boundary between Java exceptions and the kernel: maps what an operation threw to the negated
 * errno FUSE expects. Expected errnos (a missing file, a bad handle) are not logged; anything that
 * means the backing storage failed, and every unexpected exception, is.
 */
public final class FuseGuard {
  private static final Logger log = LoggerFactory.getLogger(FuseGuard.class);

  private FuseGuard() {}

  /** One FUSE operation in plain Java: returns its result (0, or a byte count) or throws. */
  @FunctionalInterface
  public interface Operation {
    int run() throws IOException;
  }

  /**
   * Runs {@code body} of {@code operation} on {@code path}: its result, or the negated errno of
   * what it threw. The only catch between the handlers and the kernel. It catches Errors too (EIO):
   * one escaping into the native layer would leave the request unanswered, its caller hung.
   */
  public static int call(String operation, String path, Operation body) {
    try {
      return body.run();
    } catch (Throwable e) {
      return errno(operation, path, e);
    }
  }

  /** An operation whose success is 0. */
  @FunctionalInterface
  public interface Action {
    void run() throws IOException;
  }

  /**
   * {@link #call(String, String, Operation)} of an operation that returns nothing: 0 on success.
   */
  public static int call(String operation, String path, Action body) {
    return call(
        operation,
        path,
        () -> {
          body.run();
          return 0;
        });
  }

  /**
   * The negated errno for {@code failure} of {@code operation} on {@code path}: an Error (out of
   * memory, a stack overflow) is EIO.
   */
  public static int errno(String operation, String path, Throwable failure) {
    int errno = errnoOf(failure);
    if (failure instanceof ErrnoException && (errno == Posix.EIO || errno == Posix.ENOSPC)) {
      // its message names the call or the damaged object: one line, no stack trace
      log.error("{} {} failed: {}", operation, path, failure.getMessage());
    } else if (errno == Posix.EIO || errno == Posix.ENOSPC || !(failure instanceof IOException)) {
      log.error("{} {} failed: {}", operation, path, failure.toString(), failure);
    } else if (log.isDebugEnabled()) {
      log.debug("{} {}: {}", operation, path, failure.getMessage());
    }
    return -errno;
  }

  /** The errno of each kind of failure, most specific first (an IOException is EIO). */
  private static final List<Map.Entry<Class<? extends Throwable>, Integer>> ERRNOS =
      List.of(
          Map.entry(NoSuchFileException.class, Posix.ENOENT),
          Map.entry(AccessDeniedException.class, Posix.EACCES),
          Map.entry(FileAlreadyExistsException.class, Posix.EEXIST),
          Map.entry(DirectoryNotEmptyException.class, Posix.ENOTEMPTY),
          Map.entry(NotDirectoryException.class, Posix.ENOTDIR),
          Map.entry(IOException.class, Posix.EIO),
          Map.entry(IllegalArgumentException.class, Posix.EINVAL));

  static int errnoOf(Throwable failure) {
    if (failure instanceof ErrnoException e) {
      return e.errno();
    }
    for (Map.Entry<Class<? extends Throwable>, Integer> kind : ERRNOS) {
      if (kind.getKey().isInstance(failure)) {
        return kind.getValue();
      }
    }
    return Posix.EIO;
  }
}
