package io.cbtfs.cli;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.Location;
import com.tngtech.archunit.lang.ArchRule;
import java.util.Arrays;
import java.util.Set;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The module rules of DESIGN.md, checked over every module's classes. The cli's test classpath sees
 * tracker, fs, syncer, s3, nbd and cli, so the rules run here, in {@code mvn verify}.
 */
class ArchitectureTest {
  private static final String ROOT = "io.cbtfs";
  private static final String[] MODULES = {"tracker", "fs", "syncer", "s3", "nbd", "cli"};

  /** Test classes: Maven's test-classes directories and the modules' test-jars. */
  private static final Pattern TEST_LOCATION = Pattern.compile(".*(/test-classes/|-tests\\.jar).*");

  private static JavaClasses production;

  @BeforeAll
  static void importClasses() {
    production =
        new ClassFileImporter()
            .withImportOption(location -> !isTest(location))
            .importPackages(ROOT);
  }

  private static boolean isTest(Location location) {
    return location.matches(TEST_LOCATION);
  }

  @Test
  void trackerDependsOnNoOtherModule() {
    dependsOnlyOn("tracker").check(production);
  }

  @Test
  void fsDependsOnlyOnTracker() {
    dependsOnlyOn("fs", "tracker").check(production);
  }

  @Test
  void syncerDependsOnlyOnTracker() {
    dependsOnlyOn("syncer", "tracker").check(production);
  }

  @Test
  void s3DependsOnlyOnSyncerAndTracker() {
    dependsOnlyOn("s3", "syncer", "tracker").check(production);
  }

  @Test
  void nbdDependsOnlyOnTracker() {
    dependsOnlyOn("nbd", "tracker").check(production);
  }

  @Test
  void nothingDependsOnCli() {
    noClasses()
        .that()
        .resideOutsideOfPackage(module("cli"))
        .should()
        .dependOnClassesThat()
        .resideInAPackage(module("cli"))
        .check(production);
  }

  @Test
  void onlyTheFuseAdapterSeesJnrFuse() {
    noClasses()
        .that()
        .resideOutsideOfPackage(ROOT + ".fs.fuse..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage("ru.serce.jnrfuse..")
        .because("CbtFuseFs and its helpers are the one boundary to jnr-fuse")
        .check(production);
  }

  @Test
  void theKernelTransportUsesNeitherJnrFuseNorTheLibfuseAdapter() {
    noClasses()
        .that()
        .resideInAPackage(ROOT + ".fs.kernel..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("ru.serce.jnrfuse..", ROOT + ".fs.fuse..")
        .because("the kernel transport speaks the protocol itself: it must run without libfuse")
        .check(production);
  }

  @Test
  void packagesAreFreeOfCycles() {
    slices().matching(ROOT + ".(**)").should().beFreeOfCycles().check(production);
  }

  @Test
  void theRemoteClientDoesNotUseTheServer() {
    noClasses()
        .that()
        .haveNameMatching(Pattern.quote(ROOT + ".syncer.remote.RemoteTarget") + "(\\$.*)?")
        .should()
        .dependOnClassesThat()
        .haveNameMatching(Pattern.quote(ROOT + ".syncer.remote.Receiver") + "(\\$.*)?")
        .because("the payloads both speak live in RemoteMessages")
        .check(production);
  }

  @Test
  void theControlSocketReachesTheMountOnlyThroughMountService() {
    noClasses()
        .that()
        .haveNameMatching(
            Pattern.quote(ROOT + ".cli.Control")
                + "(Server|Client|Protocol|Channel|Request)(\\$.*)?")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(module("fs"))
        .orShould()
        .dependOnClassesThat()
        .haveNameMatching( // the tracker's state; its exception root is everyone's
            Pattern.quote(ROOT + ".tracker.") + "(?!CbtfsException$).*")
        .orShould()
        .dependOnClassesThat()
        .haveNameMatching(Pattern.quote(ROOT + ".cli.RunningMount") + "(\\$.*)?")
        .because("the control server calls the mount's MountService, whatever runs behind it")
        .check(production);
  }

  @Test
  void importSeesEveryModule() {
    for (String name : MODULES) {
      String pkg = ROOT + "." + name;
      boolean seen = production.stream().anyMatch(c -> c.getPackageName().startsWith(pkg));
      if (!seen) {
        throw new AssertionError("no production class of " + pkg + " on the classpath");
      }
    }
  }

  /** No class of {@code module} depends on a cbtfs module outside {@code allowed}. */
  private static ArchRule dependsOnlyOn(String module, String... allowed) {
    Set<String> ok = Set.of(allowed);
    String[] forbidden =
        Arrays.stream(MODULES)
            .filter(m -> !m.equals(module) && !ok.contains(m))
            .map(ArchitectureTest::module)
            .toArray(String[]::new);
    return noClasses()
        .that()
        .resideInAPackage(module(module))
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(forbidden)
        .because("DESIGN.md: the modules' dependencies point one way");
  }

  private static String module(String name) {
    return ROOT + "." + name + "..";
  }
}
