package io.cbtfs.fs.mount;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The kernel's table of mounts, /proc/mounts. No logging and no FUSE classes here: the client side
 * of every command reads it, and loading {@link Mount} would cost a short command 30 ms.
 */
public final class ProcMounts {
  /** One mount: its source (fsname), mount point and type, unescaped. */
  public record Entry(String source, String mountPoint, String type) {}

  private ProcMounts() {}

  public static List<Entry> entries() throws IOException {
    List<Entry> out = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of("/proc/mounts"), StandardCharsets.UTF_8)) {
      String[] f = line.split(" ");
      if (f.length > 2) {
        out.add(new Entry(unescape(f[0]), unescape(f[1]), f[2]));
      }
    }
    return out;
  }

  /** Whether a mount is on {@code mountPoint}. */
  public static boolean isMounted(Path mountPoint) throws IOException {
    return isMounted(entries(), mountPoint);
  }

  /** Whether one of {@code mounts} is on {@code mountPoint}. */
  static boolean isMounted(List<Entry> mounts, Path mountPoint) {
    String target = mountPoint.toAbsolutePath().normalize().toString();
    return mounts.stream().anyMatch(e -> e.mountPoint().equals(target));
  }

  /** /proc/mounts writes space, tab, newline and backslash as octal escapes. */
  static String unescape(String field) {
    StringBuilder out = new StringBuilder(field.length());
    for (int i = 0; i < field.length(); i++) {
      char c = field.charAt(i);
      if (c == '\\' && i + 3 < field.length()) {
        out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
        i += 3;
      } else {
        out.append(c);
      }
    }
    return out.toString();
  }
}
