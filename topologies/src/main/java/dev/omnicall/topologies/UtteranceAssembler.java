package dev.omnicall.topologies;

import dev.omnicall.events.AudioSegment;
import dev.omnicall.events.TurnRequest;
import dev.omnicall.events.TurnTimings;
import dev.omnicall.kafka.Clock;
import dev.omnicall.kafka.Topics;
import dev.omnicall.kafka.TurnTrace;
import dev.omnicall.state.ConversationState;
import dev.omnicall.state.UtteranceProgress;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.processor.Cancellable;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Utterance assembly: caller AudioSegments become one TurnRequest per utterance.
 *
 * <ul>
 *   <li>Segments are buffered by (call, utterance, seq), so duplicates are recognised and order does not
 *       matter; the utterance goes out once its end-of-utterance segment and every seq before it are in.</li>
 *   <li>An ended utterance still missing segments after the gap timeout goes out without them (counted). The
 *       wall-clock punctuator that looks for them runs only while such an utterance waits: Kafka Streams commits a
 *       task after each punctuation (flushing its stores and the producer), so one always scheduled made an idle
 *       stream thread commit every task four times a second.</li>
 *   <li>Audio past the size cap is not buffered: each such segment goes to the dead-letter topic, saying so,
 *       and the request carries the first {@code maxUtterance} of speech.</li>
 *   <li>A segment for an utterance already sent is late: dead-lettered, not silently dropped.</li>
 *   <li>The request is joined with the call's conversation history.</li>
 * </ul>
 */
final class UtteranceAssembler extends DecodingProcessor<AudioSegment> {

    private KeyValueStore<String, AudioSegment> segments;
    private KeyValueStore<String, UtteranceProgress> progress;
    private ConversationContext conversation;
    private SpeculationGate speculation;
    private final TurnTrace trace;
    /** The gap-timeout punctuator while an ended utterance misses segments; null while none does. */
    private Cancellable gapTimer;

    UtteranceAssembler(Deserializer<AudioSegment> deserializer, ConversationConfig config, TopologyMetrics metrics) {
        this(deserializer, config, metrics, TurnTrace.RELAY);
    }

    UtteranceAssembler(Deserializer<AudioSegment> deserializer, ConversationConfig config, TopologyMetrics metrics,
                       TurnTrace trace) {
        super(Topics.CALLER_AUDIO, deserializer, config, metrics);
        this.trace = trace;
    }

    @Override
    protected void open() {
        segments = context.getStateStore(ConversationTopology.SEGMENT_STORE);
        progress = context.getStateStore(ConversationTopology.PROGRESS_STORE);
        KeyValueStore<String, ConversationState> ctx = context.getStateStore(ConversationTopology.CONTEXT_STORE);
        conversation = new ConversationContext(ctx, config, metrics);
        speculation = new SpeculationGate(context.getStateStore(ConversationTopology.SPECULATION_STORE), metrics);
        // state restored from before a restart may hold utterances that wait for their gap timeout
        try (KeyValueIterator<String, UtteranceProgress> it = progress.all()) {
            while (it.hasNext()) {
                if (waitsForGapTimeout(it.next().value)) {
                    startGapTimer();
                    break;
                }
            }
        }
    }

    /** Ended, not sent, missing segments: the gap timeout will send it. */
    private static boolean waitsForGapTimeout(UtteranceProgress p) {
        return !p.getEmitted() && p.getEndSeenUs() != null;
    }

    private void startGapTimer() {
        if (gapTimer == null) {
            long every = Math.max(50, config.gapTimeout().toMillis() / 4);
            gapTimer = context.schedule(Duration.ofMillis(every), PunctuationType.WALL_CLOCK_TIME,
                    this::sendUtterancesPastGapTimeout);
        }
    }

    @Override
    protected String callIdOf(AudioSegment value) {
        return value.getCallId();
    }

    @Override
    protected void handle(String callId, AudioSegment seg, long timestamp) {
        validate(seg);
        if (seg.getReplacesTurn() >= 0) {
            // the utterance goes on: the speculative turn it replaces is cancelled (the bridge's BargeIn says so
            // too, on call-events; whichever comes first does it)
            speculation.cancel(callId, seg.getReplacesTurn(), seg.getCaptureStartUs())
                    .ifPresent(c -> conversation.forget(callId, c.turnId()));
        }
        String progressKey = StoreKeys.utterance(callId, seg.getUtteranceId());
        UtteranceProgress p = progress.get(progressKey);
        if (p == null) {
            p = UtteranceProgress.newBuilder().setUtteranceId(seg.getUtteranceId()).build();
        }
        if (p.getEmitted()) {
            metrics.increment(TopologyMetrics.LATE_SEGMENTS);
            throw new IllegalStateException("late segment seq " + seg.getSeq() + " of utterance " + seg.getUtteranceId()
                    + ": its TurnRequest was already sent");
        }
        if (p.getLastSeq() >= 0 && seg.getSeq() > p.getLastSeq()) {
            throw new IllegalStateException("segment seq " + seg.getSeq() + " comes after the end of utterance "
                    + seg.getUtteranceId() + " at seq " + p.getLastSeq());
        }
        String segmentKey = StoreKeys.segment(callId, seg.getUtteranceId(), seg.getSeq());
        if (segments.get(segmentKey) != null) {
            metrics.increment(TopologyMetrics.DUPLICATE_SEGMENTS);
            return;
        }
        int bytes = seg.getPcm().remaining();
        boolean overCap = p.getCapExceeded() || p.getBytes() + bytes > config.maxUtteranceBytes();
        if (overCap) {
            // Keep the seq (for completeness) but not the audio; the audio goes to the dead-letter topic.
            p.setCapExceeded(true);
            p.setDroppedSegments(p.getDroppedSegments() + 1);
            metrics.increment(TopologyMetrics.CAPPED_SEGMENTS);
            deadLetter("process", new IllegalStateException("utterance " + seg.getUtteranceId() + " of call " + callId
                    + " is longer than the " + config.maxUtterance().toSeconds() + " s cap; segment seq " + seg.getSeq()
                    + " (" + bytes + " bytes) is not part of the turn request"));
            AudioSegment marker = AudioSegment.newBuilder(seg).setPcm(ByteBuffer.allocate(0)).build();
            segments.put(segmentKey, marker);
        } else {
            segments.put(segmentKey, seg);
            p.setBytes(p.getBytes() + bytes);
        }
        p.setSegments(p.getSegments() + 1);
        if (seg.getEndOfUtterance()) {
            if (seg.getSpeculative()) {
                TurnTimings st = seg.getTimings();
                speculation.opened(callId, seg.getUtteranceId(),
                        st == null || st.getEndOfTurnUs() == null ? 0 : st.getEndOfTurnUs(),
                        st == null || st.getSpeechEndUs() == null ? 0 : st.getSpeechEndUs());
            }
            p.setLastSeq(seg.getSeq());
            // The processor's clock (not Clock) so the gap timeout follows the punctuator's notion of time.
            p.setEndSeenUs(context.currentSystemTimeMs() * 1000);
            p.setTimings(seg.getTimings());
            // The turn's trace context: the bridge puts it on this segment only (vad-wait ends where it is sent),
            // and it is kept here so a request completed by a later segment or the gap timeout still carries it.
            byte[] traceparent = TurnTrace.traceparent(currentHeaders());
            p.setTraceparent(traceparent == null ? null : ByteBuffer.wrap(traceparent));
        }
        if (p.getLastSeq() >= 0 && p.getSegments() == p.getLastSeq() + 1) {
            send(callId, p, timestamp);
        }
        progress.put(progressKey, p);
        if (waitsForGapTimeout(p)) {
            startGapTimer();
        }
    }

    private void validate(AudioSegment seg) {
        if (seg.getUtteranceId() < 0 || seg.getSeq() < 0) {
            throw new IllegalArgumentException("utteranceId " + seg.getUtteranceId() + " and seq " + seg.getSeq()
                    + " must not be negative");
        }
        if (seg.getSampleRate() != config.sampleRate()) {
            throw new IllegalArgumentException("segment sample rate is " + seg.getSampleRate() + " Hz; caller audio must be "
                    + config.sampleRate() + " Hz");
        }
        int bytes = seg.getPcm().remaining();
        if (bytes % ConversationConfig.BYTES_PER_SAMPLE != 0) {
            throw new IllegalArgumentException("segment holds " + bytes + " bytes, not a whole number of 16-bit samples");
        }
        if (bytes > config.maxSegmentBytes()) {
            throw new IllegalArgumentException("segment holds " + bytes + " bytes, more than the "
                    + config.maxSegment().toMillis() + " ms segment limit (" + config.maxSegmentBytes() + " bytes)");
        }
    }

    /** Sends the utterance as a TurnRequest with the call's history; its buffered segments are dropped. */
    private void send(String callId, UtteranceProgress p, long timestamp) {
        ByteArrayOutputStream audio = new ByteArrayOutputStream((int) Math.min(p.getBytes(), Integer.MAX_VALUE));
        List<String> keys = new ArrayList<>();
        int present = 0;
        try (KeyValueIterator<String, AudioSegment> it = segments.prefixScan(
                StoreKeys.segmentPrefix(callId, p.getUtteranceId()), new StringSerializer())) {
            while (it.hasNext()) {
                var kv = it.next();
                keys.add(kv.key);
                ByteBuffer pcm = kv.value.getPcm();
                audio.write(pcm.array(), pcm.arrayOffset() + pcm.position(), pcm.remaining());
                present++;
            }
        }
        keys.forEach(segments::delete);
        SpeculationGate.Kind kind = speculation.kind(callId, p.getUtteranceId());
        if (kind == SpeculationGate.Kind.CANCELLED) {
            // the caller went on before this tentative end was complete here: the next utterance carries it all
            p.setEmitted(true);
            metrics.increment(TopologyMetrics.CANCELLED_BEFORE_REQUEST);
            return;
        }
        if (p.getLastSeq() >= 0 && present < p.getLastSeq() + 1) {
            metrics.increment(TopologyMetrics.UTTERANCES_WITH_GAPS);
        }
        TurnTimings timings = p.getTimings() == null ? new TurnTimings() : TurnTimings.newBuilder(p.getTimings()).build();
        timings.setRequestProducedUs(Clock.nowMicros());
        ByteBuffer pcm = ByteBuffer.wrap(audio.toByteArray());
        TurnRequest request = TurnRequest.newBuilder()
                .setCallId(callId).setTurnId(p.getUtteranceId()).setAttempt(0).setSampleRate(config.sampleRate())
                .setAudio(pcm).setHistory(conversation.history(callId)).setTimings(timings)
                .setSpeculative(kind != SpeculationGate.Kind.NOT_SPECULATIVE).build();
        if (request.getSpeculative()) {
            metrics.increment(TopologyMetrics.SPECULATIVE_TURNS);
        }
        conversation.addPending(callId, p.getUtteranceId(), pcm, userEndedUs(timings));
        p.setEmitted(true);
        metrics.increment(TopologyMetrics.TURN_REQUESTS);
        context.forward(new Record<>(callId, request, timestamp, trace.turnRequested(utteranceContext(p), request)),
                ConversationTopology.TURN_REQUEST_SINK);
        // Under exactly-once the worker (read_committed) sees the request only at the commit: ask for it now, so it
        // does not wait for the stream thread's next look at the commit timer (up to poll.ms on an idle thread).
        context.commit();
    }

    /**
     * The end-of-utterance segment's traceparent from the state, whichever record or punctuation sends the request;
     * empty when it had none (or the state is from a build before traces). Only the traceparent travels, as with
     * {@link TurnTrace#RELAY}.
     */
    private static Headers utteranceContext(UtteranceProgress p) {
        RecordHeaders headers = new RecordHeaders();
        ByteBuffer stored = p.getTraceparent();
        if (stored != null) {
            byte[] value = new byte[stored.remaining()];
            stored.duplicate().get(value);
            headers.add(TurnTrace.TRACEPARENT, value);
        }
        return headers;
    }

    /** When the caller stopped speaking, for the transcript: the last voiced frame, else the VAD's decision; 0 unknown. */
    static long userEndedUs(TurnTimings timings) {
        if (timings == null) {
            return 0;
        }
        Long at = timings.getSpeechEndUs() != null ? timings.getSpeechEndUs() : timings.getEndOfTurnUs();
        return at == null ? 0 : at;
    }

    private void sendUtterancesPastGapTimeout(long now) {
        long cutoff = (now - config.gapTimeout().toMillis()) * 1000;
        List<KeyValueIteratorEntry> due = new ArrayList<>();
        int notYet = 0;
        try (KeyValueIterator<String, UtteranceProgress> it = progress.all()) {
            while (it.hasNext()) {
                var kv = it.next();
                UtteranceProgress p = kv.value;
                if (waitsForGapTimeout(p)) {
                    if (p.getEndSeenUs() < cutoff) {
                        due.add(new KeyValueIteratorEntry(kv.key, p));
                    } else {
                        notYet++;
                    }
                }
            }
        }
        for (KeyValueIteratorEntry e : due) {
            String callId = StoreKeys.callIdOf(e.key());
            send(callId, e.progress(), now);
            progress.put(e.key(), e.progress());
        }
        if (notYet == 0 && gapTimer != null) {
            // nothing left to wait for (sent, completed by its segments, or cleared at CallEnded)
            gapTimer.cancel();
            gapTimer = null;
        }
    }

    private record KeyValueIteratorEntry(String key, UtteranceProgress progress) {
    }

    /** Forgets every utterance of the call (CallEnded). */
    static void clear(String callId, KeyValueStore<String, AudioSegment> segments, KeyValueStore<String, UtteranceProgress> progress) {
        deletePrefix(segments, StoreKeys.callPrefix(callId));
        deletePrefix(progress, StoreKeys.callPrefix(callId));
    }

    private static <V> void deletePrefix(KeyValueStore<String, V> store, String prefix) {
        List<String> keys = new ArrayList<>();
        try (KeyValueIterator<String, V> it = store.prefixScan(prefix, new StringSerializer())) {
            while (it.hasNext()) {
                keys.add(it.next().key);
            }
        }
        keys.forEach(store::delete);
    }
}
