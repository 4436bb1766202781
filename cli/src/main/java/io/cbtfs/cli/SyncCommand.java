package io.cbtfs.cli;

import io.cbtfs.syncer.FleeceLimit;
import io.cbtfs.syncer.SyncProgress;
import io.cbtfs.syncer.SyncReport;
import io.cbtfs.tracker.CbtfsException;
import io.cbtfs.tracker.TrackingOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cbtfs sync}: ship the changed blocks of an image to a target. */
@Command(
    name = "sync",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Send the blocks changed since the last sync to a replica, archive, receiver or S3.",
    description = {
      "Reads only the dirty blocks, compresses them (LZ4), checksums them and ships them to "
          + "TARGET; the blocks count as synced only once the target has verified, stored and "
          + "acknowledged them. A first sync to an empty target sends the whole image.",
      "",
      "TARGET is file:PATH (a replica image kept byte-identical), archive:DIR (a full base "
          + "plus one delta per generation; see 'cbtfs restore'), cbtfs://HOST:PORT/NAME (a "
          + "'cbtfs receive' on another host) or s3://BUCKET/[STORE/]IMAGE (deduplicated chunks "
          + "and one manifest per generation in S3, Ceph RGW or MinIO; see 'cbtfs ls' and "
          + "'cbtfs gc'). IMAGE is the path under a "
          + "cbtfs mount (the sync runs inside the mount) or the backing file (offline, with "
          + "no mount running).",
      "",
      "Every target has its own cursor (named by its canonical URI): a sync sends what changed "
          + "since the generation that target holds, however many other targets the image "
          + "syncs to. When the tracker cannot say (the target is behind the history it keeps, "
          + "at a generation it never issued, or the image changed in a way no dirty bit "
          + "records), the sync compares every block and sends what differs. The report says "
          + "why (--json: base, the generation the target held, -1 for a full sync, and why). "
          + "'cbtfs status' lists the targets, 'cbtfs forget' drops one.",
      "",
      "Consistency group: 'cbtfs sync IMAGE TARGET --with IMAGE2 TARGET2 [--with ...]' drains"
          + " every image at one instant (the disks of one VM: their replicas are consistent with"
          + " each other), then ships them one after the other, each to its own target. Each"
          + " --with is one image and its target, as the first pair is: nothing to split, so"
          + " paths and URIs may hold any character. All images must be served by one running"
          + " mount; the hooks run once, around the group's drain. Each image commits its own"
          + " target: if one fails, the ones before it hold the group's instant, it and the"
          + " ones after keep their older generations and their blocks stay dirty (the line"
          + " says which); the next group sync brings them all to a new instant."
    })
final class SyncCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "IMAGE", description = "The image to sync.")
  Path image;

  @Parameters(
      index = "1",
      paramLabel = "TARGET",
      description = "file:PATH, archive:DIR, cbtfs://HOST:PORT/NAME or s3://BUCKET/[STORE/]IMAGE.")
  String target;

  @Option(
      names = "--with",
      arity = "2",
      paramLabel = "IMAGE2 TARGET2",
      hideParamSyntax = true,
      description =
          "Another image of a consistency group and its target (repeatable, up to 15): all images"
              + " drain at one instant. In a running mount, point-in-time only.")
  List<String> with = new ArrayList<>();

  @CommandLine.Mixin JsonOption json;

  @Option(
      names = "--full",
      description = "Send every block; also overwrites a target that " + "holds another image.")
  boolean full;

  @Option(
      names = "--metrics-textfile",
      paramLabel = "FILE",
      description =
          "With no mount running: write this sync's metrics (result, duration, bytes sent, the "
              + "target's last successful sync and lag) to FILE for node_exporter's textfile "
              + "collector, atomically, whether the sync succeeds or fails. A running mount "
              + "serves them on its --metrics address instead.")
  Path metricsTextfile;

  @Option(
      names = "--no-snapshot",
      description =
          "In a running mount: read each block as it is when read (as cbtfs did before): the target gets"
              + " no single instant of an image written during the sync. By default the sync is"
              + " point-in-time: the target ends identical to the image at the instant the sync"
              + " took its dirty set, whatever is written meanwhile (the old bytes of a block"
              + " written before the sync read it are copied to a local fleece first).")
  boolean noSnapshot;

  @Option(
      names = "--fleece-limit",
      paramLabel = "SIZE|PCT",
      description =
          "How much the fleece of a point-in-time sync may hold: a size (512M, 2G) or a"
              + " percentage of the bytes the sync protects (default 25%%). When it is full, or"
              + " its disk fails, the sync fails and its blocks stay dirty; the guest's writes go"
              + " on.")
  String fleeceLimit;

  @Option(
      names = "--pre-hook",
      paramLabel = "CMD",
      description =
          "Run CMD (sh -c, as this user) just before the sync takes its dirty set, e.g. 'virsh"
              + " domfsfreeze vm1': the sync does not start if it fails. CBTFS_IMAGE and"
              + " CBTFS_TARGET are set.")
  String preHook;

  @Option(
      names = "--post-hook",
      paramLabel = "CMD",
      description =
          "Run CMD as soon as the sync has taken its dirty set (not after the copy), e.g. 'virsh"
              + " domfsthaw vm1'; always once --pre-hook ran, whatever happens to the sync.")
  String postHook;

  @CommandLine.Mixin StateDirOption stateDir;

  @CommandLine.Mixin S3Options s3;

  @CommandLine.Mixin CursorAgeOption cursorAge;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (noSnapshot && fleeceLimit != null) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "--fleece-limit is for a point-in-time sync, not --no-snapshot");
    }
    SnapshotOption snapshot =
        noSnapshot
            ? SnapshotOption.OFF
            : new SnapshotOption(
                true, fleeceLimit == null ? FleeceLimit.DEFAULT : parseLimit(fleeceLimit));
    TargetAddress address = s3.address(target);
    if (!with.isEmpty()) {
      if (noSnapshot) {
        throw new CommandLine.ParameterException(
            spec.commandLine(),
            "--with makes a consistency group, which is point-in-time: not with --no-snapshot");
      }
      if (metricsTextfile != null) {
        throw new CommandLine.ParameterException(
            spec.commandLine(),
            "--with syncs in a running mount, which serves the metrics: not --metrics-textfile");
      }
      List<Path> images = new ArrayList<>(List.of(image));
      List<TargetAddress> targets = new ArrayList<>(List.of(address));
      for (int i = 0; i < with.size(); i += 2) {
        images.add(Path.of(with.get(i)));
        targets.add(s3.address(with.get(i + 1)));
      }
      if (images.size() > ControlProtocol.MAX_GROUP_MEMBERS) {
        throw new CommandLine.ParameterException(
            spec.commandLine(),
            "a consistency group holds at most " + ControlProtocol.MAX_GROUP_MEMBERS + " images");
      }
      return executeGroup(
          images,
          targets,
          stateDir.stateDir,
          full,
          snapshot,
          FreezeHooks.of(preHook, postHook, image.toString(), address.uri()),
          json.on,
          spec.commandLine().getOut());
    }
    return execute(
        image,
        stateDir.stateDir,
        address,
        full,
        snapshot,
        FreezeHooks.of(preHook, postHook, image.toString(), address.uri()),
        cursorAge.policy(spec.commandLine()),
        json.on,
        metricsTextfile,
        spec.commandLine().getOut());
  }

  private FleeceLimit parseLimit(String text) {
    try {
      return FleeceLimit.parse(text);
    } catch (CbtfsException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  /** {@link #execute(Path, Path, TargetAddress, boolean, SnapshotOption, ...)}, point-in-time. */
  static int execute(
      Path image,
      Path stateDir,
      TargetAddress target,
      boolean full,
      TrackingOptions.Cursors cursors,
      boolean json,
      Path metricsTextfile,
      PrintWriter out)
      throws IOException {
    return execute(
        image,
        stateDir,
        target,
        full,
        SnapshotOption.DEFAULT,
        FreezeHooks.NONE,
        cursors,
        json,
        metricsTextfile,
        out);
  }

  /**
   * The sync itself, for picocli and for {@link QuickSync}; prints the report to {@code out}.
   *
   * @param snapshot a sync in a running mount: point-in-time or not (one with no mount running
   *     reads an image nobody writes through cbtfs)
   * @param hooks run around the drain
   * @param metricsTextfile where an offline sync writes its metrics, or null
   */
  static int execute(
      Path image,
      Path stateDir,
      TargetAddress target,
      boolean full,
      SnapshotOption snapshot,
      FreezeHooks hooks,
      TrackingOptions.Cursors cursors,
      boolean json,
      Path metricsTextfile,
      PrintWriter out)
      throws IOException {
    MetricsTextfile textfile =
        metricsTextfile == null ? null : new MetricsTextfile(metricsTextfile, cursors.clock());
    SyncReport r =
        betweenHooks(
            hooks,
            ProgressBar.forTerminal(json),
            progress ->
                SyncClient.run(
                    image, stateDir, target, full, snapshot, cursors, progress, textfile));
    String thawWarning = hooks.thaw();
    out.println(json ? toJson(r) : summary(image, r));
    out.flush();
    if (!r.warning().isEmpty()) { // the data is synced: a warning, and still success
      System.err.println("cbtfs: warning: synced, but " + r.warning());
    }
    if (!thawWarning.isEmpty()) {
      System.err.println("cbtfs: warning: synced, but " + thawWarning);
    }
    return CbtfsCommand.EXIT_OK;
  }

  /**
   * A consistency group's sync in the running mount; prints a report per image that committed, then
   * fails naming the image that did not, if one did not.
   */
  static int executeGroup(
      List<Path> images,
      List<TargetAddress> targets,
      Path stateDir,
      boolean full,
      SnapshotOption snapshot,
      FreezeHooks hooks,
      boolean json,
      PrintWriter out)
      throws IOException {
    List<String> names = images.stream().map(Path::toString).toList();
    ProgressBar bar = ProgressBar.forTerminal(json);
    bar.nameMembers(names);
    GroupReport g =
        betweenHooks(
            hooks,
            bar,
            progress -> SyncClient.runGroup(images, targets, stateDir, full, snapshot, progress));
    String thawWarning = hooks.thaw();
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < g.committed().size(); i++) {
      SyncReport r = g.committed().get(i);
      lines.add(
          json
              ? "{\"image\":" + Json.quote(names.get(i)) + "," + toJson(r).substring(1)
              : summary(images.get(i), r));
    }
    out.println(
        json ? "[" + String.join(",", lines) + "]" : String.join(System.lineSeparator(), lines));
    out.flush();
    for (int i = 0; i < g.committed().size(); i++) {
      if (!g.committed().get(i).warning().isEmpty()) {
        System.err.println(
            "cbtfs: warning: " + images.get(i) + " synced, but " + g.committed().get(i).warning());
      }
    }
    if (!thawWarning.isEmpty()) {
      System.err.println("cbtfs: warning: " + thawWarning);
    }
    if (!g.failure().isEmpty()) {
      int synced = g.committed().size();
      throw new CbtfsException(
          g.failure()
              + "; not synced: "
              + String.join(", ", names.subList(synced, names.size()))
              + " (their targets keep their generations, their blocks stay dirty)"
              + (synced == 0
                  ? ""
                  : "; synced at the group's instant: "
                      + String.join(", ", names.subList(0, synced))));
    }
    return CbtfsCommand.EXIT_OK;
  }

  /** A sync that reports its progress to what it is given. */
  private interface SyncCall<R> {
    R run(SyncProgress progress) throws IOException;
  }

  /**
   * Runs the pre-hook, then {@code sync} behind {@code bar}, the post-hook running at its drain; if
   * the sync fails, the post-hook runs here (the guest is never left frozen) and the failure goes
   * on. After a success the caller thaws ({@link FreezeHooks#thaw}: the post-hook runs there only
   * if no drain ran it) and words the post-hook's warning its own way.
   */
  private static <R> R betweenHooks(FreezeHooks hooks, ProgressBar bar, SyncCall<R> sync)
      throws IOException {
    hooks.freeze();
    try {
      return sync.run(hooks.around(bar));
    } catch (IOException | RuntimeException e) {
      String thawed = hooks.thaw();
      if (!thawed.isEmpty()) {
        System.err.println("cbtfs: warning: " + thawed);
      }
      throw e;
    } finally {
      bar.finish();
    }
  }

  /** The report for a human: what was sent, then why that much (when the syncer said). */
  static String summary(Path image, SyncReport r) {
    String why = r.why().isEmpty() ? "" : System.lineSeparator() + "why: " + r.why();
    return String.format(
            Json.NUMBERS,
            "synced %s to %s: generation %d (%s), %d blocks, %s of data, %s on the wire (%.2fx), "
                + "%.3f s",
            image,
            r.target(),
            r.generation(),
            r.full() ? "full" : "incremental",
            r.blocks(),
            Json.humanBytes(r.dataBytes()),
            Json.humanBytes(r.wireBytes()),
            r.compressionRatio(),
            r.seconds())
        + why;
  }

  static String toJson(SyncReport r) {
    return String.format(
        Json.NUMBERS,
        "{\"target\":%s,\"generation\":%d,\"full\":%b,\"blocks\":%d,\"dataBytes\":%d,"
            + "\"wireBytes\":%d,\"records\":%d,\"zeroRecords\":%d,\"compressionRatio\":%.3f,"
            + "\"seconds\":%.3f,\"warning\":%s,\"base\":%d,\"why\":%s}",
        Json.quote(r.target()),
        r.generation(),
        r.full(),
        r.blocks(),
        r.dataBytes(),
        r.wireBytes(),
        r.records(),
        r.zeroRecords(),
        r.compressionRatio(),
        r.seconds(),
        Json.quote(r.warning()),
        r.base(),
        Json.quote(r.why()));
  }
}
