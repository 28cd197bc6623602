package dev.omnicall.worker;

import static org.assertj.core.api.Assertions.assertThat;

import dev.omnicall.events.AudioChunk;
import dev.omnicall.events.CallerText;
import dev.omnicall.events.TextDelta;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.kafka.SampleEvents;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * The engine's thread of the worker: requests and cancels posted from another thread run there between steps, in
 * order; a call waits for it and returns its answer; a failing command ends the loop with its error kept, after which
 * calls run on the caller's thread.
 */
class ComputeLoopTest {
    private static final TopicPartition TP = new TopicPartition("turn-requests", 0);

    /** Output as the engine's thread hands it over, with the thread that did. */
    static final class Recorded implements TurnOutput {
        final List<String> events = new CopyOnWriteArrayList<>();
        final List<String> threads = new CopyOnWriteArrayList<>();
        final CountDownLatch finished;

        Recorded(int turns) {
            finished = new CountDownLatch(turns);
        }

        @Override
        public void text(Turn turn, TextDelta delta) {
            threads.add(Thread.currentThread().getName());
            if (delta.getCancelled()) {
                events.add(turn.callId() + ":cancelled");
            }
        }

        @Override
        public void audio(Turn turn, AudioChunk chunk) {
            threads.add(Thread.currentThread().getName());
        }

        @Override
        public void callerText(Turn turn, CallerText text) {
        }

        @Override
        public void transcriptionFailed(Turn turn, Throwable error) {
        }

        @Override
        public void finished(Turn turn, Outcome outcome, Throwable error) {
            events.add(turn.callId() + ":" + outcome);
            finished.countDown();
        }
    }

    private static Turn turn(String callId, long offset) {
        TurnRequest r = TurnRequest.newBuilder(SampleEvents.turnRequest(callId)).setTurnId(1)
                .setAudio(ByteBuffer.wrap(new byte[3200])).build();
        return new Turn(r, TurnRequests.toInput(r), TP, offset, callId.getBytes(), new byte[0], 7);
    }

    @Test
    void shouldRunRequestsAndCancelsOnTheEngineThreadInTheOrderPosted() throws Exception {
        ScriptedEngine engine = new ScriptedEngine(400, 2).withoutTranscription();
        Recorded out = new Recorded(2);
        TurnScheduler scheduler = new TurnScheduler(engine, new ConversationCache(0, new CountingWorkerMetrics()), 4,
                true, "w1", new CountingWorkerMetrics(), out);
        ComputeLoop loop = new ComputeLoop(scheduler, "engine-test");
        loop.start();
        try {
            // Given two requests posted from this thread, and a cancel of the first right after them
            loop.submit(turn("a", 0));
            loop.submit(turn("b", 1));
            loop.post(() -> scheduler.cancelCall("a", "call-ended"));
            assertThat(loop.hasWork()).isTrue();
            // When the engine thread runs them: a is cancelled before b's 400 steps end, b completes
            assertThat(out.finished.await(30, TimeUnit.SECONDS)).isTrue();
            assertThat(out.events).containsExactly("a:cancelled", "a:CANCELLED", "b:COMPLETED");
            // Then all output came from the engine's thread, and a call answers from there too
            assertThat(out.threads).isNotEmpty().containsOnly("engine-test");
            String engineThread = loop.call(s -> Thread.currentThread().getName());
            assertThat(engineThread).isEqualTo("engine-test");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (loop.hasWork() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertThat(loop.hasWork()).isFalse();
            assertThat(loop.queued()).isZero();
        } finally {
            loop.stop(Duration.ofSeconds(10));
        }
        assertThat(loop.isRunning()).isFalse();
        String caller = loop.call(s -> Thread.currentThread().getName());
        assertThat(caller).isEqualTo(Thread.currentThread().getName());
    }

    @Test
    void shouldKeepTheErrorOfAFailedCommandAndStop() throws Exception {
        ScriptedEngine engine = new ScriptedEngine(3, 1).withoutTranscription();
        TurnScheduler scheduler = new TurnScheduler(engine, new ConversationCache(0, new CountingWorkerMetrics()), 4,
                true, "w1", new CountingWorkerMetrics(), new Recorded(0));
        ComputeLoop loop = new ComputeLoop(scheduler, "engine-test-2");
        loop.start();
        loop.post(() -> {
            throw new IllegalStateException("boom");
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (loop.isRunning() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(loop.isRunning()).isFalse();
        assertThat(loop.failure()).isInstanceOf(IllegalStateException.class).hasMessage("boom");
        boolean work = loop.call(s -> s.hasWork());
        assertThat(work).isFalse();
    }

    /**
     * Issue 16: an idle engine thread waits up to {@link ComputeLoop#IDLE_WAIT_MS} (a second) for a command; a command
     * posted meanwhile, and a stop, must end that wait at once rather than when it runs out.
     */
    @Test
    void shouldRunACommandPostedToAnIdleLoopAtOnceAndStopWithoutWaitingOutTheIdleWait() throws Exception {
        ScriptedEngine engine = new ScriptedEngine(3, 1).withoutTranscription();
        TurnScheduler scheduler = new TurnScheduler(engine, new ConversationCache(0, new CountingWorkerMetrics()), 4,
                true, "w1", new CountingWorkerMetrics(), new Recorded(0));
        ComputeLoop loop = new ComputeLoop(scheduler, "engine-test-3");
        loop.start();
        Thread.sleep(200); // the loop is in its idle wait
        for (int i = 0; i < 5; i++) {
            CountDownLatch ran = new CountDownLatch(1);
            long t0 = System.nanoTime();
            loop.post(ran::countDown);
            assertThat(ran.await(ComputeLoop.IDLE_WAIT_MS / 2, TimeUnit.MILLISECONDS))
                    .as("a command posted to the idle loop ran before half the idle wait").isTrue();
            System.out.printf("posted -> ran on an idle loop: %.1f ms%n", (System.nanoTime() - t0) / 1e6);
            Thread.sleep(150 + 37L * i); // posted at varied points of the next idle wait
        }
        long t0 = System.nanoTime();
        loop.stop(Duration.ofSeconds(5));
        assertThat(loop.isRunning()).isFalse();
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofMillis(ComputeLoop.IDLE_WAIT_MS / 2));
    }
}
