package dev.omnicall.worker;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

/**
 * The engine's thread: runs {@link TurnScheduler#runOnce()} step after step and, between two steps, the commands the
 * Kafka thread posts (a request to queue, a cancel, partitions to abandon), in the order posted. The scheduler, its
 * engine and the per-call cache are touched by this thread only, so the engine never waits for a poll, a flush or a
 * commit, and a BargeIn or CallEnded read while a step runs cancels before the next step. When the thread is not
 * running (before {@link #start}, after {@link #stop}) {@link #call} runs on the caller's thread.
 */
final class ComputeLoop implements Runnable {
    /**
     * How long an idle loop waits for a command before looking again. Only a command gives an idle scheduler work, and
     * posting one (a stop too) ends the wait at once, so this is a backstop, not a cadence: 50 ms woke an idle
     * engine thread 20 times a second (issue 16, an idle app stays idle).
     */
    static final long IDLE_WAIT_MS = 1000;

    private final TurnScheduler scheduler;
    private final LinkedBlockingQueue<Runnable> inbox = new LinkedBlockingQueue<>();
    /** Commands posted and not yet run (a command taken off the inbox counts until it has run). */
    private final AtomicInteger inFlight = new AtomicInteger();
    /** Requests posted and not yet in the scheduler's queue. */
    private final AtomicInteger pendingSubmits = new AtomicInteger();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final CountDownLatch exited = new CountDownLatch(1);
    private final Thread thread;
    private volatile boolean schedulerHasWork;
    private volatile boolean stopping;
    private volatile boolean started;

    ComputeLoop(TurnScheduler scheduler, String name) {
        this.scheduler = scheduler;
        this.thread = new Thread(this, name);
        this.thread.setDaemon(true);
    }

    void start() {
        started = true;
        thread.start();
    }

    /** Queues a command for the engine's thread; it runs before the next step. */
    void post(Runnable command) {
        inFlight.incrementAndGet();
        inbox.add(command);
    }

    /** Queues a request: counted by {@link #queued()} from now on. */
    void submit(Turn turn) {
        pendingSubmits.incrementAndGet();
        post(() -> {
            pendingSubmits.decrementAndGet();
            scheduler.submit(turn);
        });
    }

    /**
     * Runs {@code f} on the engine's thread between two steps and returns its result, waiting at most one step (a
     * rebalance must know its turns are stopped before it returns); on the caller's thread when the loop is not
     * running.
     */
    <T> T call(Function<TurnScheduler, T> f) {
        if (!isRunning()) {
            return f.apply(scheduler);
        }
        CompletableFuture<T> result = new CompletableFuture<>();
        post(() -> {
            try {
                result.complete(f.apply(scheduler));
            } catch (RuntimeException e) {
                result.completeExceptionally(e);
            }
        });
        while (true) {
            try {
                return result.get(100, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                if (!isRunning() && !result.isDone()) {
                    // the loop ended before it took the command: nothing runs the scheduler now, so run it here
                    return f.apply(scheduler);
                }
            } catch (ExecutionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the engine's thread", e);
            }
        }
    }

    /** True while a turn waits, runs or finishes its transcript, or a command is still to run. */
    boolean hasWork() {
        return inFlight.get() > 0 || schedulerHasWork;
    }

    /** Turns queued for a batch slot, those still on their way to the queue included; any thread. */
    int queued() {
        return scheduler.publishedWaiting() + pendingSubmits.get();
    }

    /** What ended the loop, if it failed. */
    Throwable failure() {
        return failure.get();
    }

    boolean isRunning() {
        return started && exited.getCount() > 0;
    }

    /**
     * Lets the step in progress end, runs the commands already posted but no further step, and waits for the thread
     * to exit.
     */
    void stop(Duration wait) {
        stopping = true;
        if (!started) {
            return;
        }
        post(() -> { }); // wakes an idle loop
        try {
            if (!exited.await(wait.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("the engine's thread did not stop within " + wait.toSeconds() + " s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void run() {
        try {
            while (!stopping) {
                Runnable command = inbox.poll();
                if (command != null) {
                    runCommand(command);
                    continue; // every command posted so far runs before the next step
                }
                if (scheduler.hasWork()) {
                    scheduler.runOnce();
                    schedulerHasWork = scheduler.hasWork();
                } else {
                    schedulerHasWork = false;
                    command = inbox.poll(IDLE_WAIT_MS, TimeUnit.MILLISECONDS);
                    if (command != null) {
                        runCommand(command);
                    }
                }
            }
            // Stopping: the commands already handed over still run (a cancel read before the stop ends its turn, so
            // the final commit covers it, as when one thread did both), but no further step.
            Runnable command;
            while ((command = inbox.poll()) != null) {
                runCommand(command);
            }
        } catch (Throwable e) {
            failure.compareAndSet(null, e);
        } finally {
            exited.countDown();
        }
    }

    private void runCommand(Runnable command) {
        try {
            command.run();
        } finally {
            schedulerHasWork = scheduler.hasWork();
            inFlight.decrementAndGet();
        }
    }
}
