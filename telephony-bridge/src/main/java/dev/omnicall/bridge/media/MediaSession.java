package dev.omnicall.bridge.media;

import dev.omnicall.bridge.codec.G711;
import dev.omnicall.bridge.codec.Upsampler8To16;
import dev.omnicall.bridge.rtp.DtmfDetector;
import dev.omnicall.bridge.rtp.JitterBuffer;
import dev.omnicall.bridge.rtp.ParseResult;
import dev.omnicall.bridge.rtp.ReceptionStats;
import dev.omnicall.bridge.rtp.RtpPacket;
import dev.omnicall.bridge.rtp.TelephoneEvent;
import dev.omnicall.bridge.vad.BatchableVad;
import dev.omnicall.bridge.vad.Vad;
import dev.omnicall.bridge.vad.VadBatch;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.DatagramChannel;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The media of one call: what the SIP layer opens after the offer/answer and closes at BYE.
 *
 * <pre>
 * receive thread (one of a few shared by all calls, {@link RtpReceivers}):
 *                 UDP → source check → RTP parse → payload type → jitter buffer ─┬→ RFC 4733 → DTMF
 *                                                                                └→ G.711 decode → 8→16 kHz
 *                 → 512-sample frames → VAD ─┬→ utterance segmenter → onSegment
 *                                            └→ barge-in detector → stop playback → onBargeIn
 * pacer thread (one of a few shared by all calls, {@link RtpPacer}):
 *                 playChunk → playout buffer (8/16/24→8 kHz) → every ptime: G.711 encode → RTP → UDP
 * </pre>
 *
 * <p>No thread belongs to a call: the session's non-blocking channel is selected by one of the bridge's receive
 * threads and its sender is ticked by one of the pacer's threads.
 *
 * <p>Bad input from the network (truncated or non-RTP datagrams, unknown payload types, packets from
 * other addresses) is counted and dropped; nothing thrown by one packet stops the receive loop.
 * Lifecycle: {@link #open} binds the port (put {@link #localPort()} in the SDP answer), {@link #start}
 * begins receiving and sending, {@link #close} ends both and frees the port. A partial utterance at
 * close is dropped (the call is over; no turn is requested for it).
 */
public final class MediaSession implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MediaSession.class);
    private static final int COMFORT_NOISE_PAYLOAD_TYPE = 13; // RFC 3389: ignored, not an error
    /**
     * Caller audio missing this long beyond the end-of-utterance silence is taken as silence (silence
     * suppression). Shorter gaps are left to the RTP timestamps of the next packet: a stall that only delays
     * packets must not put silence into the speech.
     */
    private static final long SILENCE_FILL_MARGIN_MICROS = 40_000;

    private final MediaConfig config;
    private final DatagramChannel channel;
    private final InetSocketAddress localAddress;
    private final PlayoutBuffer playout;
    private final Vad vad;
    /**
     * Guards the receive state. Fair, so a control call (hold, a re-INVITE) waits for at most the datagram in
     * hand: a receive thread working through a backlog re-takes an unfair lock between datagrams and kept a
     * waiting thread out for minutes under overload.
     */
    private final ReentrantLock rx = new ReentrantLock(true);
    /** The receive counters as of the last datagram, for readers that must never wait for the receive thread. */
    private volatile RxCounters rxCounters = RxCounters.NONE;
    private volatile G711 codec;
    private volatile InetSocketAddress remote;
    private volatile boolean held;
    private volatile boolean closed;
    private volatile MediaListener listener = new MediaListener() {};

    private RtpSender sender;
    private RtpPacer.Handle pacing;
    private RtpReceivers.Registration receiving;

    // receive thread state, guarded by rx
    private boolean latched;
    private final ReceptionStats reception = new ReceptionStats(G711.CLOCK_RATE);
    private final JitterBuffer jitter;
    private final DtmfDetector dtmf;
    private final Upsampler8To16 upsampler = new Upsampler8To16();
    private final UtteranceSegmenter segmenter;
    private final BargeInDetector bargeIn;
    private final short[] frame = new short[Vad.FRAME_SAMPLES];
    private int frameFill;
    private long lastFrameEndUs;
    private long malformed;
    private long wrongPayloadType;
    private long unknownSource;
    private long arrivalEpochUs;
    private int samplesLeftInPacket;
    /** A frame queued in the receive thread's VAD batch, waiting for its probability (at most one). */
    private PendingFrame pending;
    private final Batched batched = new Batched();
    // RTP timeline bookkeeping: silence fed by onIdle is a guess made on the wall clock; the next audio
    // packet's timestamp says how much silence there really was (none, if packets were only delayed).
    private long nextAudioTimestamp = -1;
    private long idleFilledSamples;
    private long surplusSamples;
    /** Longest caller pause that is replayed as silence from RTP timestamps (longer: a new talkspurt). */
    private static final long MAX_TIMESTAMP_GAP_SAMPLES_8K = 2 * G711.CLOCK_RATE;

    private MediaSession(MediaConfig config, DatagramChannel channel, G711 codec, int ptimeMs, InetSocketAddress remote)
            throws IOException {
        RtpSender.checkPtime(ptimeMs);
        this.config = config;
        this.channel = channel;
        this.localAddress = (InetSocketAddress) channel.getLocalAddress();
        this.codec = codec;
        this.remote = remote;
        this.playout = new PlayoutBuffer(config.playoutPrebufferMs(), config.playoutMaxQueuedMs(),
                config.playoutMaxStallMs());
        this.vad = config.vadFactory().newVad();
        this.jitter = new JitterBuffer(config.jitterDepthPackets(), config.concealment(), codec.silence(), this::onSlot);
        this.segmenter = new UtteranceSegmenter(config.segmenter(), config.epochMicros(), s -> {
            config.metrics().segmentEmitted();
            if (s.speculative()) {
                // hold before the request can exist: no chunk of a speculative turn may play unconfirmed
                playout.hold(s.utteranceId());
                config.metrics().speculation("started");
            }
            notify(l -> l.onSegment(s));
        }, new UtteranceSegmenter.SpeculationListener() {
            @Override
            public void confirmed(int turnId, long tentativeEndUs, long confirmedUs) {
                playout.release(turnId);
                config.metrics().speculation("confirmed");
                MediaSession.this.notify(l -> l.onSpeculationConfirmed(turnId, tentativeEndUs, confirmedUs));
            }

            @Override
            public void cancelled(int turnId, long tentativeEndUs, long cancelledUs) {
                int droppedMs = playout.cancel(turnId) / 8;
                config.metrics().speculation("cancelled");
                MediaSession.this.notify(l -> l.onSpeculationCancelled(turnId, tentativeEndUs, cancelledUs, droppedMs));
            }

            @Override
            public void endOfTurn(int turnId, EndOfTurnEstimator.Decision decision) {
                config.metrics().endOfTurnWait(decision.silenceMs(), decision.reason().tag());
            }
        });
        this.dtmf = new DtmfDetector(G711.CLOCK_RATE, d -> {
            config.metrics().dtmfDigit();
            segmenter.dtmf(config.epochMicros().getAsLong());
            notify(l -> l.onDtmf(d));
        });
        this.bargeIn = new BargeInDetector(config.segmenter().startThreshold(), config.bargeInMinSpeechMs());
        this.sender = new RtpSender(channel, playout, codec, ptimeMs, remote, new Relay(), config.metrics(),
                config.epochMicros());
    }

    /**
     * Binds a UDP port from {@code ports} for a call whose answer chose {@code codec} and {@code ptimeMs}
     * (20 or 30 for G.711; 10 and 40 are accepted too). {@code remoteRtpAddress} is the address:port of
     * the remote's SDP; with {@link MediaConfig#latchRemote()} it may be a placeholder.
     */
    public static MediaSession open(MediaConfig config, RtpPortAllocator ports, G711 codec, int ptimeMs,
                                    InetSocketAddress remoteRtpAddress) throws IOException {
        Objects.requireNonNull(codec, "codec");
        if (remoteRtpAddress == null && !config.latchRemote()) {
            throw new IllegalArgumentException("a remote RTP address is needed unless latching is on");
        }
        DatagramChannel channel = ports.allocate();
        try {
            channel.setOption(StandardSocketOptions.SO_RCVBUF, 256 * 1024);
            channel.configureBlocking(false);
            return new MediaSession(config, channel, codec, ptimeMs, remoteRtpAddress);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    public int localPort() {
        return localAddress.getPort();
    }

    public InetSocketAddress localAddress() {
        return localAddress;
    }

    /**
     * Starts receiving (on one of the bridge's receive threads) and the send clock (on one of the pacer's threads);
     * events go to {@code listener}.
     */
    public synchronized void start(MediaListener listener) {
        if (receiving != null) {
            throw new IllegalStateException("media session on port " + localPort() + " already started");
        }
        if (closed) {
            throw new IllegalStateException("media session on port " + localPort() + " is closed");
        }
        this.listener = Objects.requireNonNull(listener, "listener");
        receiving = config.receivers().register(channel, new Receiving());
        pacing = config.pacer().schedule(sender, System.nanoTime() + sender.periodNanos());
    }

    /** The name of the thread that receives this call's RTP (shared with other calls); null before start. */
    public String receiveThreadName() {
        RtpReceivers.Registration r = receiving;
        return r == null ? null : r.threadName();
    }

    /**
     * Queues a chunk of reply audio (16 kHz S16LE mono). Duplicates, other attempts of a turn and chunks
     * of a stopped turn are not played; the outcome says which.
     */
    public PlayoutBuffer.Outcome playChunk(int turnId, int attempt, int seq, byte[] pcm16k, boolean isFinal) {
        return playChunk(turnId, attempt, seq, pcm16k, isFinal, -1);
    }

    /**
     * As above, with the chunk's {@code textChars} (how much of the attempt's reply text is voiced by its end,
     * -1 unknown), so that a barge-in can say how much of the text the caller heard.
     */
    public PlayoutBuffer.Outcome playChunk(int turnId, int attempt, int seq, byte[] pcm16k, boolean isFinal, int textChars) {
        return playChunk(turnId, attempt, seq, 16_000, pcm16k, isFinal, textChars);
    }

    /**
     * As above, for S16LE mono audio at {@code sampleRate} Hz: 8000, 16000 or 24000 (AudioChunk.sampleRate). Each is
     * low-passed and decimated to 8 kHz per turn ({@code DownsamplerTo8k}); pacing and barge-in do not depend on it.
     *
     * @throws IllegalArgumentException for another rate, an odd byte count, or a rate that changes within an attempt
     */
    public PlayoutBuffer.Outcome playChunk(int turnId, int attempt, int seq, int sampleRate, byte[] pcm, boolean isFinal,
                                           int textChars) {
        PlayoutBuffer.Outcome outcome = playout.offer(turnId, attempt, seq, sampleRate, pcm, isFinal, textChars);
        if (outcome != PlayoutBuffer.Outcome.QUEUED) {
            config.metrics().chunkRejected(outcome);
        }
        return outcome;
    }

    /** Stops playback now (queued audio is dropped); returns the turn that was playing, or null. */
    public TurnAttempt stopPlayback() {
        return playout.stop();
    }

    /** Stops playback now, as a barge-in does; returns how much of the turn that was playing went out, or null. */
    public PlayedPart interruptPlayback() {
        return playout.stopAndReport();
    }

    public boolean isPlaying() {
        return playout.isActive();
    }

    /** A re-INVITE moved the remote, or changed codec or ptime. */
    public void updateRemote(InetSocketAddress remoteRtpAddress, G711 newCodec, int ptimeMs) {
        rx.lock();
        try {
            this.remote = remoteRtpAddress;
            this.codec = newCodec;
            this.latched = false;
        } finally {
            rx.unlock();
        }
        sender.updateRemote(remoteRtpAddress, newCodec, ptimeMs);
    }

    public void updateRemote(InetSocketAddress remoteRtpAddress) {
        updateRemote(remoteRtpAddress, codec, (int) (sender.periodNanos() / 1_000_000));
    }

    /**
     * On hold nothing is sent (the send clock keeps running, so the RTP timestamp shows the pause) and
     * received audio is counted but not listened to; the VAD and any partial utterance are reset.
     */
    public void hold(boolean on) {
        held = on;
        sender.hold(on);
        rx.lock();
        try {
            if (on) {
                pending = null;     // a frame waiting in the batch is dropped with the partial utterance
                segmenter.reset();
                vad.reset();
                frameFill = 0;
            }
        } finally {
            rx.unlock();
        }
    }

    /**
     * The call's counters. Never waits for the receive thread: its counters are read as of the last datagram it
     * finished (the RTP watchdog and the metrics scrape call this for every call, also when the bridge is
     * overloaded and every receive thread is working through a backlog).
     */
    public MediaStats stats() {
        RxCounters r = rxCounters;
        LatencyHistogram lateness = sender.lateness();
        return new MediaStats(r.received, r.lost, r.jitterMs, r.late, r.concealed, r.malformed, r.wrongPayloadType,
                r.unknownSource, sender.packetsSent(), lateness.percentileMicros(0.99), lateness.maxMicros());
    }

    /** Receive-side counters, published by the receive thread after each datagram. */
    private record RxCounters(long received, long lost, double jitterMs, long late, long concealed, long malformed,
                              long wrongPayloadType, long unknownSource) {
        static final RxCounters NONE = new RxCounters(0, 0, 0, 0, 0, 0, 0, 0);
    }

    private void publishCounters() {
        rxCounters = new RxCounters(reception.received(), Math.max(0, reception.lost()), reception.jitterMillis(),
                jitter.late(), jitter.lost(), malformed, wrongPayloadType, unknownSource);
    }

    /** Send lateness of this call, for fleet-wide percentiles. */
    public LatencyHistogram sendLateness() {
        return sender.lateness();
    }

    public String vadName() {
        return vad.name();
    }

    public long ssrc() {
        return sender.ssrc();
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        if (pacing != null) {
            pacing.cancel();
        }
        RtpReceivers.Registration r = receiving;
        if (r != null) {
            r.cancel();
        }
        playout.stop();
        // the receive thread may be inside this call's datagram: wait for it (it sees closed from then on)
        rx.lock();
        rx.unlock();
        try {
            channel.close();
        } catch (IOException e) {
            LOG.debug("closing RTP channel on port {}: {}", localPort(), e.toString());
        }
        vad.close();
    }

    /** What the receive thread hands this call. */
    private final class Receiving implements RtpReceivers.Endpoint {
        @Override
        public void onDatagram(byte[] buf, int length, InetSocketAddress from, long arrivalNanos) {
            MediaSession.this.onDatagram(buf, length, from, arrivalNanos);
        }

        @Override
        public void onIdle() {
            MediaSession.this.onIdle();
        }

        @Override
        public void onReceiveFailed(IOException e) {
            if (!closed) {
                LOG.warn("RTP receive on port {} failed, the call receives nothing more: {}", localPort(), e.toString());
            }
        }
    }

    void onDatagram(byte[] buf, int length, InetSocketAddress from, long arrivalNanos) {
        rx.lock();
        try {
            if (closed) {
                return;
            }
            settle();
            onDatagramLocked(buf, length, from, arrivalNanos);
        } finally {
            publishCounters();
            rx.unlock();
        }
    }

    private void onDatagramLocked(byte[] buf, int length, InetSocketAddress from, long arrivalNanos) {
        ParseResult<RtpPacket> parsed = RtpPacket.parse(buf, 0, length);
        if (parsed instanceof ParseResult.Failed<RtpPacket> failed) {
            malformed++;
            config.metrics().packetMalformed();
            if (malformed == 1) {
                LOG.info("port {}: dropping malformed RTP from {}: {}", localPort(), from, failed.error().getMessage());
            }
            return;
        }
        RtpPacket packet = ((ParseResult.Ok<RtpPacket>) parsed).value();
        if (!fromRemote(from)) {
            unknownSource++;
            config.metrics().packetUnknownSource();
            return;
        }
        int pt = packet.payloadType();
        boolean audio = pt == codec.payloadType();
        boolean event = pt == config.telephoneEventPayloadType();
        if (!audio && !event) {
            if (pt != COMFORT_NOISE_PAYLOAD_TYPE) {
                wrongPayloadType++;
                config.metrics().packetWrongPayloadType();
            }
            return;
        }
        latchIfNeeded(from);
        config.metrics().packetReceived();
        reception.onPacket(packet.sequenceNumber(), packet.timestamp(), arrivalNanos, audio);
        if (held) {
            return;
        }
        arrivalEpochUs = config.epochMicros().getAsLong();
        long lostBefore = jitter.lost();
        long lateBefore = jitter.late();
        jitter.offer(packet);
        if (jitter.lost() > lostBefore) {
            config.metrics().packetsLost(jitter.lost() - lostBefore);
        }
        if (jitter.late() > lateBefore) {
            config.metrics().packetLate();
        }
    }

    private boolean fromRemote(InetSocketAddress from) {
        if (config.latchRemote() && !latched) {
            return true;
        }
        return from.equals(remote);
    }

    private void latchIfNeeded(InetSocketAddress from) {
        if (config.latchRemote() && !latched) {
            latched = true;
            if (!from.equals(remote)) {
                remote = from;
                sender.latchRemote(from);
            }
            notify(l -> l.onRemoteLatched(from));
        }
    }

    /** A slot released in order by the jitter buffer. */
    private void onSlot(JitterBuffer.Slot slot) {
        RtpPacket packet = slot.packet();
        if (packet.payloadType() == config.telephoneEventPayloadType()) {
            if (slot.concealed()) {
                return;
            }
            ParseResult<TelephoneEvent> e = TelephoneEvent.parse(packet.payload());
            if (e instanceof ParseResult.Ok<TelephoneEvent> ok) {
                dtmf.onPacket(packet.timestamp(), ok.value());
            } else {
                malformed++;
                config.metrics().packetMalformed();
            }
            return;
        }
        if (packet.payload().length == 0 || packet.payloadType() != codec.payloadType()) {
            return;
        }
        short[] pcm16k = upsampler.process(codec.decode(packet.payload()));
        int at = reconcileTimeline(packet.timestamp(), packet.payload().length, pcm16k.length);
        samplesLeftInPacket = pcm16k.length - at;
        while (at < pcm16k.length) {
            int take = Math.min(Vad.FRAME_SAMPLES - frameFill, pcm16k.length - at);
            System.arraycopy(pcm16k, at, frame, frameFill, take);
            frameFill += take;
            at += take;
            samplesLeftInPacket = pcm16k.length - at;
            if (frameFill == Vad.FRAME_SAMPLES) {
                frameFill = 0;
                // The packet arrived when its last sample was captured (plus network delay).
                long frameEndUs = arrivalEpochUs - samplesLeftInPacket * 1_000_000L / Vad.SAMPLE_RATE;
                onFrame(frame, frameEndUs - Vad.FRAME_MICROS);
            }
        }
    }

    /**
     * Keeps the audio handed to the segmenter as long as the caller's RTP timeline. A pause the caller did not
     * send (silence suppression) is filled with silence: by onIdle while it lasts, and here for whatever part
     * the timestamps show onIdle did not cover. Silence onIdle fed while packets were merely late (a stall
     * here or in the network) is paid back by skipping as many samples of the late audio, so a delay never
     * makes an utterance longer. Returns how many samples of this packet to skip.
     */
    private int reconcileTimeline(long timestamp, int samples8k, int samples16k) {
        long gap8k = 0;
        if (nextAudioTimestamp >= 0) {
            gap8k = (int) (timestamp - nextAudioTimestamp);         // 32-bit RTP arithmetic, wrap-safe
            if (gap8k < 0 || gap8k > MAX_TIMESTAMP_GAP_SAMPLES_8K) {
                gap8k = 0;                                           // reordered past the buffer, or a new talkspurt
            }
        }
        nextAudioTimestamp = (timestamp + samples8k) & 0xFFFF_FFFFL;
        long pause16k = gap8k * (Vad.SAMPLE_RATE / G711.CLOCK_RATE);
        if (idleFilledSamples > pause16k) {
            surplusSamples += idleFilledSamples - pause16k;
        } else if (pause16k > idleFilledSamples && segmenter.inUtterance()) {
            long missing = pause16k - idleFilledSamples;
            long payBack = Math.min(missing, surplusSamples);
            surplusSamples -= payBack;
            feedSilence(missing - payBack);
        }
        idleFilledSamples = 0;
        int skip = (int) Math.min(surplusSamples, samples16k);
        surplusSamples -= skip;
        return skip;
    }

    private void feedSilence(long samples) {
        long left = samples;
        while (left > 0) {
            int take = (int) Math.min(Vad.FRAME_SAMPLES - frameFill, left);
            java.util.Arrays.fill(frame, frameFill, frameFill + take, (short) 0);
            frameFill += take;
            left -= take;
            if (frameFill == Vad.FRAME_SAMPLES) {
                frameFill = 0;
                long frameEndUs = arrivalEpochUs - left * 1_000_000L / Vad.SAMPLE_RATE;
                onFrame(frame, frameEndUs - Vad.FRAME_MICROS);
            }
        }
    }

    /**
     * A complete 512-sample frame. On a receive thread with a {@link VadBatch}, a frame the energy gate lets through
     * is queued there and goes on when the batch has run (at the end of the thread's turn over its calls); a frame
     * the gate skips, and every frame elsewhere (tests, no Silero), goes on at once.
     */
    private void onFrame(short[] pcm, long captureStartUs) {
        lastFrameEndUs = captureStartUs + Vad.FRAME_MICROS;
        VadBatch batch = VadBatch.current();
        if (batch != null && vad instanceof BatchableVad b) {
            settle();
            float p = b.gate(pcm);
            if (Float.isNaN(p)) {
                pending = new PendingFrame(pcm.clone(), captureStartUs);
                batch.add(batched);
                return;
            }
            afterVad(pcm, p, captureStartUs);
            return;
        }
        afterVad(pcm, vad.speechProbability(pcm), captureStartUs);
    }

    /** A frame of this call is waiting in the batch: run the batch now, before anything reads what it decides. */
    private void settle() {
        if (pending != null) {
            VadBatch batch = VadBatch.current();
            if (batch != null) {
                batch.run();
            }
        }
    }

    private record PendingFrame(short[] pcm, long captureStartUs) {}

    /** This call as a member of its receive thread's VAD batch. */
    private final class Batched implements VadBatch.Member {
        @Override
        public java.util.concurrent.locks.Lock lock() {
            return rx;
        }

        @Override
        public BatchableVad vad() {
            return (BatchableVad) vad;
        }

        @Override
        public short[] frame() {
            PendingFrame f = pending;
            return f == null || closed ? null : f.pcm();
        }

        @Override
        public void answered(float p) {
            PendingFrame f = pending;
            pending = null;
            ((BatchableVad) vad).modelAnswered(f.pcm(), p);
            afterVad(f.pcm(), p, f.captureStartUs());
        }
    }

    /** The frame's speech probability is known: segmenter and barge-in. */
    private void afterVad(short[] pcm, float p, long captureStartUs) {
        segmenter.accept(pcm, p, captureStartUs);
        if (bargeIn.onFrame(p, Vad.FRAME_MICROS, playout.isActive())) {
            PlayedPart stopped = playout.stopAndReport();
            if (stopped != null) {
                config.metrics().bargeIn();
                long now = config.epochMicros().getAsLong();
                notify(l -> l.onBargeIn(stopped, now));
            }
        }
    }

    /**
     * No datagram for a poll interval. Once nothing has arrived for longer than the silence that ends an
     * utterance, the caller has stopped sending (silence suppression): the gap is fed as silence so the
     * utterance ends on time.
     */
    private void onIdle() {
        rx.lock();
        try {
            onIdleLocked();
        } finally {
            rx.unlock();
        }
    }

    private void onIdleLocked() {
        settle();
        if (closed || held || !segmenter.inUtterance()) {
            return;
        }
        long now = config.epochMicros().getAsLong();
        long fillAfter = segmenter.endOfTurnSilenceMs() * 1000L + SILENCE_FILL_MARGIN_MICROS;
        if (now - lastFrameEndUs < fillAfter) {
            return;
        }
        while (now - lastFrameEndUs >= Vad.FRAME_MICROS && segmenter.inUtterance()) {
            short[] silence = new short[Vad.FRAME_SAMPLES];
            long start = lastFrameEndUs;
            lastFrameEndUs = start + Vad.FRAME_MICROS;
            idleFilledSamples += Vad.FRAME_SAMPLES;
            segmenter.accept(silence, 0f, start);
        }
    }

    private void notify(java.util.function.Consumer<MediaListener> event) {
        try {
            event.accept(listener);
        } catch (RuntimeException e) {
            LOG.warn("media listener failed on port {}", localPort(), e);
        }
    }

    /** Playback events from the sender, forwarded to whatever listener is current. */
    private final class Relay implements MediaListener {
        @Override
        public void onPlaybackStarted(TurnAttempt turn, long firstRtpEpochMicros) {
            MediaSession.this.notify(l -> l.onPlaybackStarted(turn, firstRtpEpochMicros));
        }

        @Override
        public void onPlaybackFinished(TurnAttempt turn) {
            MediaSession.this.notify(l -> l.onPlaybackFinished(turn));
        }
    }
}
