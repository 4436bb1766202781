package io.cbtfs.cli;

import io.cbtfs.fs.mount.FuseTransport;
import io.cbtfs.fs.mount.Mount;
import io.cbtfs.fs.mount.MountOptions;
import io.cbtfs.nbd.NbdAddress;
import io.cbtfs.nbd.NbdServer;
import io.cbtfs.tracker.BlockGeometry;
import io.cbtfs.tracker.StateDirectory;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cbtfs mount}: serve a folder of images through a tracking FUSE mount. */
@Command(
    name = "mount",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Serve a folder of images through a tracking FUSE mount.",
    description = {
      "Serve every regular file of BACKING_DIR under MOUNTPOINT, with the same names, sizes and bytes, and mark the blocks each write touches. Runs in the foreground until Ctrl-C, SIGTERM or 'cbtfs unmount MOUNTPOINT'; with --daemon it returns once the mount serves.",
      "",
      "Point VMs and image tools at the files under MOUNTPOINT: a write that bypasses the mount is not tracked."
    })
final class MountCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "BACKING_DIR", description = "Folder holding the images.")
  Path backingDir;

  @Parameters(index = "1", paramLabel = "MOUNTPOINT", description = "Empty folder to mount on.")
  Path mountPoint;

  @Option(
      names = "--block-size",
      paramLabel = "SIZE",
      defaultValue = "64K",
      description =
          "Tracking granule for new images: a power of two from 4K to 4M "
              + "(default: ${DEFAULT-VALUE}, QEMU's dirty-bitmap default).")
  String blockSize;

  @Option(
      names = "--state-dir",
      paramLabel = "DIR",
      description =
          "Where tracking state lives (default: BACKING_DIR/.cbtfs, hidden from the mount).")
  Path stateDir;

  @Option(names = "--daemon", description = "Run in the background; return once the mount serves.")
  boolean daemon;

  @Option(
      names = "--log-file",
      paramLabel = "FILE",
      description = "Log file of a --daemon mount (default: STATE_DIR/mount.log).")
  Path logFile;

  @Option(
      names = "--allow-other",
      description =
          "Let other users (e.g. libvirt's qemu) open the images; file modes still apply. "
              + "Needs user_allow_other in /etc/fuse.conf unless run as root.")
  boolean allowOther;

  @Option(
      names = "--direct-io",
      negatable = true,
      defaultValue = "true",
      fallbackValue = "true",
      description =
          "Bypass the kernel page cache on the mount (FUSE direct_io; default on): image "
              + "data is cached once (the backing file's page cache) instead of twice, and large "
              + "writes reach the backing file in fewer round trips. --no-direct-io caches in the "
              + "mount too (needed only by tools that mmap an image shared).")
  boolean directIo;

  @Option(
      names = "--transport",
      paramLabel = "NAME",
      description =
          "How to talk to the kernel's FUSE driver: 'kernel' (the FUSE protocol on /dev/fuse, "
              + "root only: asynchronous direct I/O, 1 MiB requests, parallel writes) or "
              + "'libfuse2' (any user). Default: the environment's CBTFS_TRANSPORT, else kernel "
              + "when it can mount, else libfuse2.")
  String transport;

  @Option(
      names = "--writeback-cache",
      description =
          "Kernel transport only: let the kernel cache writes to the images and send them in "
              + "batches (implies --no-direct-io). 'cbtfs sync' still sends every write "
              + "acknowledged before it started.")
  boolean writebackCache;

  @Option(
      names = "--reset-tracking",
      description =
          "If an image's tracking state is corrupt, mark the whole image dirty and "
              + "start a new lineage instead of refusing to mount.")
  boolean resetTracking;

  @Option(
      names = "--al-extent-size",
      paramLabel = "SIZE",
      defaultValue = "4M",
      description =
          "Activity-log extent: before the first write into an extent that is not hot, "
              + "its intent is made durable (default: ${DEFAULT-VALUE}).")
  String extentSize;

  @Option(
      names = "--al-extents",
      paramLabel = "N",
      defaultValue = "1024",
      description =
          "Hot extents kept in the activity log (default: ${DEFAULT-VALUE}). After a "
              + "crash at most N x extent size bytes beyond the saved bitmap are resent.")
  int maxHotExtents;

  @Option(
      names = "--max-memory",
      paramLabel = "SIZE",
      defaultValue = MemoryBudget.DEFAULT,
      description =
          "Memory the mount's JVM may use: heap, direct buffers and the JVM itself "
              + "(default: ${DEFAULT-VALUE}, at least 228M; docs/OPERATIONS.md says how to size "
              + "it). A foreground mount gets it from bin/cbtfs, which starts its JVM.")
  String maxMemory;

  @Option(
      names = "--metrics",
      paramLabel = "[HOST:]PORT",
      description =
          "Serve Prometheus metrics on http://HOST:PORT/metrics (PORT alone: loopback, "
              + "127.0.0.1): per image dirty and written bytes, per target the last successful "
              + "sync and its lag, FUSE request latency, the JVM. See docs/OPERATIONS.md.")
  String metrics;

  @Option(
      names = "--read-only",
      description =
          "Serve the generations of a backup instead: BACKING_DIR is then a SOURCE, archive:DIR, "
              + "s3://BUCKET/STORE[/IMAGE] or a receiver's archive, cbtfs://HOST:PORT/NAME?archive"
              + "&pin=...&token-file=..., and every generation is a read-only file NAME@N "
              + "(NAME: the newest), read in place. See docs/OPERATIONS.md.")
  boolean readOnly;

  @Option(
      names = "--overlay",
      paramLabel = "DIR",
      description =
          "With --read-only: the generation files are writable, copy-on-write into DIR "
              + "(NAME@N.img, sparse, and NAME@N.present; made 0700 if missing); the generations "
              + "themselves never change. Boot a VM from a backup at once. See docs/OPERATIONS.md.")
  Path overlay;

  @Option(
      names = "--hydrate",
      paramLabel = "NAME",
      description =
          "With --overlay: copy the blocks of file NAME (NAME@N, or NAME for the newest) that its "
              + "overlay does not hold, in the background while it is in use, until DIR/NAME@N.img "
              + "is the whole image. Repeatable; progress on standard output.")
  List<String> hydrate = new ArrayList<>();

  @Option(
      names = "--cache-size",
      paramLabel = "SIZE",
      defaultValue = "16M",
      description =
          "With --read-only: verified blocks kept in memory, least recently used out "
              + "(default: ${DEFAULT-VALUE}; at most half the heap, a quarter of --max-memory).")
  String cacheSize;

  @CommandLine.Mixin S3Options s3;

  @Option(
      names = "--nbd",
      paramLabel = "unix:PATH|[HOST:]PORT",
      description =
          "Export every image over NBD, by its file name, on a Unix socket (0600; root and the "
              + "mount's user) or a TCP port (PORT alone: loopback, 127.0.0.1). Repeatable. "
              + "Meta contexts base:allocation and qemu:dirty-bitmap:cbtfs (the live dirty set), "
              + "and qemu:dirty-bitmap:TARGET per target. See docs/OPERATIONS.md.")
  List<String> nbd = new ArrayList<>();

  @Option(
      names = "--nbd-writable",
      description =
          "Let NBD clients write, trim and flush (default: read-only). Their writes are tracked "
              + "as writes through the mount are.")
  boolean nbdWritable;

  @CommandLine.Mixin CursorAgeOption cursorAge;

  @CommandLine.Mixin VerboseOption verbose;

  @Option(names = "--daemon-child", hidden = true)
  boolean daemonChild;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (readOnly) {
      return readOnlyMount();
    }
    if (overlay != null || !hydrate.isEmpty()) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "--overlay makes the generations of a --read-only mount writable");
    }
    if (daemon) {
      // everything is checked here, before a folder is made or a process started
      MemoryBudget budget = budget();
      metricsAddress();
      nbdAddresses();
      MountOptions options = Mount.validate(options());
      StateDirectory.prepare(options.stateDir());
      Path log = logFile != null ? logFile : options.stateDir().resolve("mount.log");
      return new DaemonLauncher(spec.commandLine().getOut(), spec.commandLine().getErr())
          .launch(childArgs(options, budget), budget, options, log);
    }
    budget(); // a foreground mount's JVM is already running (bin/cbtfs applied it): check only
    MetricsAddress metricsAddress = metricsAddress();
    List<NbdAddress> nbdAddresses = nbdAddresses();
    MountOptions asked = options();
    // a daemon's standard error is its log, opened for append by the launcher: a mount that fails
    // must not truncate the log of the mount it collided with
    Logging.configure(verbose.on, null);
    // The stop is armed before the kernel mount exists: a signal that lands while the mount comes
    // up waits for it and then unmounts in order, instead of leaving a dead mount point behind.
    Stop stop = new Stop();
    Runtime.getRuntime().addShutdownHook(new Thread(stop::run, "cbtfs-shutdown"));
    Mount mount = null;
    ControlServer control;
    MountMetrics served = null;
    NbdServer nbdServer = null;
    try {
      if (metricsAddress != null) { // bound first: a port in use fails before anything mounts
        served = MountMetrics.start(metricsAddress, asked.tracking().cursors().clock());
      }
      if (!nbdAddresses.isEmpty()) { // the same: bound now, serving once the images exist
        nbdServer = NbdServer.bind(nbdAddresses, nbdWritable);
      }
      mount = served == null ? Mount.start(asked) : Mount.start(asked, served.requests());
      if (served != null) {
        served.serveImages(mount.fileSystem().trackers());
      }
      RunningMount running =
          new RunningMount(mount, served == null ? SyncObserver.NONE : served.syncs());
      if (nbdServer != null) {
        // the mount closes them when it stops, before it saves the tracking (Mount.closeWith):
        // the server's sessions first, then the pull backups still open (none commits)
        mount.closeWith(nbdServer);
        mount.closeWith(running.backups());
        running.backups().servedOn(nbdServer.addresses());
        nbdServer.serve(new MountExports(mount.fileSystem(), running.backups()));
      }
      control = ControlServer.start(mount.options().stateDir(), running);
      stop.started(mount, control);
    } catch (Exception | Error e) {
      stop.startFailed();
      if (mount != null) { // mounted, then failed: unmount again rather than leave a dead mount
        try {
          mount.shutdown();
        } catch (Exception | Error undone) {
          e.addSuppressed(undone);
        }
      }
      if (served != null) {
        served.close();
      }
      if (nbdServer != null) {
        nbdServer.close();
      }
      throw e;
    }
    MountOptions options = mount.options();
    if (daemonChild) {
      System.out.println(DaemonLauncher.READY + " " + mount.transport().label());
      System.out.close();
    } else {
      spec.commandLine()
          .getOut()
          .printf(
              "cbtfs: serving %s on %s (state in %s; FUSE transport: %s)%n"
                  + "stop with Ctrl-C or: cbtfs unmount %s%n",
              options.backingDir(),
              options.mountPoint(),
              options.stateDir(),
              mount.transport().label(),
              options.mountPoint());
      spec.commandLine().getOut().flush();
    }
    mount.awaitUnmounted();
    control.close();
    if (served != null) {
      served.close();
    }
    mount.close();
    return CbtfsCommand.EXIT_OK;
  }

  /** {@code --read-only}: the generations of SOURCE, served until unmounted. */
  private int readOnlyMount() throws Exception {
    if (daemon) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "--read-only runs in the foreground (use systemd or & for now)");
    }
    if (!nbd.isEmpty() || nbdWritable) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "--nbd exports a tracking mount's images, not --read-only files");
    }
    if (!hydrate.isEmpty() && overlay == null) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "--hydrate fills an overlay: give --overlay DIR too");
    }
    if (overlay != null && resolved(overlay).startsWith(resolved(mountPoint))) {
      // checked before the folder and its lock are made: they would make the mount point non-empty
      throw new CommandLine.ParameterException(
          spec.commandLine(),
          "--overlay "
              + overlay
              + " is inside the mount point "
              + mountPoint
              + ": the mount would hide it; put it elsewhere");
    }
    long cache;
    try {
      cache = BlockGeometry.parseByteSize(cacheSize);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "invalid --cache-size '" + cacheSize + "': " + e.getMessage());
    }
    long heap = Runtime.getRuntime().maxMemory();
    if (cache > heap / 2) {
      throw new CommandLine.ParameterException(
          spec.commandLine(),
          "--cache-size "
              + cacheSize
              + " is more than half of this JVM's heap ("
              + (heap >> 20)
              + " MiB): raise --max-memory (the heap is a quarter of it)");
    }
    FuseTransport chosen = chosenTransport(); // a bad one refused before anything is read
    // the SOURCE as typed: as a Path, s3:// would lose a slash
    String source = spec.positionalParameters().get(0).originalStringValues().get(0);
    Logging.configure(verbose.on, null);
    return new GenerationMount(
            s3.apply(source), mountPoint, chosen, allowOther, directIo, cache, overlay, hydrate)
        .run(spec.commandLine().getOut());
  }

  /** {@code path} as the kernel will find it: its longest existing part with links resolved. */
  private static Path resolved(Path path) {
    Path absolute = path.toAbsolutePath().normalize();
    for (Path existing = absolute; existing != null; existing = existing.getParent()) {
      if (Files.exists(existing)) {
        try {
          return existing.toRealPath().resolve(existing.relativize(absolute));
        } catch (IOException e) {
          return absolute;
        }
      }
    }
    return absolute;
  }

  /** The --transport asked for, else $CBTFS_TRANSPORT's, else {@link FuseTransport#AUTO}. */
  private FuseTransport chosenTransport() {
    try {
      return FuseTransport.parse(transport != null ? transport : System.getenv("CBTFS_TRANSPORT"));
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  /** The --nbd addresses (none without the option). */
  List<NbdAddress> nbdAddresses() {
    List<NbdAddress> out = new ArrayList<>();
    for (String text : nbd) {
      try {
        out.add(NbdAddress.parse(text));
      } catch (IllegalArgumentException e) {
        throw new CommandLine.ParameterException(
            spec.commandLine(), "invalid --nbd '" + text + "': " + e.getMessage());
      }
    }
    if (nbdWritable && out.isEmpty()) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--nbd-writable needs --nbd");
    }
    return out;
  }

  /** The --metrics address, or null without one. */
  MetricsAddress metricsAddress() {
    if (metrics == null) {
      return null;
    }
    try {
      return MetricsAddress.parse(metrics);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "invalid --metrics '" + metrics + "': " + e.getMessage());
    }
  }

  MemoryBudget budget() {
    try {
      return MemoryBudget.parse(maxMemory);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "invalid --max-memory '" + maxMemory + "': " + e.getMessage());
    }
  }

  MountOptions options() {
    BlockGeometry geometry;
    try {
      long size = BlockGeometry.parseByteSize(blockSize);
      geometry = BlockGeometry.of((int) Math.min(size, Integer.MAX_VALUE));
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "invalid --block-size '" + blockSize + "': " + e.getMessage());
    }
    TrackingOptions tracking;
    try {
      long extent = BlockGeometry.parseByteSize(extentSize);
      tracking =
          new TrackingOptions(
              geometry, (int) Math.min(extent, 1 << 30), maxHotExtents, resetTracking);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
    tracking = tracking.withCursors(cursorAge.policy(spec.commandLine()));
    FuseTransport chosen = chosenTransport();
    if (writebackCache && chosen == FuseTransport.LIBFUSE2) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "--writeback-cache needs the kernel transport");
    }
    return new MountOptions(
        backingDir, mountPoint, stateDir, tracking, allowOther, directIo, chosen, writebackCache);
  }

  /**
   * Stop on SIGTERM/SIGINT: refuse every change through the mount at once, end the control socket
   * (a running sync is cancelled at its next record and fails cleanly), then unmount when the last
   * image closes and save the tracking ({@link Mount#shutdown}). A signal during the start waits
   * for it to end first.
   */
  private static final class Stop {
    private final java.util.concurrent.CountDownLatch startEnded =
        new java.util.concurrent.CountDownLatch(1);
    private volatile Mount mount;
    private volatile ControlServer control;

    void started(Mount mount, ControlServer control) {
      this.mount = mount;
      this.control = control;
      startEnded.countDown();
    }

    void startFailed() {
      startEnded.countDown();
    }

    void run() {
      try {
        startEnded.await(); // a start cannot hang: it mounts, or fails and says why
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      Mount m = mount;
      if (m == null) {
        return; // the start failed: nothing is mounted
      }
      m.refuseChanges();
      control.close();
      try {
        m.shutdown();
      } catch (Exception e) {
        System.err.println("cbtfs: " + Errors.describe(e));
      }
    }
  }

  List<String> childArgs(MountOptions options, MemoryBudget budget) {
    List<String> args = new ArrayList<>();
    args.add("mount");
    args.add("--daemon-child");
    args.add("--max-memory=" + (budget.bytes() >> 20) + "M");
    args.add("--block-size=" + blockSize);
    args.add("--state-dir=" + options.stateDir());
    args.add("--al-extent-size=" + extentSize);
    args.add("--al-extents=" + maxHotExtents);
    args.add("--cursor-max-age=" + cursorAge.maxAge);
    if (allowOther) {
      args.add("--allow-other");
    }
    if (resetTracking) {
      args.add("--reset-tracking");
    }
    args.add(directIo ? "--direct-io" : "--no-direct-io");
    args.add("--transport=" + options.transport().label());
    if (writebackCache) {
      args.add("--writeback-cache");
    }
    if (metrics != null) {
      args.add("--metrics=" + metrics);
    }
    for (NbdAddress address : nbdAddresses()) {
      args.add("--nbd=" + address); // a Unix socket's path made absolute here, as the folders
    }
    if (nbdWritable) {
      args.add("--nbd-writable");
    }
    if (verbose.on) {
      args.add("--verbose");
    }
    args.add(options.backingDir().toString());
    args.add(options.mountPoint().toString());
    return args;
  }
}
