package dev.omnicall.reliability;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** What every test of the suite shares: a temporary directory and the brokers, roles and callers to close after it, last first. */
abstract class ReliabilityTest {

    @TempDir
    Path tmp;

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() {
        for (int i = open.size() - 1; i >= 0; i--) {
            try {
                open.get(i).close();
            } catch (Exception e) {
                System.out.println("close: " + e);
            }
        }
        open.clear();
    }

    <T extends AutoCloseable> T keep(T c) {
        open.add(c);
        return c;
    }
}
