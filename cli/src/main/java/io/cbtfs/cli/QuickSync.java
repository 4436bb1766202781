package io.cbtfs.cli;

import io.cbtfs.tracker.TrackingOptions;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * {@code cbtfs sync [--json] IMAGE TARGET}, run without building picocli's model: the command a
 * schedule runs for every image, again and again, where start-up is most of its time. Picocli
 * reflects over its own converters and the command's options at every start, about 70 of the 140 ms
 * a warm {@code cbtfs --version} takes here. Only this exact shape is taken: any other option,
 * {@code --}, an {@code @file}, a missing or extra argument goes to picocli, which parses, helps
 * and reports usage errors as it always does. The sync, its output and its errors are {@link
 * SyncCommand}'s and {@link CbtfsCommand}'s own, so both ways behave alike.
 */
final class QuickSync {
  private QuickSync() {}

  /** The arguments of a plain sync; null when {@code args} are anything else. */
  record Plain(Path image, String target, boolean json) {}

  static Plain parse(String[] args) {
    if (args.length < 3 || args.length > 4 || !args[0].equals("sync")) {
      return null;
    }
    boolean json = false;
    String image = null;
    String target = null;
    for (int i = 1; i < args.length; i++) {
      String a = args[i];
      if (a.equals("--json") && !json) {
        json = true;
      } else if (a.isEmpty() || a.startsWith("-") || a.startsWith("@")) {
        return null; // an option picocli knows (or rejects), or an argument file
      } else if (image == null) {
        image = a;
      } else if (target == null) {
        target = a;
      } else {
        return null;
      }
    }
    if (target == null) {
      return null;
    }
    return new Plain(Path.of(image), target, json); // no NUL can reach argv: a valid path
  }

  /**
   * Runs {@code args} if they are a plain sync and returns the exit code; returns null, having done
   * nothing, if they are not.
   */
  static Integer run(String[] args, PrintWriter out, PrintWriter err) {
    Plain p = parse(args);
    if (p == null) {
      return null;
    }
    try {
      // the defaults of SyncCommand's options: no --state-dir, no --full, no --s3-* options (with
      // which S3Options.address parses the target as it is), the default --cursor-max-age
      return SyncCommand.execute(
          p.image(),
          null,
          TargetAddress.parse(p.target()),
          false,
          TrackingOptions.Cursors.DEFAULT,
          p.json(),
          null,
          out);
    } catch (Exception e) {
      return CbtfsCommand.OneLineErrors.report(e, "sync", err);
    }
  }
}
