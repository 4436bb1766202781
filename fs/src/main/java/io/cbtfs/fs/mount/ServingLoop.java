package io.cbtfs.fs.mount;

import io.cbtfs.fs.FileSystemOperations;
import io.cbtfs.fs.Posix;
import io.cbtfs.fs.RequestObserver;
import io.cbtfs.fs.fuse.CbtFuseFs;
import io.cbtfs.fs.kernel.KernelOptions;
import io.cbtfs.fs.kernel.KernelSession;
import io.cbtfs.tracker.CbtfsException;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The FUSE loop of a mount, whichever transport serves it. */
interface ServingLoop {
  /** Serves until the file system is unmounted; 0 after a normal unmount. */
  int run();

  /** Counts down when the kernel connection is up and the mount serves requests. */
  CountDownLatch initialized();

  /** The transport it is: {@link FuseTransport#KERNEL} or {@link FuseTransport#LIBFUSE2}. */
  FuseTransport transport();

  /** Threads per kernel-transport mount: enough to keep a queue of 32 requests moving. */
  int KERNEL_WORKERS = 8;

  /**
   * The loop {@code options} ask for, telling {@code observer} of every request it answers. {@link
   * FuseTransport#AUTO} tries the kernel transport (which mounts at once) and falls back to libfuse
   * 2, saying so, when this process may not mount.
   */
  static ServingLoop open(MountOptions options, FileSystemOperations fs, RequestObserver observer)
      throws IOException {
    if (options.transport() == FuseTransport.LIBFUSE2 && options.writebackCache()) {
      throw new CbtfsException("--writeback-cache needs the kernel transport");
    }
    KernelOptions kernel =
        new KernelOptions(
            options.mountPoint(),
            options.stateDir().toString(),
            options.allowOther(),
            options.directIo() && !options.writebackCache(),
            options.writebackCache(),
            KERNEL_WORKERS);
    return open(
        options.transport(),
        kernel,
        options.fuseArgs("cbtfs"),
        options.writebackCache(),
        fs,
        observer);
  }

  /**
   * The loop of {@code transport} serving {@code fs}: the kernel transport mounts with {@code
   * kernel}, libfuse 2 with {@code fuseArgs}. {@code needsKernel}: the kernel transport or nothing
   * (a feature libfuse 2 lacks was asked for).
   */
  static ServingLoop open(
      FuseTransport transport,
      KernelOptions kernel,
      List<String> fuseArgs,
      boolean needsKernel,
      FileSystemOperations fs,
      RequestObserver observer)
      throws IOException {
    Logger log = LoggerFactory.getLogger(Mount.class);
    if (transport != FuseTransport.LIBFUSE2) {
      try {
        KernelSession session = KernelSession.mount(kernel, fs, Posix.get(), observer);
        return new ServingLoop() {
          @Override
          public int run() {
            return session.runLoop();
          }

          @Override
          public CountDownLatch initialized() {
            return session.initialized();
          }

          @Override
          public FuseTransport transport() {
            return FuseTransport.KERNEL;
          }
        };
      } catch (KernelSession.NotPermitted e) {
        if (transport == FuseTransport.KERNEL || needsKernel) {
          throw new CbtfsException(
              "the kernel FUSE transport cannot mount here: " + e.getMessage(), e);
        }
        log.info(
            "the kernel FUSE transport cannot mount here ({}): using libfuse 2", e.getMessage());
      } catch (IOException e) {
        throw new CbtfsException("cannot mount " + kernel.mountPoint() + ": " + e.getMessage(), e);
      }
    }
    CbtFuseFs fuse = new CbtFuseFs(fs, observer);
    String[] args = fuseArgs.toArray(String[]::new);
    return new ServingLoop() {
      @Override
      public int run() {
        return fuse.runLoop(args);
      }

      @Override
      public CountDownLatch initialized() {
        return fuse.initialized();
      }

      @Override
      public FuseTransport transport() {
        return FuseTransport.LIBFUSE2;
      }
    };
  }
}
