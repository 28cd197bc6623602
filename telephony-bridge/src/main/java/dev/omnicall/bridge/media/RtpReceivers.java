package dev.omnicall.bridge.media;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import dev.omnicall.bridge.vad.VadBatch;
import java.nio.channels.CancelledKeyException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Receives every call's RTP on a small fixed set of threads: each thread owns a {@link Selector} over the
 * non-blocking {@link DatagramChannel}s of the calls given to it and hands each datagram to that call's
 * {@link Endpoint} on that thread. Calls are spread over the threads by how many each holds. A thread also tells
 * each of its calls when nothing has arrived for {@value #IDLE_MILLIS} ms (the caller stopped sending: silence
 * suppression, or the end of the call), which is what a blocking receive's timeout did when every call had a
 * thread of its own.
 *
 * <p>One datagram per channel per turn of the selector: a call with a backlog cannot keep the others of its thread
 * waiting (the selector is level-triggered and comes back to it at once), and a 20 or 30 ms packet completes at most
 * one 512-sample VAD frame, so each call has at most one frame in the thread's {@link VadBatch}, which runs at the end
 * of the turn: one Silero run for the frames due from all the thread's calls.
 */
public final class RtpReceivers implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RtpReceivers.class);
    static final int IDLE_MILLIS = 20;
    private static final long IDLE_NANOS = IDLE_MILLIS * 1_000_000L;
    /** How often a thread looks for idle calls: half the idle time, so an idle call hears of it within 30 ms. */
    private static final long IDLE_CHECK_NANOS = IDLE_NANOS / 2;
    static final int MAX_DATAGRAMS_PER_TURN = 1;
    private static final int MAX_DATAGRAM = 1500;
    private static volatile RtpReceivers shared;

    /** What a call does with what its channel receives. Runs on a receive thread: must not block. */
    public interface Endpoint {
        /** A datagram {@code buf[0..length)} from {@code from}, taken off the socket at {@code arrivalNanos}. */
        void onDatagram(byte[] buf, int length, InetSocketAddress from, long arrivalNanos);

        /** Nothing has arrived for {@value #IDLE_MILLIS} ms or more (called again every {@value #IDLE_MILLIS} ms while so). */
        void onIdle();

        /** The channel failed; this call receives nothing more. */
        default void onReceiveFailed(IOException e) {
        }
    }

    /** A channel being received; cancel it before closing the channel. */
    public static final class Registration {
        private final DatagramChannel channel;
        private final Endpoint endpoint;
        private final Loop loop;
        private volatile SelectionKey key;
        private volatile boolean cancelled;
        // receive thread only
        private long lastDatagramNanos;
        private long lastIdleNanos;

        private Registration(DatagramChannel channel, Endpoint endpoint, Loop loop) {
            this.channel = channel;
            this.endpoint = endpoint;
            this.loop = loop;
        }

        /** Stops receiving; the endpoint hears nothing after the datagram in hand (if any) is done. */
        public void cancel() {
            if (cancelled) {
                return;
            }
            cancelled = true;
            SelectionKey k = key;
            if (k != null) {
                k.cancel();
            }
            loop.load.decrementAndGet();
            loop.selector.wakeup();
        }

        /** The name of the thread that receives this channel. */
        public String threadName() {
            return loop.thread.getName();
        }
    }

    /**
     * System property: the {@link #shared()} receive threads send the shared pacer's overdue ticks ({@link #assist});
     * off by default until a quiet-box A/B shows it lowers p99 (on the shared box it did not show, README).
     */
    public static final String ASSIST_PROPERTY = "omnicall.rtp.receive-assists-pacer";

    /** A tick this late that the pacer's own thread has not taken is sent by a receive thread that has a CPU. */
    static final long ASSIST_AFTER_NANOS = 500_000L;

    private final Loop[] loops;
    private final boolean batchVad;
    private volatile boolean running = true;
    private volatile RtpPacer assisted;

    /** {@code threads} receive threads named {@code name-0}, {@code name-1}, ... (daemons), batching Silero. */
    public RtpReceivers(String name, int threads) throws IOException {
        this(name, threads, true);
    }

    /**
     * As above; {@code batchVad} false: each call runs its own Silero frames as they complete (the per-call path, kept
     * for comparison).
     */
    public RtpReceivers(String name, int threads, boolean batchVad) throws IOException {
        if (threads < 1) {
            throw new IllegalArgumentException("RTP receivers need at least one thread, got " + threads);
        }
        this.batchVad = batchVad;
        loops = new Loop[threads];
        for (int i = 0; i < threads; i++) {
            loops[i] = new Loop(name + "-" + i);
        }
        for (Loop l : loops) {
            l.thread.start();
        }
    }

    /** System property overriding the number of {@link #shared()} receive threads. */
    public static final String THREADS_PROPERTY = "omnicall.rtp.receive-threads";

    /**
     * The process-wide receivers: one thread per core less the pacer's ({@link RtpPacer#shared()}: one per 4 cores),
     * at least one, or {@value #THREADS_PROPERTY}. On 2 cores that is one receive thread and one pacer thread, whatever
     * the number of calls. A receive thread is CPU-bound at about 400 calls with Silero (0.25 % of a core per call,
     * measured with the load benchmark), so a bridge for more calls needs more cores and threads.
     */
    public static RtpReceivers shared() {
        RtpReceivers r = shared;
        if (r == null) {
            synchronized (RtpReceivers.class) {
                r = shared;
                if (r == null) {
                    int cores = Runtime.getRuntime().availableProcessors();
                    int threads = Integer.getInteger(THREADS_PROPERTY, Math.max(1, cores - Math.max(1, cores / 4)));
                    try {
                        r = new RtpReceivers("rtp-rx", threads);
                        if (Boolean.getBoolean(ASSIST_PROPERTY)) {
                            r.assist(RtpPacer.shared());
                        }
                    } catch (IOException e) {
                        throw new IllegalStateException("cannot open a selector for RTP: " + e.getMessage(), e);
                    }
                    shared = r;
                }
            }
        }
        return r;
    }

    /**
     * Receives {@code channel} (non-blocking, bound) on the thread holding the fewest calls, from the next turn of
     * that thread's loop.
     */
    public Registration register(DatagramChannel channel, Endpoint endpoint) {
        if (channel.isBlocking()) {
            throw new IllegalArgumentException("an RTP channel must be non-blocking to be selected");
        }
        if (!running) {
            throw new IllegalStateException("RTP receivers are closed");
        }
        Loop least = loops[0];
        for (Loop l : loops) {
            if (l.load.get() < least.load.get()) {
                least = l;
            }
        }
        Registration r = new Registration(channel, endpoint, least);
        least.load.incrementAndGet();
        least.pending.add(r);
        least.selector.wakeup();
        return r;
    }

    /**
     * From now on these threads send {@code pacer}'s ticks that are more than {@value #ASSIST_AFTER_NANOS} ns late
     * ({@link RtpPacer#runOverdue}), between datagrams and between Silero runs; null stops it. On 2 cores one receive
     * thread runs Silero for every call and holds a core most of the time; the pacer thread sleeps between ticks
     * and, woken, waited in the run queue 2.2-5.2 s of an 8 s window at 500 calls (MediaLoadBenchmark, schedstat).
     */
    public RtpReceivers assist(RtpPacer pacer) {
        this.assisted = pacer;
        return this;
    }

    /** The pacer's overdue ticks, on this thread (a receive thread's, between pieces of its own work). */
    private void assistPacer() {
        RtpPacer p = assisted;
        if (p != null) {
            p.runOverdue(ASSIST_AFTER_NANOS);
        }
    }

    /** The receive threads: a fixed number, whatever the number of calls. */
    public int threads() {
        return loops.length;
    }

    /** Channels registered and not cancelled. */
    public int channels() {
        int n = 0;
        for (Loop l : loops) {
            n += l.load.get();
        }
        return n;
    }

    /** Silero runs of the batches so far and the frames they held (frames / runs = the mean batch). */
    public long[] vadBatchRunsAndFrames() {
        long runs = 0;
        long frames = 0;
        for (Loop l : loops) {
            runs += l.vadBatch.runs();
            frames += l.vadBatch.frames();
        }
        return new long[] {runs, frames};
    }

    /**
     * The longest any receive thread was away from its sockets since the previous call, in ns: the longest turn of its
     * loop (from the selector handing it ready channels to the next select: one datagram per ready channel, their VAD
     * batch, the idle check), or the turn it is in now if that is longer. A turn takes at most one datagram, one packet
     * time (20 or 30 ms) of audio, from each call, so a turn longer than a packet time leaves more in the sockets than it
     * took, and a turn in progress for T leaves T of every caller's audio waiting (a Silero run held up, a thread
     * starved of CPU). A thread waiting in its selector (nothing to read) is not behind. Cheap: one volatile write and
     * one max per turn. The overload guard's receive-lag signal ({@code OverloadGuard#measuring}).
     */
    public long takeMaxReceiveLagNanos() {
        long now = System.nanoTime();
        long max = 0;
        for (Loop l : loops) {
            long finished = l.maxTurnNanos.getAndSet(0);
            long started = l.turnStartNanos;
            long inProgress = started == 0 ? 0 : Math.max(0, now - started);
            max = Math.max(max, Math.max(finished, inProgress));
        }
        return max;
    }

    @Override
    public void close() {
        running = false;
        for (Loop l : loops) {
            l.selector.wakeup();
        }
        for (Loop l : loops) {
            try {
                l.thread.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private final class Loop implements Runnable {
        final Thread thread;
        final Selector selector;
        final AtomicInteger load = new AtomicInteger();
        /** When the turn in progress began (the selector returned), 0 while waiting in the selector. */
        volatile long turnStartNanos;
        /** The longest finished turn since {@link #takeMaxReceiveLagNanos()} last took it. */
        final java.util.concurrent.atomic.AtomicLong maxTurnNanos = new java.util.concurrent.atomic.AtomicLong();
        final ConcurrentLinkedQueue<Registration> pending = new ConcurrentLinkedQueue<>();
        /** This thread's registrations, for the idle check (receive thread only). */
        final List<Registration> members = new ArrayList<>();
        final ByteBuffer buffer = ByteBuffer.allocateDirect(MAX_DATAGRAM);
        final byte[] bytes = new byte[MAX_DATAGRAM];
        final VadBatch vadBatch = new VadBatch(VadBatch.maxBatchFromProperty(), RtpReceivers.this::assistPacer);

        Loop(String name) throws IOException {
            selector = Selector.open();
            thread = new Thread(this, name);
            thread.setDaemon(true);
        }

        @Override
        public void run() {
            long nextIdleCheck = System.nanoTime() + IDLE_CHECK_NANOS;
            if (batchVad) {
                VadBatch.bind(vadBatch);
            }
            try {
                while (running) {
                    long turnStart = turnStartNanos;
                    if (turnStart != 0) {
                        long turn = System.nanoTime() - turnStart;
                        maxTurnNanos.accumulateAndGet(turn, Math::max);
                        turnStartNanos = 0;
                    }
                    admit();
                    long wait = nextIdleCheck - System.nanoTime();
                    try {
                        if (members.isEmpty()) {
                            // No call on this thread, so no idle check to keep: sleep until register() or close()
                            // wakes the selector, rather than every 10 ms with nothing to do (issue 16, idle app).
                            selector.select();
                        } else if (wait > 0) {
                            selector.select(Math.max(1, (wait + 999_999) / 1_000_000));
                        } else {
                            selector.selectNow();
                        }
                    } catch (IOException e) {
                        LOG.warn("RTP selector {} failed; it goes on: {}", thread.getName(), e.toString());
                    }
                    Set<SelectionKey> ready = selector.selectedKeys();
                    turnStartNanos = System.nanoTime() | 1; // never 0 (0: in the selector)
                    for (SelectionKey key : ready) {
                        drain((Registration) key.attachment());
                        assistPacer();
                    }
                    ready.clear();
                    if (!vadBatch.isEmpty()) {
                        try {
                            vadBatch.run();
                        } catch (RuntimeException e) {
                            LOG.warn("VAD batch on {} failed; the thread goes on", thread.getName(), e);
                        }
                    }
                    long now = System.nanoTime();
                    if (now - nextIdleCheck >= 0) {
                        idleCheck(now);
                        nextIdleCheck = now + IDLE_CHECK_NANOS;
                    }
                }
            } catch (ClosedSelectorException e) {
                return;
            } finally {
                try {
                    selector.close();
                } catch (IOException ignored) {
                    // closing on the way out
                }
            }
        }

        private void admit() {
            Registration r;
            while ((r = pending.poll()) != null) {
                if (r.cancelled) {
                    continue;
                }
                try {
                    r.key = r.channel.register(selector, SelectionKey.OP_READ, r);
                    if (r.cancelled) {
                        r.key.cancel();  // cancelled while registering
                        continue;
                    }
                    long now = System.nanoTime();
                    r.lastDatagramNanos = now;
                    r.lastIdleNanos = now;
                    members.add(r);
                } catch (ClosedChannelException e) {
                    LOG.debug("RTP channel closed before its receive thread took it");
                }
            }
        }

        private void drain(Registration r) {
            for (int i = 0; i < MAX_DATAGRAMS_PER_TURN && !r.cancelled; i++) {
                buffer.clear();
                SocketAddress from;
                try {
                    from = r.channel.receive(buffer);
                } catch (ClosedChannelException | CancelledKeyException closed) {
                    return;
                } catch (IOException e) {
                    r.cancel();
                    safely(() -> r.endpoint.onReceiveFailed(e));
                    return;
                }
                if (from == null) {
                    return;
                }
                long arrival = System.nanoTime();
                r.lastDatagramNanos = arrival;
                buffer.flip();
                int length = buffer.remaining();
                buffer.get(bytes, 0, length);
                try {
                    r.endpoint.onDatagram(bytes, length, (InetSocketAddress) from, arrival);
                } catch (RuntimeException e) {
                    LOG.warn("RTP datagram on {} could not be processed; the thread goes on", thread.getName(), e);
                }
            }
        }

        private void idleCheck(long now) {
            for (Iterator<Registration> it = members.iterator(); it.hasNext(); ) {
                Registration r = it.next();
                if (r.cancelled) {
                    it.remove();
                    continue;
                }
                if (now - r.lastDatagramNanos >= IDLE_NANOS && now - r.lastIdleNanos >= IDLE_NANOS) {
                    r.lastIdleNanos = now;
                    safely(r.endpoint::onIdle);
                }
            }
        }

        private void safely(Runnable work) {
            try {
                work.run();
            } catch (RuntimeException e) {
                LOG.warn("RTP receive work on {} failed; the thread goes on", thread.getName(), e);
            }
        }
    }
}
