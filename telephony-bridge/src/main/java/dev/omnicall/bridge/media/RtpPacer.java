package dev.omnicall.bridge.media;

import java.util.PriorityQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The clock that sends every call's RTP: a few threads, each waking at the earliest deadline of the
 * senders it owns. Deadlines are absolute ({@code start + n * period}), so a late wake-up does not push
 * later packets back; they catch up. A sender that falls more than {@value #MAX_BEHIND_PERIODS} periods
 * behind (a long GC pause) is re-based to now instead of bursting, and the slip is counted.
 *
 * <p>One thread serves hundreds of calls (a tick is an encode of 160 samples and one datagram), which
 * keeps context switches far below one thread per call.
 */
public final class RtpPacer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RtpPacer.class);
    private static final int MAX_BEHIND_PERIODS = 5;
    private static volatile RtpPacer shared;

    /** Something sent periodically. */
    public interface Task {
        /** Nanoseconds to the next tick; read after every tick, so it may change (ptime change). */
        long periodNanos();

        /** Called at (or just after) {@code scheduledNanos} on the {@link System#nanoTime()} clock. */
        void tick(long scheduledNanos);
    }

    /** A scheduled task; cancel it to stop its ticks. */
    public static final class Handle {
        private final Task task;
        private final Worker worker;
        private long deadline;
        private volatile boolean cancelled;

        private Handle(Task task, Worker worker, long deadline) {
            this.task = task;
            this.worker = worker;
            this.deadline = deadline;
        }

        public void cancel() {
            cancelled = true;
            worker.remove(this);
        }
    }

    private final Worker[] workers;
    private final AtomicInteger next = new AtomicInteger();
    private final AtomicLong slips = new AtomicLong();
    /** Lateness of every tick since the last {@link #takeRecentLateness()}: what the overload guard watches. */
    private final java.util.concurrent.atomic.AtomicReference<LatencyHistogram> recentLateness =
            new java.util.concurrent.atomic.AtomicReference<>(new LatencyHistogram());

    public RtpPacer(String name, int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("a pacer needs at least one thread");
        }
        workers = new Worker[threads];
        for (int i = 0; i < threads; i++) {
            workers[i] = new Worker(name + "-" + i);
            workers[i].thread.start();
        }
    }

    /** The process-wide pacer: one thread per 4 cores, at least one; daemon threads. */
    public static RtpPacer shared() {
        RtpPacer p = shared;
        if (p == null) {
            synchronized (RtpPacer.class) {
                p = shared;
                if (p == null) {
                    p = new RtpPacer("rtp-pacer", Math.max(1, Runtime.getRuntime().availableProcessors() / 4));
                    shared = p;
                }
            }
        }
        return p;
    }

    /** Starts ticking {@code task} at {@code firstDeadlineNanos}, then every period. */
    public Handle schedule(Task task, long firstDeadlineNanos) {
        Worker w = workers[Math.floorMod(next.getAndIncrement(), workers.length)];
        Handle h = new Handle(task, w, firstDeadlineNanos);
        w.add(h);
        return h;
    }

    /**
     * The lateness (wake-up after the deadline) of every tick of every sender since the previous call, and starts a
     * new window. One reader (the overload guard).
     */
    public LatencyHistogram takeRecentLateness() {
        return recentLateness.getAndSet(new LatencyHistogram());
    }

    /** Times a sender was re-based because it fell too far behind. */
    public long slips() {
        return slips.get();
    }

    @Override
    public void close() {
        for (Worker w : workers) {
            w.thread.interrupt();
        }
    }

    private final class Worker implements Runnable {
        final Thread thread;
        final ReentrantLock lock = new ReentrantLock();
        final Condition changed = lock.newCondition();
        final PriorityQueue<Handle> queue = new PriorityQueue<>((a, b) -> Long.compare(a.deadline, b.deadline));

        Worker(String name) {
            thread = new Thread(this, name);
            thread.setDaemon(true);
            thread.setPriority(Thread.MAX_PRIORITY);
        }

        void add(Handle h) {
            lock.lock();
            try {
                queue.add(h);
                changed.signal();
            } finally {
                lock.unlock();
            }
        }

        void remove(Handle h) {
            lock.lock();
            try {
                queue.remove(h);
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void run() {
            while (!Thread.currentThread().isInterrupted()) {
                Handle due;
                lock.lock();
                try {
                    due = awaitDue();
                } catch (InterruptedException e) {
                    return;
                } finally {
                    lock.unlock();
                }
                if (due.cancelled) {
                    continue;
                }
                recentLateness.get().record((System.nanoTime() - due.deadline) / 1000);
                try {
                    due.task.tick(due.deadline);
                } catch (RuntimeException e) {
                    LOG.warn("RTP sender tick failed; it keeps its schedule", e);
                }
                long period = due.task.periodNanos();
                due.deadline += period;
                long now = System.nanoTime();
                if (now - due.deadline > MAX_BEHIND_PERIODS * period) {
                    slips.incrementAndGet();
                    due.deadline = now;
                }
                lock.lock();
                try {
                    if (!due.cancelled) {
                        queue.add(due);
                    }
                } finally {
                    lock.unlock();
                }
            }
        }

        private Handle awaitDue() throws InterruptedException {
            while (true) {
                Handle head = queue.peek();
                if (head == null) {
                    changed.await();
                    continue;
                }
                long wait = head.deadline - System.nanoTime();
                if (wait <= 0) {
                    return queue.poll();
                }
                changed.awaitNanos(wait);
            }
        }
    }
}
