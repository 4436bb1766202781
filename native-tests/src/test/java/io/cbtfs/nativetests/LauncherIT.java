package io.cbtfs.nativetests;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue item 10: {@code bin/cbtfs} on a machine that lacks what it needs. The launcher runs on a
 * copy of the project without a jar and with a PATH of its own, where Maven, javac, fusermount and
 * libfuse 2 are missing and apt-get is a recorder that "installs" them (fakes for mvn, javac,
 * fusermount, and an ldconfig that then lists libfuse.so.2). What it cannot prove: that the real
 * apt-get and Maven do what the fakes do (this machine has everything installed already).
 */
class LauncherIT {
  @TempDir Path tmp;
  Path project;
  Path bin;
  Path records;

  @BeforeEach
  void fakeMachine() throws IOException {
    Fuse.require(); // the launcher checks /dev/fuse for real
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
    project = Files.createDirectories(tmp.resolve("project"));
    Files.createDirectories(project.resolve("bin"));
    Files.createDirectories(project.resolve("cli/target"));
    Path launcher = Cbtfs.jar().toAbsolutePath().getParent().getParent().getParent();
    Files.copy(launcher.resolve("bin/cbtfs"), project.resolve("bin/cbtfs"));
    records = Files.createDirectory(tmp.resolve("records"));
    bin = Files.createDirectory(tmp.resolve("path"));
    for (String tool : List.of("bash", "grep", "rm", "mv", "mktemp", "tail", "cat", "find")) {
      Files.createSymbolicLink(bin.resolve(tool), Path.of("/bin", tool).toRealPath());
    }
    Files.createSymbolicLink(bin.resolve("java"), Path.of(Cbtfs.java()));
    script(
        "ldconfig",
        "[ -e " + records.resolve("libfuse-installed") + " ] && echo '\tlibfuse.so.2 => /x'",
        "exit 0");
    script(
        "apt-get",
        "echo \"$DEBIAN_FRONTEND $*\" >> " + records.resolve("apt-get"),
        "case \"$1\" in",
        "  update) /bin/touch " + records.resolve("updated") + "; exit 0 ;;",
        "  install) [ -e " + records.resolve("updated") + " ] || exit 100 ;;", // stale lists
        "esac",
        "/bin/touch " + records.resolve("libfuse-installed"),
        "for t in javac fusermount; do printf '#!/bin/bash\\nexit 0\\n' > " + bin + "/$t; done",
        "printf '#!/bin/bash\\necho \"MAVEN_OPTS=$MAVEN_OPTS mvn $*\" >> "
            + records.resolve("mvn")
            + "\\n/bin/cp "
            + Cbtfs.jar().toAbsolutePath()
            + " cli/target/cbtfs.jar\\n' > "
            + bin
            + "/mvn",
        "/bin/chmod +x " + bin + "/javac " + bin + "/fusermount " + bin + "/mvn");
  }

  private void script(String name, String... lines) throws IOException {
    Path file = bin.resolve(name);
    Files.writeString(file, "#!/bin/bash\n" + String.join("\n", lines) + "\n");
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  private Tools.Result launch(List<String> runAs, String... args) {
    List<String> command = new java.util.ArrayList<>(runAs);
    command.addAll(List.of("/usr/bin/env", "-i", "PATH=" + bin, "HOME=" + tmp));
    command.add("/bin/bash");
    command.add(project.resolve("bin/cbtfs").toString());
    command.addAll(List.of(args));
    return Tools.exec(command, 300, Map.of());
  }

  /** As root: one line says what it installs, apt-get runs non-interactively, then the build. */
  @Test
  void asRootItInstallsWhatTheBuildAndAMountNeedThenBuildsAndRuns() throws IOException {
    Path missing = tmp.resolve("no-such-folder");
    Tools.Result r = launch(List.of(), "mount", missing.toString(), tmp.toString());

    assertThat(r.output().lines().filter(l -> l.startsWith("cbtfs: installing")))
        .containsExactly(
            "cbtfs: installing openjdk-17-jdk-headless maven libfuse2 fuse (for a Java 17 JDK,"
                + " to build the jar, Maven, to build the jar, libfuse 2, fusermount)");
    assertThat(Files.readAllLines(records.resolve("apt-get")))
        .as("stale package lists: updated, then installed")
        .containsExactly(
            "noninteractive install -y -qq --no-install-recommends openjdk-17-jdk-headless maven"
                + " libfuse2 fuse",
            "noninteractive update -qq",
            "noninteractive install -y -qq --no-install-recommends openjdk-17-jdk-headless maven"
                + " libfuse2 fuse");
    String mvn = Files.readString(records.resolve("mvn"));
    assertThat(mvn)
        .contains("-Djansi.noreset=true", " -B ", "-Dstyle.color=never", "-pl cli -am package");
    assertThat(r.output()).doesNotContain("\u001b");
    assertThat(r.exitCode()).as(r.output()).isEqualTo(1);
    assertThat(r.output().strip())
        .endsWith("cbtfs mount: backing directory " + missing + " does not exist");
  }

  /** Not as root: nothing is installed, and one line says the command that would. */
  @Test
  void notAsRootItSaysTheOneCommandToRun() throws IOException {
    Tools.require("runuser");
    Files.copy(
        Cbtfs.jar(), project.resolve("cli/target/cbtfs.jar"), StandardCopyOption.REPLACE_EXISTING);
    Tools.Result r = launch(List.of("runuser", "-u", "nobody", "--"), "demo");
    assertThat(r.exitCode()).as(r.output()).isEqualTo(1);
    assertThat(r.output().strip())
        .isEqualTo(
            "cbtfs: missing: libfuse 2, fusermount; install them as root with: apt-get install -y"
                + " --no-install-recommends libfuse2 fuse");
    assertThat(records.resolve("apt-get")).doesNotExist();
  }

  /** After a git pull: the jar runs, and one line says it is older than the sources. */
  @Test
  void aJarOlderThanItsSourcesIsNamedOnEveryRun() throws IOException {
    Path jar = project.resolve("cli/target/cbtfs.jar");
    Files.copy(Cbtfs.jar(), jar, StandardCopyOption.REPLACE_EXISTING);
    Path source = project.resolve("cli/src/main/java/io/cbtfs/cli/Pulled.java");
    Files.createDirectories(source.getParent());
    Files.writeString(source, "class Pulled {}");
    java.nio.file.attribute.FileTime built = Files.getLastModifiedTime(jar);
    Files.setLastModifiedTime(
        source, java.nio.file.attribute.FileTime.fromMillis(built.toMillis() - 60_000));

    Path test = project.resolve("cli/src/test/java/io/cbtfs/cli/PulledTest.java");
    Files.createDirectories(test.getParent());
    Files.writeString(test, "class PulledTest {}"); // newer than the jar, but not in it

    Tools.Result fresh = launch(List.of(), "--version");
    assertThat(fresh.exitCode()).as(fresh.output()).isZero();
    assertThat(fresh.output()).doesNotContain("warning");

    Files.setLastModifiedTime(
        source, java.nio.file.attribute.FileTime.fromMillis(built.toMillis() + 60_000));
    Tools.Result stale = launch(List.of(), "--version");
    assertThat(stale.exitCode()).as(stale.output()).isZero();
    assertThat(stale.output())
        .contains(
            "cbtfs: warning: "
                + jar
                + " is older than its sources"
                + " (cli/src/main/java/io/cbtfs/cli/Pulled.java changed since it was built)")
        .contains("cbtfs ");
  }
}
