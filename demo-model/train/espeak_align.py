"""Where each phoneme of an espeak-ng utterance lies in time, from espeak-ng itself: libespeak-ng (the library the
`espeak-ng` command runs) through ctypes, with its phoneme events switched on. Each event names a phoneme (IPA, as
`--ipa` writes it, one event per sound: "p", "eɪ", "ɔːɹ"; "" for a pause) and the sample at which it starts.

The events come from synthesising the text again with the same voice, variant, speed and pitch, which gives the
command line's timing to the sample (checked in data.py against every rendered file's length): the two differ only
in the random noise of fricatives and breath. So an utterance rendered before the aligner existed can be aligned
afterwards without rendering it again."""
import ctypes
import json
import os

RATE = 22050  # espeak-ng's output rate

_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: espeak_Synth returns when the whole text is synthesised
_INIT = 0x0001 | 0x0002 | 0x8000  # phoneme events, their names in IPA, errors returned instead of exit()
_SYNTH = 0x0100 | 0x1000  # espeakPHONEMES | espeakENDPAUSE: as the command line synthesises (same sample count)
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_RATE_PARAM, _PITCH_PARAM = 1, 3


class _Event(ctypes.Structure):  # espeak_EVENT (speak_lib.h)
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


class _Voice(ctypes.Structure):  # espeak_VOICE (speak_lib.h)
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


_started = {}  # data path -> the library, initialised in this process and never used to synthesise here


def _library(data_path):
    """libespeak-ng initialised for data_path in this process, once (a process serves one data path)."""
    if data_path not in _started:
        if _started:
            raise RuntimeError(f"espeak_align: this process started libespeak-ng for {next(iter(_started))}, "
                               f"not {data_path}")
        lib = ctypes.CDLL("libespeak-ng.so.1")
        rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, data_path.encode() if data_path else None, _INIT)
        if rate != RATE:
            raise RuntimeError(f"libespeak-ng did not start (data path {data_path}): returned {rate}")
        lib.espeak_SetVoiceByName(b"en")  # loads the English dictionary once, for every child (25 ms each else)
        _started[data_path] = lib
    return _started[data_path]


def _synthesise(lib, voice, speed, pitch, text):
    """(samples, events) from lib, initialised and never used before in this (forked) process."""
    got = [0, []]

    def on_audio(wav, n, events):
        got[0] += max(0, n)
        k = 0
        while events[k].type != _EVENT_LIST_TERMINATED:
            if events[k].type == _EVENT_PHONEME:
                got[1].append((events[k].sample, events[k].id.decode("utf-8", "replace")))
            k += 1
        return 0
    callback = _CALLBACK(on_audio)
    lib.espeak_SetSynthCallback(callback)
    # as the command line: the name of a voice file, else a language ("en-gb+edward" names no file)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        if lib.espeak_SetVoiceByProperties(ctypes.byref(_Voice(languages=voice.encode()))) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
    lib.espeak_SetParameter(_RATE_PARAM, int(speed), 0)
    lib.espeak_SetParameter(_PITCH_PARAM, int(pitch), 0)
    raw = text.encode()
    err = lib.espeak_Synth(raw, len(raw) + 1, 0, 0, 0, _SYNTH, None, None)
    if err != 0 or lib.espeak_Synchronize() != 0:
        raise RuntimeError(f"espeak-ng could not synthesise {text!r} in {voice} (error {err})")
    return got[0], sorted(got[1], key=lambda e: e[0])  # by sample only: the order within one sample stays


def align(voice, speed, pitch, text, data_path=None):
    """(number of samples at RATE, [(start sample, phoneme), ...] in order; phoneme "" is a pause) for text spoken
    as `espeak-ng [--path=data_path] -v voice -s speed -p pitch` would. The library keeps state from one utterance
    to the next (durations came out up to 0.12 s longer after some voices), and does not start again cleanly in a
    process (espeak_Terminate then espeak_Initialize hung), so every utterance is synthesised in a child forked
    from this process, which has started the library and loaded English but never synthesised (~3 ms a fork)."""
    lib = _library(data_path)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(read)
            out = _synthesise(lib, voice, speed, pitch, text)
        except BaseException as e:  # noqa: BLE001 - the parent raises it
            out, code = repr(e), 1
        with os.fdopen(write, "w") as f:
            json.dump(out, f)
        os._exit(code)
    os.close(write)
    with os.fdopen(read) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"espeak-ng alignment of {text!r} in {voice}: {data or f'the child ended with {status}'}")
    out = json.loads(data)
    return out[0], [tuple(e) for e in out[1]]
