package dev.omnicall.worker;

import dev.omnicall.events.TextDelta;
import dev.omnicall.kafka.Topics;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static dev.omnicall.worker.WorkerHarness.await;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link WorkerMain} as its own JVM on the real broker: kill -9 in the middle of a turn, start another
 * worker process, and the request is generated again as a higher attempt, from the start.
 */
@Timeout(240)
class WorkerProcessIT {

    static final Duration WAIT = Duration.ofSeconds(90);
    static WorkerHarness harness;
    final List<Process> processes = new ArrayList<>();

    @BeforeAll
    static void startBroker() {
        harness = new WorkerHarness(1);
    }

    @AfterAll
    static void stopBroker() {
        if (harness != null) {
            harness.close();
        }
    }

    @AfterEach
    void killWorkers() throws InterruptedException {
        for (Process p : processes) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }

    Process startWorkerProcess(String instanceId) throws IOException, InterruptedException {
        Path java = Paths.get(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = List.of(java.toString(), "-Xmx1g", "-Dai.djl.offline=true",
                "-Dai.djl.pytorch.num_threads=1", "-Dai.djl.pytorch.num_interop_threads=1",
                "-DENGINE_CACHE_DIR=" + Paths.get("target", "djl-cache").toAbsolutePath(),
                "-cp", System.getProperty("java.class.path"), WorkerMain.class.getName(),
                "kafka.bootstrap.servers=" + harness.kafka.bootstrapServers(),
                // a killed member is noticed after the session timeout: keep it at the broker's minimum
                "kafka.session.timeout.ms=6000", "kafka.heartbeat.interval.ms=1000",
                "omnicall.worker.model-dir=" + WorkerHarness.tinyCheckpoint(),
                "omnicall.worker.encoder-padded-seconds=0",
                "omnicall.worker.max-new-tokens=200",
                "omnicall.worker.instance-id=" + instanceId,
                "omnicall.worker.group-id=process-workers");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("OMP_NUM_THREADS", "1");
        Process p = pb.start();
        processes.add(p);
        CountDownLatch ready = new CountDownLatch(1);
        Thread pump = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.startsWith("WORKER READY")) {
                        ready.countDown();
                    }
                    if (line.contains("ERROR") || line.startsWith("WORKER") || line.contains("worker config")) {
                        System.out.println("[" + instanceId + "] " + line);
                    }
                }
            } catch (IOException e) {
                // the process died
            }
        }, "pump-" + instanceId);
        pump.setDaemon(true);
        pump.start();
        assertThat(ready.await(WAIT.toSeconds(), TimeUnit.SECONDS)).as(instanceId + " ready").isTrue();
        return p;
    }

    @Test
    void shouldRegenerateTheTurnAsAHigherAttemptWhenTheWorkerProcessIsKilledMidTurn() throws Exception {
        // Given a worker process generating a long reply
        Process first = startWorkerProcess("proc-a");
        String callId = WorkerHarness.newCallId();
        harness.send(Topics.TURN_REQUESTS, callId, WorkerHarness.request(callId, 1, WorkerHarness.utterance(0.5, 11), List.of()));
        await("proc-a's first deltas", WAIT, () -> harness.texts(callId).size() >= 3);
        // When it is killed with SIGKILL mid-turn
        first.destroyForcibly();
        assertThat(first.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(harness.turnEnded(callId, 1)).as("killed before the end of the turn").isFalse();
        int firstAttempt = harness.texts(callId).get(0).getAttempt();
        String partial = text(harness.texts(callId), firstAttempt);
        // And another worker process joins the group
        startWorkerProcess("proc-b");
        // Then the uncommitted request is generated again, as a higher attempt, complete and in order
        await("proc-b's complete attempt", WAIT, () -> harness.texts(callId).stream()
                .anyMatch(t -> t.getLast() && t.getAttempt() != firstAttempt)
                && harness.chunks(callId).stream().anyMatch(c -> c.getLast() && c.getAttempt() != firstAttempt));
        Map<Integer, List<TextDelta>> byAttempt = harness.texts(callId).stream()
                .collect(Collectors.groupingBy(TextDelta::getAttempt));
        int second = byAttempt.keySet().stream().filter(a -> a != firstAttempt).findFirst().orElseThrow();
        List<TextDelta> redo = byAttempt.get(second);
        assertThat(second).isGreaterThan(firstAttempt);
        assertThat(redo).extracting(TextDelta::getSeq).containsExactlyElementsOf(IntStream.range(0, redo.size()).boxed().toList());
        assertThat(redo).allMatch(t -> t.getWorkerId().toString().equals("proc-b") && !t.getCancelled());
        assertThat(harness.chunks(callId)).filteredOn(c -> c.getAttempt() == second).extracting(c -> c.getSeq())
                .containsExactlyElementsOf(IntStream.range(0, (int) harness.chunks(callId).stream()
                        .filter(c -> c.getAttempt() == second).count()).boxed().toList());
        // And greedy decoding on the same checkpoint repeats what the killed attempt had said so far
        assertThat(text(redo, second)).startsWith(partial);
    }

    private static String text(List<TextDelta> deltas, int attempt) {
        return deltas.stream().filter(t -> t.getAttempt() == attempt).sorted((a, b) -> Integer.compare(a.getSeq(), b.getSeq()))
                .map(t -> t.getText().toString()).collect(Collectors.joining());
    }
}
