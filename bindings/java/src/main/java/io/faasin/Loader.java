package io.faasin;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Finds and loads libfaasin_jni. In order: the file or directory named by
 * {@code -Dfaasin.library.path}, then by env {@code FAASIN_JNI_LIB}, then a
 * copy in a {@code -Djava.library.path} directory, then the copy inside this
 * jar ({@code /native/<os>-<arch>/libfaasin_jni.so}), extracted to a
 * temporary file that is deleted right after loading.
 */
final class Loader {
    static final String FILE = "libfaasin_jni.so";

    private Loader() {}

    static void load() {
        String prop = System.getProperty("faasin.library.path");
        if (prop != null && !prop.isEmpty()) {
            loadFile(prop, "-Dfaasin.library.path");
            return;
        }
        String env = System.getenv("FAASIN_JNI_LIB");
        if (env != null && !env.isEmpty()) {
            loadFile(env, "FAASIN_JNI_LIB");
            return;
        }
        for (String dir : System.getProperty("java.library.path", "").split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isRegularFile(Path.of(dir, FILE))) {
                System.load(Path.of(dir, FILE).toAbsolutePath().toString());
                return;
            }
        }
        loadResource();
    }

    private static void loadFile(String where, String from) {
        Path p = Path.of(where);
        if (Files.isDirectory(p)) {
            p = p.resolve(FILE);
        }
        if (!Files.isRegularFile(p)) {
            throw new UnsatisfiedLinkError(from + " names " + where + ", but " + p + " is not a file");
        }
        System.load(p.toAbsolutePath().toString());
    }

    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (os.startsWith("linux")) {
            os = "linux";
        }
        if (arch.equals("amd64") || arch.equals("x86_64")) {
            arch = "x86_64";
        } else if (arch.equals("arm64")) {
            arch = "aarch64";
        }
        return os + "-" + arch;
    }

    private static void loadResource() {
        String res = "/native/" + platform() + "/" + FILE;
        try (InputStream in = Loader.class.getResourceAsStream(res)) {
            if (in == null) {
                throw new UnsatisfiedLinkError("this FAASIN jar has no native library for " + platform()
                        + " (no resource " + res + "); build the jar with mvn package in bindings/java, or point"
                        + " -Dfaasin.library.path or FAASIN_JNI_LIB at a libfaasin_jni.so");
            }
            Path tmp = Files.createTempFile("libfaasin_jni", ".so");
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                System.load(tmp.toAbsolutePath().toString());
            } finally {
                // The loaded library stays mapped; nothing is left on disk.
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            UnsatisfiedLinkError err = new UnsatisfiedLinkError("cannot extract " + res
                    + " to java.io.tmpdir (" + e + "); set -Dfaasin.library.path instead");
            err.initCause(e);
            throw err;
        }
    }
}
