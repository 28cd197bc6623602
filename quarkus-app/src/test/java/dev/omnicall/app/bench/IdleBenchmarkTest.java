package dev.omnicall.app.bench;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The idle benchmark's readings of /proc and of a thread dump, on fixtures copied from a real run. */
class IdleBenchmarkTest {

    @Test
    void shouldReadUtimePlusStimeWhenTheNameHoldsSpacesAndParentheses() {
        // Given a task stat line whose comm is "C2 Compiler) x": fields 14 (utime) 236, 15 (stime) 7
        String stat = "4711 (C2 Compiler) x) S 1 4711 4711 0 -1 4194624 9 0 0 0 236 7 0 0 20 0 1 0 100 0 0";

        // Then
        assertEquals(243, IdleBenchmark.ticks(stat));
    }

    @Test
    void shouldCountVoluntaryAndInvoluntarySwitches() {
        String status = "Name:\tomnicall-worke\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t1690\n"
                + "nonvoluntary_ctxt_switches:\t12\n";

        assertEquals(1702, IdleBenchmark.switches(status));
    }

    @Test
    void shouldMapHexAndDecimalNidsToFullThreadNames() {
        // Given JDK 17 (hex nid) and JDK 21 (decimal nid) thread dump headers
        String dump = """
                "data-plane-kafka-request-handler-3" #61 daemon prio=5 os_prio=0 cpu=210.55ms elapsed=95.21s tid=0x00007f3c tid=0x0 nid=0x3215 waiting on condition  [0x00007f]
                   java.lang.Thread.State: TIMED_WAITING (parking)
                "kafka-coordinator-heartbeat-thread | omnicall-streams" #90 daemon prio=5 os_prio=0 cpu=1.2ms elapsed=9s tid=0x1 nid=12823 in Object.wait()
                "VM Periodic Task Thread" os_prio=0 cpu=20.10ms elapsed=96.01s tid=0x00007f3c nid=0x31f0 waiting on condition
                """;

        // When
        Map<Long, String> names = IdleBenchmark.parseThreadNames(dump);

        // Then
        assertEquals(3, names.size());
        assertEquals("data-plane-kafka-request-handler-3", names.get(0x3215L));
        assertEquals("kafka-coordinator-heartbeat-thread | omnicall-streams", names.get(12823L));
        assertEquals("VM Periodic Task Thread", names.get(0x31f0L));
    }

    @Test
    void shouldPoolThreadsOfOneFullNameAndFallBackToTheKernelName() {
        // Given two request handlers, a thread jcmd did not name, and one born during the window
        Map<String, IdleBenchmark.ThreadUse> before = Map.of(
                "data-plane-kafk#100", new IdleBenchmark.ThreadUse(10, 100),
                "data-plane-kafk#101", new IdleBenchmark.ThreadUse(20, 200),
                "C2 CompilerThre#7", new IdleBenchmark.ThreadUse(500, 50));
        Map<String, IdleBenchmark.ThreadUse> after = Map.of(
                "data-plane-kafk#100", new IdleBenchmark.ThreadUse(13, 300),
                "data-plane-kafk#101", new IdleBenchmark.ThreadUse(21, 400),
                "C2 CompilerThre#7", new IdleBenchmark.ThreadUse(600, 60),
                "omnicall-worker#102", new IdleBenchmark.ThreadUse(2, 30));
        Map<Long, String> names = Map.of(100L, "data-plane-kafka-request-handler-0",
                101L, "data-plane-kafka-request-handler-1", 102L, "omnicall-worker-bench");

        // When
        Map<String, IdleBenchmark.ThreadUse> used = IdleBenchmark.busiest(before, after, names);

        // Then: pooled, largest first, the unnamed one under its kernel name
        assertEquals(Map.of("CN CompilerThre", new IdleBenchmark.ThreadUse(100, 10),
                "data-plane-kafka-request-handler-N", new IdleBenchmark.ThreadUse(4, 400),
                "omnicall-worker-bench", new IdleBenchmark.ThreadUse(2, 30)), used);
        assertEquals("CN CompilerThre", used.keySet().iterator().next());
        assertTrue(IdleBenchmark.isJit("CN CompilerThre"));
    }

    @Test
    void shouldNameTheBusiestThreadsInOneKeyValueWithoutSpacesOrTheStreamsClientId() {
        // Given the pooled threads of a window, busiest first
        Map<String, IdleBenchmark.ThreadUse> busiest = new java.util.LinkedHashMap<>();
        busiest.put("omnicall-worker", new IdleBenchmark.ThreadUse(44, 1290));
        busiest.put("omnicall-streams-NaNe-NeNc-NcN-bNaN-dbNcNfeaNfN-StreamThread-N", new IdleBenchmark.ThreadUse(26, 860));
        busiest.put("kafka-coordinator-heartbeat-thread | omnicall-workers", new IdleBenchmark.ThreadUse(9, 810));
        busiest.put("GC Thread#N", new IdleBenchmark.ThreadUse(3, 30));

        // When the line names three
        String top = IdleBenchmark.topThreads(busiest, 3);

        // Then one token: name:ticks, comma-separated
        assertEquals("omnicall-worker:44,omnicall-streams-StreamThread-N:26,kafka-coordinator-heartbeat-thread_|_omnicall-workers:9",
                top);
    }
}
