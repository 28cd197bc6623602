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
 * senders it owns. All deadlines lie on one absolute clock: the pacer's origin plus whole milliseconds. A sender
 * of period P ms gets a phase φ in 0..P-1 when it is scheduled and ticks at {@code origin + φ + n·P} ms, so a
 * late wake-up does not push later packets back (they catch up), and the phases spread the calls over the
 * milliseconds of a period (the least-loaded phase is chosen), so no millisecond carries all calls' packets. A
 * sender that falls more than {@value #MAX_BEHIND_PERIODS} periods behind (a long GC pause) is re-based to the next
 * tick of its phase instead of bursting, and the slip is counted.
 *
 * <p>One thread serves hundreds of calls (a tick is an encode of 160 samples and one datagram), which
 * keeps context switches far below one thread per call.
 */
public final class RtpPacer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RtpPacer.class);
    private static final int MAX_BEHIND_PERIODS = 5;
    static final long SLOT_NANOS = 1_000_000L;
    /** Milliseconds after which the phases of all G.711 ptimes (10, 20, 30, 40) repeat. */
    private static final int CYCLE_SLOTS = 120;
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
        private final RtpPacer pacer;
        private final int phaseSlot;   // -1: not on the slot grid (a period that is not whole ms dividing 120)
        private final int periodSlots;
        private long deadline;
        private volatile boolean cancelled;

        private Handle(Task task, Worker worker, RtpPacer pacer, int phaseSlot, int periodSlots, long deadline) {
            this.task = task;
            this.worker = worker;
            this.pacer = pacer;
            this.phaseSlot = phaseSlot;
            this.periodSlots = periodSlots;
            this.deadline = deadline;
        }

        public void cancel() {
            if (cancelled) {
                return;
            }
            cancelled = true;
            worker.remove(this);
            pacer.release(this);
        }

        /** The millisecond of the period this task ticks in (its phase on the pacer's clock), -1 if off the grid. */
        public int phaseMillis() {
            return phaseSlot;
        }

        /** The next tick's deadline on the {@link System#nanoTime()} clock. */
        long deadline() {
            return deadline;
        }
    }

    private final Worker[] workers;
    /** The absolute clock: every deadline is {@code origin} plus whole milliseconds. */
    private final long origin = System.nanoTime();
    /** Senders ticking in each millisecond of the 120 ms cycle (guarded by itself). */
    private final int[] slotLoad = new int[CYCLE_SLOTS];
    private final AtomicInteger next = new AtomicInteger();
    private final AtomicLong slips = new AtomicLong();
    private final AtomicLong assisted = new AtomicLong();
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

    /**
     * Starts ticking {@code task} at the first tick of its phase at or after {@code firstDeadlineNanos} (at most one
     * period later), then every period on the pacer's clock.
     */
    public Handle schedule(Task task, long firstDeadlineNanos) {
        Worker w = workers[Math.floorMod(next.getAndIncrement(), workers.length)];
        long period = task.periodNanos();
        Handle h;
        if (period % SLOT_NANOS == 0 && CYCLE_SLOTS % (period / SLOT_NANOS) == 0) {
            int periodSlots = (int) (period / SLOT_NANOS);
            int phase = takePhase(periodSlots);
            long phaseStart = origin + phase * SLOT_NANOS;
            long periods = Math.max(0, Math.floorDiv(firstDeadlineNanos - phaseStart + period - 1, period));
            h = new Handle(task, w, this, phase, periodSlots, phaseStart + periods * period);
        } else {
            h = new Handle(task, w, this, -1, 0, firstDeadlineNanos);
        }
        w.add(h);
        return h;
    }

    /** The phase whose busiest millisecond in the cycle holds the fewest senders; taken. */
    private int takePhase(int periodSlots) {
        synchronized (slotLoad) {
            int best = 0;
            int bestLoad = Integer.MAX_VALUE;
            for (int phase = 0; phase < periodSlots; phase++) {
                int load = 0;
                for (int slot = phase; slot < CYCLE_SLOTS; slot += periodSlots) {
                    load = Math.max(load, slotLoad[slot]);
                }
                if (load < bestLoad) {
                    best = phase;
                    bestLoad = load;
                }
            }
            for (int slot = best; slot < CYCLE_SLOTS; slot += periodSlots) {
                slotLoad[slot]++;
            }
            return best;
        }
    }

    private void release(Handle h) {
        if (h.phaseSlot < 0) {
            return;
        }
        synchronized (slotLoad) {
            for (int slot = h.phaseSlot; slot < CYCLE_SLOTS; slot += h.periodSlots) {
                slotLoad[slot]--;
            }
        }
    }

    /** Senders ticking in the busiest millisecond of the cycle (how evenly the phases spread the calls). */
    public int busiestMillisecond() {
        synchronized (slotLoad) {
            int max = 0;
            for (int l : slotLoad) {
                max = Math.max(max, l);
            }
            return max;
        }
    }

    /** The pacer's threads: a fixed number, whatever the number of calls. */
    public int threads() {
        return workers.length;
    }

    /**
     * The lateness (wake-up after the deadline) of every tick of every sender since the previous call, and starts a
     * new window. One reader (the overload guard).
     */
    public LatencyHistogram takeRecentLateness() {
        return recentLateness.getAndSet(new LatencyHistogram());
    }

    /**
     * Lets a thread that holds a CPU anyway (a receive thread between datagrams) send what this pacer's own threads
     * have not: every tick due by now is run on the calling thread, if the earliest is more than {@code afterNanos}
     * late. A pacer thread that sleeps between ticks must be woken and then given a core; when both cores are taken
     * (Silero on a receive thread, the load on the box) it waits in the run queue for milliseconds. Nothing changes
     * for the ticks themselves: the same deadline on the same clock, lateness measured when the packet goes out, one
     * thread at a time per sender (a tick is taken off the queue under the worker's lock and put back after).
     * Returns the ticks run here; the check when nothing is overdue is one volatile read per worker.
     */
    public int runOverdue(long afterNanos) {
        long now = System.nanoTime();
        int ran = 0;
        for (Worker w : workers) {
            ran += w.runOverdue(now, afterNanos);
        }
        if (ran > 0) {
            assisted.addAndGet(ran);
        }
        return ran;
    }

    /** Ticks run by other threads through {@link #runOverdue}. */
    public long assistedTicks() {
        return assisted.get();
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
        /** The earliest deadline in {@link #queue} (written under the lock); far future when empty. */
        volatile long headDeadline = Long.MAX_VALUE / 2;

        Worker(String name) {
            thread = new Thread(this, name);
            thread.setDaemon(true);
            thread.setPriority(Thread.MAX_PRIORITY);
        }

        void add(Handle h) {
            lock.lock();
            try {
                queue.add(h);
                publishHead();
                changed.signal();
            } finally {
                lock.unlock();
            }
        }

        void remove(Handle h) {
            lock.lock();
            try {
                queue.remove(h);
                publishHead();
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
                    publishHead();
                } catch (InterruptedException e) {
                    return;
                } finally {
                    lock.unlock();
                }
                tickAndRequeue(due);
            }
        }

        /**
         * Runs, on the calling thread, every tick due by now, if the earliest is more than {@code afterNanos} late
         * (this worker's thread has not taken it: it is waiting for a CPU). Returns the ticks run.
         */
        int runOverdue(long now, long afterNanos) {
            if (now - headDeadline <= afterNanos) {
                return 0; // one volatile read: the common case costs nothing
            }
            int ran = 0;
            while (true) {
                Handle due;
                if (!lock.tryLock()) {
                    return ran; // the worker (or another helper) is taking them now
                }
                try {
                    Handle head = queue.peek();
                    if (head == null || head.deadline - System.nanoTime() > 0) {
                        return ran;
                    }
                    due = queue.poll();
                    publishHead();
                } finally {
                    lock.unlock();
                }
                tickAndRequeue(due);
                ran++;
            }
        }

        /** The earliest deadline queued, for {@link #runOverdue}'s lock-free check. Under the lock. */
        private void publishHead() {
            Handle head = queue.peek();
            headDeadline = head == null ? Long.MAX_VALUE / 2 : head.deadline;
        }

        /** One tick of a handle taken off the queue (by this worker's thread or a helper), then back on it. */
        private void tickAndRequeue(Handle due) {
            if (due.cancelled) {
                return;
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
                // the next tick of the same phase after now: the clock stays the pacer's
                due.deadline += Math.floorDiv(now - due.deadline + period - 1, period) * period;
            }
            lock.lock();
            try {
                if (!due.cancelled) {
                    queue.add(due);
                    publishHead();
                }
            } finally {
                lock.unlock();
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
