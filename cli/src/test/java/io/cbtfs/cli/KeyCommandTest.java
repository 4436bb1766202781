package io.cbtfs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class KeyCommandTest {
  @TempDir Path tmp;

  @Test
  void createShowAndImportTheSameKey() throws Exception {
    Path file = tmp.resolve("backup.key");
    CliRun created = CliRun.of("key", "create", file.toString());
    assertThat(created.exitCode()).isZero();
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file)))
        .isEqualTo("rw-------");
    String fingerprint = created.out().lines().findFirst().orElseThrow().split(" ")[2];
    assertThat(fingerprint).matches("[0-9a-f]{32}");

    CliRun shown = CliRun.of("key", "show", file.toString());
    assertThat(shown.out().strip()).isEqualTo(fingerprint);

    String paper = CliRun.of("key", "show", "--paper", file.toString()).out();
    assertThat(created.out()).contains(paper.strip());
    KeyCommand.Import imp = new KeyCommand.Import();
    imp.in = new ByteArrayInputStream(paper.getBytes(StandardCharsets.UTF_8));
    StringWriter out = new StringWriter();
    CommandLine cli = new CommandLine(imp);
    cli.setOut(new PrintWriter(out));
    Path again = tmp.resolve("again.key");
    assertThat(cli.execute(again.toString())).isZero();
    assertThat(CliRun.of("key", "show", again.toString()).out().strip()).isEqualTo(fingerprint);
  }

  @Test
  void aKeyIsNeverOverwrittenAndAMissingOneIsOneLine() throws Exception {
    Path file = tmp.resolve("k");
    CliRun.of("key", "create", file.toString());
    String before = Files.readString(file);
    CliRun again = CliRun.of("key", "create", file.toString());
    assertThat(again.exitCode()).isEqualTo(1);
    assertThat(again.err().strip())
        .isEqualTo("cbtfs key create: " + file + " exists: a key file is never overwritten");
    assertThat(Files.readString(file)).isEqualTo(before);

    CliRun missing = CliRun.of("key", "show", tmp.resolve("none").toString());
    assertThat(missing.exitCode()).isEqualTo(1);
    assertThat(missing.err().lines()).hasSize(1);
  }

  @Test
  void aKeyForATargetThatCannotBeEncryptedIsAUsageError() throws Exception {
    Path key = tmp.resolve("k");
    CliRun.of("key", "create", key.toString());
    CliRun r =
        CliRun.of(
            "restore", "--list", "--encrypt-key", key.toString(), "file:" + tmp.resolve("r.img"));
    assertThat(r.exitCode()).isEqualTo(2);
    assertThat(r.err().strip())
        .contains("--encrypt-key works with s3://, archive: and cbtfs://…?archive targets");
  }
}
