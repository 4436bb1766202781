package io.cbtfs.fs.kernel;

import io.cbtfs.fs.ErrnoException;
import io.cbtfs.fs.FileSystemOperations;
import io.cbtfs.fs.FuseOperation;
import io.cbtfs.fs.Posix;
import io.cbtfs.fs.RequestObserver;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A mount served over the kernel's FUSE protocol on /dev/fuse, without libfuse: {@link #mount}
 * opens the device and mounts with mount(2) (root only); {@link #runLoop} serves requests on worker
 * threads until the kernel ends the connection (unmounted, or aborted); {@link #unmount} unmounts
 * with umount2(2).
 *
 * <p>Each worker reads one request at a time into its own {@link WorkerBuffers} and writes the
 * reply with one write(2); the kernel hands each request to one reader, so the workers share the
 * descriptor.
 */
public final class KernelSession {
  private static final Logger log = LoggerFactory.getLogger(KernelSession.class);
  private static final int O_RDWR = 2;
  private static final long MS_NOSUID = 2;
  private static final long MS_NODEV = 4;
  private static final int MNT_DETACH = 2;
  private static final int UMOUNT_NOFOLLOW = 8;
  private static final int EPERM = 1;
  private static final int ENODEV = 19;

  private static final class Holder {
    static final DevFuseCalls CALLS = LibraryLoader.create(DevFuseCalls.class).load("c");
  }

  private final KernelOptions options;
  private final Posix posix;
  private final DevFuseCalls calls;
  private final RequestHandler handler;
  private final RequestObserver observer;
  private final int fd;

  /**
   * A session on the open /dev/fuse descriptor {@code fd}, through {@code calls} (tests: fakes).
   */
  KernelSession(
      KernelOptions options, RequestHandler handler, Posix posix, DevFuseCalls calls, int fd) {
    this(options, handler, posix, calls, fd, RequestObserver.NONE);
  }

  /** {@link #KernelSession(KernelOptions, RequestHandler, Posix, DevFuseCalls, int)}, observed. */
  KernelSession(
      KernelOptions options,
      RequestHandler handler,
      Posix posix,
      DevFuseCalls calls,
      int fd,
      RequestObserver observer) {
    this.options = options;
    this.posix = posix;
    this.calls = calls;
    this.handler = handler;
    this.fd = fd;
    this.observer = observer;
  }

  /** Thrown when this process may not mount FUSE itself: use the libfuse 2 transport instead. */
  public static final class NotPermitted extends IOException {
    NotPermitted(String message) {
      super(message);
    }
  }

  /**
   * Opens /dev/fuse and mounts it on {@link KernelOptions#mountPoint}. Requests queue on the device
   * until {@link #runLoop} serves them.
   *
   * @throws NotPermitted when not root, or mount(2) says EPERM
   * @param observer told of every request answered
   * @throws ErrnoException when /dev/fuse cannot be opened or mount(2) fails otherwise
   */
  public static KernelSession mount(
      KernelOptions options, FileSystemOperations fs, Posix posix, RequestObserver observer)
      throws IOException {
    DevFuseCalls calls = Holder.CALLS;
    int uid = calls.geteuid();
    if (uid != 0) {
      throw new NotPermitted("the kernel transport mounts with mount(2), which needs root");
    }
    int fd = posix.open("/dev/fuse", O_RDWR, 0); // Posix.open adds O_CLOEXEC
    String target = options.mountPoint().toString();
    int rc =
        calls.mount(
            options.fsName(),
            target,
            "fuse.cbtfs",
            MS_NOSUID | MS_NODEV,
            options.mountData(fd, uid, calls.getegid()));
    if (rc != 0) {
      int errno = posix.runtime().getLastError();
      posix.libc().close(fd);
      String why = "mount " + target + ": " + posix.libc().strerror(errno);
      throw errno == EPERM ? new NotPermitted(why) : new ErrnoException(errno, why);
    }
    return new KernelSession(
        options, new RequestHandler(fs, posix, options), posix, calls, fd, observer);
  }

  /** Whether this process runs as root (may mount and unmount with the system calls). */
  public static boolean isRoot() {
    return Holder.CALLS.geteuid() == 0;
  }

  /** Counts down once the kernel's INIT has been answered: the mount serves requests. */
  public CountDownLatch initialized() {
    return handler.initialized();
  }

  /**
   * Serves requests on {@link KernelOptions#workers} threads (this one among them) until the
   * connection ends, then closes the device. Returns 0 after an unmount, 1 if a worker failed. It
   * never returns while another worker still serves: the mount would look unmounted, and its
   * tracking be saved clean while requests still change images.
   */
  public int runLoop() {
    List<Thread> others = new ArrayList<>();
    int[] failures = new int[1];
    for (int i = 1; i < options.workers(); i++) {
      Thread t = new Thread(() -> serve(failures), "cbtfs-fuse-worker-" + i);
      t.setDaemon(true);
      others.add(t);
      t.start();
    }
    serve(failures);
    boolean interrupted = false;
    for (Thread t : others) {
      while (t.isAlive()) {
        try {
          t.join();
        } catch (InterruptedException e) {
          interrupted = true; // still wait: closing the device under a worker would be worse
        }
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
    posix.libc().close(fd);
    synchronized (failures) {
      return failures[0] == 0 ? 0 : 1;
    }
  }

  /**
   * One worker: serves until the connection ends. Nothing it meets ends it otherwise unnoticed: a
   * request's failure is its reply ({@link RequestHandler#handle}), and an Error outside one (out
   * of memory in jnr-ffi, say) ends this worker counted and logged, the others serving on.
   */
  private void serve(int[] failures) {
    try {
      serveRequests(failures);
    } catch (Throwable t) {
      log.error("a FUSE worker failed; the others serve on", t);
      synchronized (failures) {
        failures[0]++;
      }
    }
  }

  private void serveRequests(int[] failures) {
    Runtime runtime = posix.runtime();
    WorkerBuffers b = new WorkerBuffers(runtime);
    while (true) {
      long n = calls.read(fd, b.request, WorkerBuffers.REQUEST_BYTES);
      if (n < 0) {
        int errno = runtime.getLastError();
        if (errno == Posix.EINTR || errno == Posix.EAGAIN || errno == Posix.ENOENT) {
          continue; // ENOENT: the request was interrupted before we read it
        }
        if (errno != ENODEV) { // ENODEV: unmounted, the connection is over
          log.error("reading /dev/fuse failed: {}", posix.libc().strerror(errno));
          synchronized (failures) {
            failures[0]++;
          }
        }
        return;
      }
      long start = System.nanoTime();
      // read before handle: the request buffer is the worker's until its next read
      FuseOperation op =
          n >= FuseAbi.IN_HEADER_BYTES
              ? FuseOperation.ofOpcode(b.request.getInt(FuseAbi.IN_OPCODE))
              : FuseOperation.OTHER;
      int reply = handler.handle(b, (int) n);
      int refused = reply > 0 && calls.write(fd, b.reply, reply) < 0 ? runtime.getLastError() : 0;
      observer.answered(op, System.nanoTime() - start);
      if (refused != 0) {
        int errno = refused;
        if (errno
            == Posix.ENOENT) { // interrupted: no one waits, and no one will release what it gave
          handler.replyRefused(b);
        } else if (log.isDebugEnabled()) {
          log.debug("a FUSE reply was refused: {}", posix.libc().strerror(errno));
        }
      }
    }
  }

  /**
   * Unmounts with umount2(2); lazily detaches with {@code lazy}. Fails (EBUSY) while an image is
   * open, leaving the mount serving.
   *
   * @throws ErrnoException with umount2's reason
   */
  public static void unmount(java.nio.file.Path mountPoint, boolean lazy, Posix posix)
      throws ErrnoException {
    String target = mountPoint.toString();
    if (Holder.CALLS.umount2(target, UMOUNT_NOFOLLOW | (lazy ? MNT_DETACH : 0)) != 0) {
      int errno = posix.runtime().getLastError();
      throw new ErrnoException(
          errno, "failed to unmount " + target + ": " + posix.libc().strerror(errno));
    }
  }
}
