package io.cbtfs.cli;

import io.cbtfs.syncer.crypto.EncryptionKey;
import io.cbtfs.syncer.crypto.KeyFile;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code cbtfs key}: make, show and re-enter the keys that encrypt backups. */
@Command(
    name = "key",
    mixinStandardHelpOptions = true,
    versionProvider = CbtfsCommand.Version.class,
    header = "Make, show or re-enter an encryption key (--encrypt-key).",
    description = {
      "A key file encrypts what sync stores in an s3://, archive: or cbtfs://…?archive target "
          + "(AES-256-GCM; see "
          + "docs/OPERATIONS.md, 'Encryption'). Keep a copy apart from the backups, on paper "
          + "too: without the key the backups cannot be read by anyone, cbtfs included."
    },
    subcommands = {KeyCommand.Create.class, KeyCommand.Show.class, KeyCommand.Import.class})
final class KeyCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        spec.commandLine(), "name what to do: create, show or import");
  }

  @Command(
      name = "create",
      mixinStandardHelpOptions = true,
      versionProvider = CbtfsCommand.Version.class,
      header = "Make a new random key in FILE (mode 0600; an existing file is never overwritten).",
      description = "Prints the key's fingerprint and its paper form: write the paper form down.")
  static final class Create implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
      EncryptionKey key = EncryptionKey.generate();
      KeyFile.create(file, key);
      var out = spec.commandLine().getOut();
      out.println("created key " + key.fingerprint() + " in " + file);
      out.println("paper backup (cbtfs key import reads it back):");
      out.print(KeyFile.paperForm(key));
      out.flush();
      return CbtfsCommand.EXIT_OK;
    }
  }

  @Command(
      name = "show",
      mixinStandardHelpOptions = true,
      versionProvider = CbtfsCommand.Version.class,
      header = "Print the fingerprint of the key in FILE (with --paper, its paper form).")
  static final class Show implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    @CommandLine.Option(names = "--paper", description = "Print the paper form as well.")
    boolean paper;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      EncryptionKey key = KeyFile.load(file);
      var out = spec.commandLine().getOut();
      out.println(paper ? KeyFile.paperForm(key).strip() : key.fingerprint());
      out.flush();
      return CbtfsCommand.EXIT_OK;
    }
  }

  @Command(
      name = "import",
      mixinStandardHelpOptions = true,
      versionProvider = CbtfsCommand.Version.class,
      header = "Read a key's paper form from standard input into a new FILE (mode 0600).",
      description =
          "Type the lines '1:' to '4:' (and the 'cbtfs key' line, which is checked); each line's "
              + "last group is a checksum that catches a typo on that line.")
  static final class Import implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE")
    Path file;

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    /** Where the paper form comes from: standard input, unless a test hands another. */
    InputStream in = System.in;

    @Override
    public Integer call() throws IOException {
      EncryptionKey key = KeyFile.fromPaper(new String(in.readAllBytes(), StandardCharsets.UTF_8));
      KeyFile.create(file, key);
      spec.commandLine().getOut().println("imported key " + key.fingerprint() + " into " + file);
      spec.commandLine().getOut().flush();
      return CbtfsCommand.EXIT_OK;
    }
  }
}
