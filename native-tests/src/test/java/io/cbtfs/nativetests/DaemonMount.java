package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import io.cbtfs.fs.mount.ProcMounts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A backing folder (tmp/images) and a mount point (tmp/mnt) for the cbtfs command's daemon mount,
 * as an operator makes it. {@link #close} always leaves no mount behind: {@code cbtfs unmount},
 * else a lazy fusermount.
 */
final class DaemonMount implements AutoCloseable {
  private static final Pattern PID = Pattern.compile("\\(pid (\\d+),");

  final Path backing;
  final Path mnt;

  private DaemonMount(Path tmp) throws IOException {
    this.backing = Files.createDirectory(tmp.resolve("images"));
    this.mnt = Files.createDirectory(tmp.resolve("mnt"));
  }

  /** The two folders, not yet mounted: put images in {@link #backing}, then {@link #mount}. */
  static DaemonMount prepare(Path tmp) throws IOException {
    Fuse.require();
    return new DaemonMount(tmp);
  }

  /** Runs {@code cbtfs mount --daemon OPTIONS backing mnt}; returns the daemon it started. */
  ProcessHandle mount(String... options) {
    List<String> args = Tools.list("mount", "--daemon");
    args.addAll(List.of(options));
    args.add(backing.toString());
    args.add(mnt.toString());
    Tools.Result r = Cbtfs.run(args.toArray(String[]::new));
    assertThat(r.exitCode()).as(r.output()).isZero();
    Matcher pid = PID.matcher(r.output());
    assertThat(pid.find()).as(r.output()).isTrue();
    return ProcessHandle.of(Long.parseLong(pid.group(1))).orElseThrow();
  }

  /** {@code name} through the mount. */
  Path image(String name) {
    return mnt.resolve(name);
  }

  /** {@code name} in the backing folder. */
  Path backingFile(String name) {
    return backing.resolve(name);
  }

  @Override
  public void close() throws IOException {
    if (ProcMounts.isMounted(mnt)) {
      Cbtfs.run("unmount", mnt.toString());
    }
    if (ProcMounts.isMounted(mnt)) {
      Tools.exec(List.of("fusermount", "-u", "-z", mnt.toString()), 30);
    }
  }
}
