package dev.omnicall.bridge.media;

import dev.omnicall.bridge.codec.DownsamplerTo8k;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Reply audio waiting to be sent: 8, 16 or 24 kHz chunks in, 8 kHz packets' worth of samples out.
 *
 * <p>Each attempt's chunks carry one sample rate (the first chunk offered sets it; a chunk at another rate is
 * refused with {@link IllegalArgumentException}, as is a rate the bridge cannot play: see
 * {@link DownsamplerTo8k#supports}). Everything after the resampler (prebuffer, pacing, the counts of what was
 * played) is in 8 kHz samples, whatever the rate that came in.
 *
 * <p>Delivery to the bridge is at-least-once, so chunks are deduplicated by (turnId, attempt, seq). The
 * first attempt heard for a turn is the one played; chunks of other attempts of that turn are ignored
 * (except that a higher attempt replaces one that has not begun playing: its worker evidently retried).
 * Chunks of one attempt play in seq order (an early one waits for the gap to fill, or is played past the
 * gap after the queue has been dry for 200 ms). Turns play one after another in the order they arrive; a turn older
 * than one already started, or one that was {@link #stop() stopped}, is never played.
 *
 * <p>A turn starts once {@code prebufferSamples} are queued or its final chunk is in, which absorbs
 * jitter in chunk arrival. Each turn has its own resampler, flushed with zeros after the final chunk
 * so its tail is not lost (8 kHz chunks pass through; nothing to flush). Thread-safe: the Kafka consumer
 * offers, the pacer polls, the receive loop stops.
 *
 * <p>A speculative turn is {@link #hold held}: its chunks queue as usual but it does not start until it is
 * {@link #release released} (then it plays from its first chunk); {@link #cancel cancelled}, its audio is dropped
 * and later chunks of it are refused, while the turns around it are untouched. A held turn is not
 * {@link #isActive() active}: nothing of it is playing.
 *
 * <p>For barge-in reports each attempt counts the 8 kHz samples taken for sending and remembers where each
 * chunk's sound ends in its output (after the resampler's delay; the final chunk's after the flush) with the
 * chunk's {@code textChars}, so {@link #stopAndReport()} can say how much audio and how much reply text went
 * out before the stop.
 */
public final class PlayoutBuffer {

    /** What became of an offered chunk. */
    public enum Outcome { QUEUED, DUPLICATE, OTHER_ATTEMPT, STOPPED_TURN, STALE_TURN, AFTER_FINAL, OVERFLOW }

    /** One packet's worth of 8 kHz samples and the turn they belong to. */
    public record Frame(TurnAttempt turn, short[] pcm8k, boolean firstOfTurn, boolean lastOfTurn) {}

    private static final int REMEMBERED_TURNS = 64;
    /** How long a missing chunk is waited for (with the queue dry) before later ones play past it. */
    private static final int GAP_WAIT_MS = 200;

    private final class Turn {
        final TurnAttempt id;
        /** At the attempt's sample rate, which its first chunk offered set. */
        final DownsamplerTo8k resampler;
        final Set<Integer> seen = new HashSet<>();
        final TreeMap<Integer, Chunk> early = new TreeMap<>();
        final ArrayDeque<short[]> audio = new ArrayDeque<>();
        int headOffset;
        int queued;
        int nextSeq;
        boolean finalQueued;
        boolean started;
        boolean polled;
        int underrunMs;
        /** 8 kHz samples queued over the attempt's life, and taken for sending. */
        long queuedTotal;
        long played;
        /** Per chunk in play order: the sample count at which its sound has gone out, and its textChars. */
        final ArrayDeque<long[]> chunkEnds = new ArrayDeque<>();

        Turn(TurnAttempt id, int sampleRate) {
            this.id = id;
            this.resampler = DownsamplerTo8k.forRate(sampleRate);
        }
    }

    private record Chunk(byte[] pcm, boolean isFinal, int textChars) {}

    private final int prebufferSamples;
    private final int maxQueuedSamples;
    private final int maxStallMs;
    private final ArrayDeque<Turn> queue = new ArrayDeque<>();
    /** turnId → the attempt chosen for it; eldest forgotten. */
    private final Map<Integer, Integer> chosenAttempt = new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Integer, Integer> e) {
            return size() > REMEMBERED_TURNS;
        }
    };
    private final Set<Integer> stoppedTurns = new HashSet<>();
    /** Speculative turns whose end is not confirmed yet: queued, never started. */
    private final Set<Integer> heldTurns = new HashSet<>();
    private int highestStartedTurn = Integer.MIN_VALUE;
    private Turn playing;

    /**
     * @param prebufferMs  audio queued before a turn starts playing (unless its final chunk is in)
     * @param maxQueuedMs  bound on queued audio; chunks beyond it are dropped and reported as OVERFLOW
     * @param maxStallMs   a playing attempt that delivers nothing for this long without its final chunk
     *                     is ended, so a crashed worker cannot block the turns behind it
     */
    public PlayoutBuffer(int prebufferMs, int maxQueuedMs, int maxStallMs) {
        this.prebufferSamples = prebufferMs * 8;
        this.maxQueuedSamples = maxQueuedMs * 8;
        this.maxStallMs = maxStallMs;
    }

    /** Offers a chunk of 16 kHz S16LE mono reply audio whose text length is not known. */
    public Outcome offer(int turnId, int attempt, int seq, byte[] pcm16k, boolean isFinal) {
        return offer(turnId, attempt, seq, pcm16k, isFinal, -1);
    }

    /** Offers a chunk of 16 kHz S16LE mono reply audio (see the next method). */
    public Outcome offer(int turnId, int attempt, int seq, byte[] pcm16k, boolean isFinal, int textChars) {
        return offer(turnId, attempt, seq, 16_000, pcm16k, isFinal, textChars);
    }

    /**
     * Offers a chunk of S16LE mono reply audio at {@code sampleRate} Hz (8000, 16000 or 24000); {@code textChars} is
     * how much of the attempt's reply text is voiced by the end of it (AudioChunk.textChars, -1 unknown).
     *
     * @throws IllegalArgumentException for a rate the bridge does not play, an odd byte count, or a rate other than
     *                                  that of the attempt's earlier chunks; nothing is queued then
     */
    public synchronized Outcome offer(int turnId, int attempt, int seq, int sampleRate, byte[] pcm, boolean isFinal,
                                      int textChars) {
        DownsamplerTo8k.requireSupported(sampleRate);
        if ((pcm.length & 1) != 0) {
            throw new IllegalArgumentException("16-bit PCM has an even byte count, got " + pcm.length);
        }
        if (stoppedTurns.contains(turnId)) {
            return Outcome.STOPPED_TURN;
        }
        Integer chosen = chosenAttempt.get(turnId);
        if (chosen == null) {
            if (turnId < highestStartedTurn) {
                return Outcome.STALE_TURN;
            }
            chosenAttempt.put(turnId, attempt);
            chosen = attempt;
        }
        Turn turn = find(turnId);
        if (turn != null && turn.id.attempt() == attempt && turn.resampler.inputRate() != sampleRate) {
            throw new IllegalArgumentException("turn " + turnId + " attempt " + attempt + " chunk " + seq + " is "
                    + sampleRate + " Hz but the attempt's earlier chunks are " + turn.resampler.inputRate() + " Hz");
        }
        if (chosen != attempt) {
            if (attempt > chosen && turn != null && !turn.started) {
                queue.remove(turn); // a retry overtook an attempt that never began playing
                turn = null;
                chosenAttempt.put(turnId, attempt);
            } else {
                return Outcome.OTHER_ATTEMPT;
            }
        }
        if (turn == null) {
            if (turnId <= highestStartedTurn && (playing == null || playing.id.turnId() != turnId)) {
                return Outcome.AFTER_FINAL; // it played out completely already
            }
            turn = new Turn(new TurnAttempt(turnId, attempt), sampleRate);
            queue.addLast(turn);
        }
        if (!turn.seen.add(seq)) {
            return Outcome.DUPLICATE;
        }
        if (turn.finalQueued) {
            return Outcome.AFTER_FINAL;
        }
        if (totalQueued() + pcm.length / 2 / turn.resampler.factor() > maxQueuedSamples) {
            turn.seen.remove(seq);
            return Outcome.OVERFLOW;
        }
        turn.early.put(seq, new Chunk(pcm, isFinal, textChars));
        moveInOrder(turn, false);
        return Outcome.QUEUED;
    }

    /**
     * Takes the next {@code samples} 8 kHz samples, or null when nothing is ready to play. A turn's last
     * frame is padded with silence.
     */
    public synchronized Frame poll(int samples) {
        Turn turn = playing != null ? playing : queue.peekFirst();
        if (turn == null) {
            return null;
        }
        if (!turn.started && heldTurns.contains(turn.id.turnId())) {
            return null; // a speculative turn waits for the end of the caller's turn to be confirmed
        }
        if (!turn.started) {
            if (turn.queued < prebufferSamples && !turn.finalQueued) {
                return null;
            }
            turn.started = true;
            playing = turn;
            highestStartedTurn = Math.max(highestStartedTurn, turn.id.turnId());
        }
        if (turn.queued < samples && !turn.finalQueued && turn.underrunMs >= GAP_WAIT_MS) {
            moveInOrder(turn, true); // a chunk is missing and the queue ran dry: play past the gap
        }
        if (turn.queued == 0 && !turn.finalQueued) {
            // underrun: wait for the next chunk, but give up on an attempt that stopped producing
            turn.underrunMs += samples / 8;
            if (turn.underrunMs < maxStallMs) {
                return null;
            }
            turn.finalQueued = true;
        }
        turn.underrunMs = 0;
        boolean first = !turn.polled;
        turn.polled = true;
        short[] out = new short[samples];
        drain(turn, out);
        boolean last = turn.finalQueued && turn.queued == 0;
        if (last) {
            queue.remove(turn);
            playing = null;
        }
        return new Frame(turn.id, out, first, last);
    }

    /** True while a turn is playing or waiting to play (a held speculative turn does not count). */
    public synchronized boolean isActive() {
        if (playing != null) {
            return true;
        }
        for (Turn t : queue) {
            if (!heldTurns.contains(t.id.turnId())) {
                return true;
            }
        }
        return false;
    }

    /** Holds the audio of speculative turn {@code turnId} until {@link #release} or {@link #cancel}. */
    public synchronized void hold(int turnId) {
        if (!stoppedTurns.contains(turnId)) {
            heldTurns.add(turnId);
        }
    }

    /** The end of the turn is confirmed: its audio may play, from its first chunk. */
    public synchronized void release(int turnId) {
        heldTurns.remove(turnId);
    }

    /** Whether {@code turnId} is held. */
    public synchronized boolean isHeld(int turnId) {
        return heldTurns.contains(turnId);
    }

    /**
     * The speculative turn is cancelled: its queued audio (never played: it was held) is dropped and later chunks of
     * it are refused as {@link Outcome#STOPPED_TURN}. Returns the 8 kHz samples dropped. Other turns are untouched.
     */
    public synchronized int cancel(int turnId) {
        heldTurns.remove(turnId);
        stoppedTurns.add(turnId);
        Turn t = find(turnId);
        if (t == null) {
            return 0;
        }
        if (t == playing) {
            throw new IllegalStateException("turn " + turnId + " is playing: a speculative turn plays only once released");
        }
        queue.remove(t);
        return t.queued;
    }

    /** The turn whose audio is going out now, or null. */
    public synchronized TurnAttempt playing() {
        return playing == null ? null : playing.id;
    }

    /**
     * Drops all queued audio and refuses later chunks of the dropped turns. Returns the turn that was
     * playing (or, if none had started, the first queued one), or null when idle.
     */
    public TurnAttempt stop() {
        PlayedPart stopped = stopAndReport();
        return stopped == null ? null : stopped.turn();
    }

    /**
     * As {@link #stop()}, and says how much of the stopped attempt went out: its samples taken for sending
     * (a frame taken is sent in the same pacer tick, so nothing taken is held back) and the textChars of its
     * last chunk whose sound was taken to its end. Null when idle.
     */
    public synchronized PlayedPart stopAndReport() {
        Turn head = playing;
        for (var it = queue.iterator(); head == null && it.hasNext(); ) {
            Turn t = it.next();
            head = heldTurns.contains(t.id.turnId()) ? null : t;
        }
        // A held speculative turn is not the caller's to stop here: it is confirmed or cancelled on its own.
        for (var it = queue.iterator(); it.hasNext(); ) {
            Turn t = it.next();
            if (heldTurns.contains(t.id.turnId())) {
                continue;
            }
            stoppedTurns.add(t.id.turnId());
            highestStartedTurn = Math.max(highestStartedTurn, t.id.turnId());
            it.remove();
        }
        playing = null;
        if (head == null) {
            return null;
        }
        int textChars = 0;
        for (long[] end : head.chunkEnds) {
            if (end[0] > head.played) {
                break;
            }
            textChars = (int) end[1];
        }
        return new PlayedPart(head.id, (int) (head.played / 8), textChars);
    }

    /** 8 kHz samples queued over all turns. */
    public synchronized int totalQueued() {
        int n = 0;
        for (Turn t : queue) {
            n += t.queued;
        }
        return n;
    }

    private Turn find(int turnId) {
        for (Turn t : queue) {
            if (t.id.turnId() == turnId) {
                return t;
            }
        }
        return null;
    }

    private void moveInOrder(Turn turn, boolean skipGap) {
        while (!turn.early.isEmpty()) {
            Map.Entry<Integer, Chunk> head = turn.early.firstEntry();
            if (head.getKey() != turn.nextSeq && !skipGap) {
                return;
            }
            turn.early.pollFirstEntry();
            turn.nextSeq = head.getKey() + 1;
            skipGap = false;
            enqueue(turn, head.getValue());
        }
    }

    private void enqueue(Turn turn, Chunk chunk) {
        byte[] bytes = chunk.pcm();
        short[] pcm = new short[bytes.length / 2];
        for (int i = 0; i < pcm.length; i++) {
            pcm[i] = (short) ((bytes[2 * i] & 0xFF) | (bytes[2 * i + 1] << 8));
        }
        add(turn, turn.resampler.process(pcm));
        long soundEnd = turn.queuedTotal + turn.resampler.delayOutputSamples();
        if (chunk.isFinal()) {
            add(turn, turn.resampler.flush());
            turn.finalQueued = true;
            soundEnd = turn.queuedTotal;
        }
        turn.chunkEnds.addLast(new long[] {soundEnd, chunk.textChars()});
    }

    private static void add(Turn turn, short[] pcm8k) {
        if (pcm8k.length > 0) {
            turn.audio.addLast(pcm8k);
            turn.queued += pcm8k.length;
            turn.queuedTotal += pcm8k.length;
        }
    }

    private static void drain(Turn turn, short[] out) {
        int filled = 0;
        while (filled < out.length && !turn.audio.isEmpty()) {
            short[] head = turn.audio.peekFirst();
            int take = Math.min(out.length - filled, head.length - turn.headOffset);
            System.arraycopy(head, turn.headOffset, out, filled, take);
            filled += take;
            turn.played += take;
            turn.headOffset += take;
            turn.queued -= take;
            if (turn.headOffset == head.length) {
                turn.audio.removeFirst();
                turn.headOffset = 0;
            }
        }
    }
}
