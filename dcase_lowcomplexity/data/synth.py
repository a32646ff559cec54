"""Synthetic binaural scene audio for the demo dataset (data/demo.py).

`scene_clip(scene, rng)` returns 10 s of stereo float64 audio in [-1, 1) for one of the ten
DCASE scenes. Sources are built from spectrally shaped noise (one inverse FFT per source),
harmonic series (complex-phasor recurrence, no per-harmonic sine), and sparse events, then
placed with an interaural time and level difference. All parameters are drawn from `rng`.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft

CONTROL_RATE = 100  # Hz: envelopes are drawn at this rate and interpolated


@functools.lru_cache(maxsize=4)
def _grid(n: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(FFT bin frequencies, their position 0…1 on a log axis from 20 Hz to 24 kHz, sample
    times, samples per control step)."""
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    log_axis = np.log2(np.maximum(freqs, 20.0) / 20.0) / np.log2(1200.0)
    times = (np.arange(n) / sample_rate).astype(np.float32)
    return (freqs.astype(np.float32), log_axis.astype(np.float32), times,
            sample_rate // CONTROL_RATE)


class _Clip:
    """One clip being mixed: shared random generator, time/frequency grids, stereo mix."""

    def __init__(self, rng: np.random.Generator, sample_rate: int, duration_s: float):
        self.rng, self.sr = rng, sample_rate
        self.n = int(round(sample_rate * duration_s))
        self.f, self.log_f, self.t, self.step = _grid(self.n, sample_rate)
        self.n_control = -(-self.n // self.step) + 1  # control points, both ends included
        self.mix = np.zeros((2, self.n), dtype=np.float32)
        # Stationary diffuse sources are summed as spectra: one inverse FFT pair at the end.
        self.stationary = np.zeros((2, len(self.f)), dtype=np.complex64)
        self.eq = self._coloration()

    def _coloration(self) -> np.ndarray:
        """A random smooth EQ (tilt ± 6 dB plus ripples of a few dB over log frequency)
        applied to every noise source: microphones, positions and rooms differ, so the
        long-term spectrum alone should not give the class away."""
        x = self.log_f
        eq_db = np.float32(self.uniform(-6, 6)) * (x - np.float32(0.5))
        for k in range(1, 5):
            ripple, phase = self.rng.normal(0, 2.0), self.uniform(0, 2 * np.pi)
            eq_db += np.float32(ripple) * np.cos(np.float32(2 * np.pi * k) * x + np.float32(phase))
        return np.power(np.float32(10), eq_db / np.float32(20))

    def uniform(self, low: float = 0.0, high: float = 1.0, size=None):
        return self.rng.uniform(low, high, size)

    # -- building blocks -------------------------------------------------------------------
    def spectra(self, k: int) -> np.ndarray:
        """k random complex spectra (uniform real and imaginary parts; Gaussian in time)."""
        spec = self.rng.random((k, len(self.f), 2), dtype=np.float32) - 0.5
        return spec.view(np.complex64)[..., 0] * self.eq

    def noise(self, *gains: np.ndarray) -> np.ndarray:
        """One unit-RMS noise signal per spectral amplitude shape in `gains`, (k, n)."""
        return self._unit_rms(self.spectra(len(gains)) * np.stack(gains))

    def _unit_rms(self, spec: np.ndarray) -> np.ndarray:
        spec[:, 0] = 0  # no DC
        x = scipy.fft.irfft(spec, self.n, axis=-1)
        x /= np.sqrt(np.einsum("ij,ij->i", x, x) / self.n + 1e-20)[:, None]
        return x

    def pink(self, slope: float) -> np.ndarray:
        return (np.maximum(self.f, 20.0) / 1000.0) ** (-slope / 2)

    def band(self, low: float, high: float, order: int = 2) -> np.ndarray:
        f = np.maximum(self.f, 1.0)
        return 1 / np.sqrt((1 + (low / f) ** (2 * order)) * (1 + (f / high) ** (2 * order)))

    def slow(self, rate_hz: float, depth: float) -> np.ndarray:
        """Smooth random envelope 1 + depth·u(t), u ~ unit noise low-passed at rate_hz."""
        k = max(1, int(CONTROL_RATE / rate_hz))
        u = np.convolve(self.rng.standard_normal(self.n_control + k), np.hanning(k + 2)[1:-1],
                        mode="valid")[: self.n_control]
        u = u / (np.abs(u).max() + 1e-9)
        return self.at_samples(np.maximum(1 + depth * u, 0.02))

    def at_samples(self, control: np.ndarray) -> np.ndarray:
        """Linear interpolation of `n_control` points spaced `step` samples apart."""
        control = np.asarray(control, dtype=np.float32)
        w = np.arange(self.step, dtype=np.float32) / self.step
        out = control[:-1, None] * (1 - w) + control[1:, None] * w
        return out.reshape(-1)[: self.n]

    def harmonics(self, f0: np.ndarray, amplitudes) -> np.ndarray:
        """Σ a_k sin(k φ(t)) with φ' = 2π f0(t): one sine and cosine, then the Chebyshev
        recurrence sin((k+1)φ) = 2 cos φ sin kφ − sin((k−1)φ)."""
        phase = np.mod(np.cumsum(f0, dtype=np.float64) * (2 * np.pi / self.sr), 2 * np.pi)
        phase = phase.astype(np.float32)
        two_cos = 2 * np.cos(phase)
        previous, current = np.zeros(self.n, dtype=np.float32), np.sin(phase)
        out = amplitudes[0] * current
        for a in amplitudes[1:]:
            previous, current = current, two_cos * current - previous
            out += a * current
        return out / (np.sqrt(np.mean(out**2)) + 1e-20)

    def events(self, rate_hz: float, decay_s: tuple[float, float]) -> np.ndarray:
        """Sum of exponentially decaying bursts at Poisson times (unit peak each)."""
        env = np.zeros(self.n, dtype=np.float32)
        for start in self.uniform(0, self.n, self.rng.poisson(rate_hz * self.n / self.sr)):
            length = int(self.uniform(*decay_s) * self.sr)
            s = int(start)
            e = min(self.n, s + 5 * length)
            env[s:e] += self.uniform(0.3, 1.0) * np.exp(-np.arange(e - s) / length)
        return env

    # -- placing sources -------------------------------------------------------------------
    def place(self, mono: np.ndarray, level_db: float, itd: int | None = None,
              ild_db: float | None = None) -> None:
        """Adds a point source with an interaural delay (samples) and level difference."""
        itd = int(self.rng.integers(-24, 25)) if itd is None else itd
        ild_db = self.uniform(-6, 6) if ild_db is None else ild_db
        gain = 10 ** (level_db / 20)
        self.mix[0] += gain * 10 ** (ild_db / 40) * np.roll(mono, max(itd, 0))
        self.mix[1] += gain * 10 ** (-ild_db / 40) * np.roll(mono, max(-itd, 0))

    def diffuse(self, shape: np.ndarray, level_db: float, coherence: float,
                envelope: np.ndarray | None = None) -> None:
        """Adds noise of spectrum `shape` whose two ears correlate by `coherence`."""
        pair = self.spectra(2)
        pair *= shape
        pair[1] *= np.sqrt(1 - coherence**2)
        pair[1] += coherence * pair[0]  # right ear: correlated with the left by `coherence`
        gain = 10 ** (level_db / 20)
        if envelope is None:
            # Unit RMS in time ⇔ Σ 2·|X|² / n² = 1 over the n / 2 + 1 bins (Parseval).
            scale = gain / np.sqrt(np.vdot(pair[0], pair[0]).real * 2 / self.n**2 + 1e-30)
            pair *= scale
            self.stationary += pair
            return
        x = self._unit_rms(pair)
        x *= gain * envelope
        self.mix += x

    def render(self) -> np.ndarray:
        """The stereo mix, (2, n) float64, with the stationary sources added."""
        self.stationary[:, 0] = 0
        x = scipy.fft.irfft(self.stationary, self.n, axis=-1)
        return self.mix.astype(np.float64) + x


# -- the three classes ---------------------------------------------------------------------
def _babble(c: _Clip, level_db: float, reverb_s: float, talkers: int) -> None:
    """Speech-shaped noise with syllabic (3–6 Hz) envelopes, smeared by reverberation."""
    env = np.zeros(c.n_control)
    for _ in range(talkers):
        k = int(CONTROL_RATE / c.uniform(3, 6))
        u = np.convolve(c.rng.standard_normal(c.n_control + k), np.ones(k) / k, "valid")
        env += np.maximum(u[: c.n_control], 0) ** 2 * (1.0 if c.uniform() < 0.8 else 0.1)
    if reverb_s > 0:
        tail = np.exp(-np.arange(int(reverb_s * CONTROL_RATE)) * 6.9 / (reverb_s * CONTROL_RATE))
        env = 0.4 * env + 0.6 * np.convolve(env, tail / tail.sum())[: len(env)]
    env = c.at_samples(np.sqrt(env / (env.mean() + 1e-12)))
    c.diffuse(c.band(150, 3500) * c.pink(0.5), level_db, c.uniform(0.2, 0.7), env)


def _hum(c: _Clip, level_db: float) -> None:
    mains = 50.0 if c.uniform() < 0.5 else 60.0
    amps = c.uniform(0.2, 1.0, 5) / np.arange(1, 6)
    c.place(c.harmonics(np.full(c.n, mains, np.float32), amps), level_db)


def _rumble_burst(c: _Clip, level_db: float, carrier: np.ndarray | None = None) -> None:
    """A train or car passing: low-passed noise under a bell envelope, panning across."""
    centre, width = c.uniform(1, 9), c.uniform(1.0, 3.0)
    env = np.exp(-0.5 * ((c.t - centre) / width) ** 2)
    pan = np.tanh((c.t - centre) / width) * (1 if c.uniform() < 0.5 else -1)
    (x,) = c.noise(c.band(30, c.uniform(300, 1500)) * c.pink(1.0)) if carrier is None else (
        np.roll(carrier, int(c.rng.integers(c.n))),)
    gain = 10 ** (level_db / 20)
    c.mix[0] += gain * env * np.sqrt((1 - 0.8 * pan) / 2) * x
    c.mix[1] += gain * env * np.sqrt((1 + 0.8 * pan) / 2) * np.roll(x, int(8 * pan.mean()))


def _transportation(c: _Clip, scene: str) -> None:
    drift = c.slow(0.2, c.uniform(0.05, 0.25))  # accelerating, braking
    f0 = c.uniform(25, 45) if scene == "bus" else c.uniform(30, 60)
    amps = c.uniform(0.3, 1.0, 8) * np.arange(1, 9) ** -c.uniform(0.5, 1.2)
    c.place(c.harmonics(f0 * drift, amps) * c.slow(0.5, 0.3), c.uniform(-12, -2),
            itd=int(c.rng.integers(-4, 5)))
    low, rolling = c.noise(c.band(20, c.uniform(60, 200), 3), c.band(200, 2000) * c.pink(1.0))
    c.place(low * drift**2, c.uniform(-10, 0), itd=int(c.rng.integers(-2, 3)))  # rumble
    c.place(rolling * c.slow(1.0, 0.6), c.uniform(-22, -10))  # rolling noise, bumps
    if scene in ("tram", "metro"):
        ratio = c.uniform(8, 30)
        c.place(c.harmonics(f0 * ratio * drift, [1.0, 0.3]), c.uniform(-30, -14))
    if c.uniform() < 0.5:  # passengers
        _babble(c, c.uniform(-24, -8), c.uniform(0.1, 0.3), int(c.rng.integers(1, 5)))


def _indoor(c: _Clip, scene: str) -> None:
    _babble(c, c.uniform(-12, 0), c.uniform(0.5, 1.6), int(c.rng.integers(3, 12)))
    _hum(c, c.uniform(-30, -12))
    c.diffuse(c.band(80, 600), c.uniform(-24, -10), c.uniform(0.3, 0.8))  # ventilation
    steps = c.events(c.uniform(0.5, 3.0), (0.005, 0.03))
    (click,) = c.noise(c.band(1000, 9000))
    c.place(steps * click, c.uniform(-20, -8))
    if scene in ("airport", "metro_station") and c.uniform() < 0.6:
        start, tones = c.uniform(0, 8), c.uniform(440, 1200, 3)
        seg = slice(int(start * c.sr), int((start + 1.8) * c.sr))
        tt = c.t[seg] - start
        chime = sum(np.sin(2 * np.pi * f * tt) * np.exp(-3 * (tt - 0.6 * i).clip(0)) *
                    (tt >= 0.6 * i) for i, f in enumerate(tones))
        mono = np.zeros(c.n, np.float32)
        mono[seg] = chime
        c.place(mono, c.uniform(-22, -10))
    if scene == "metro_station" and c.uniform() < 0.5:
        _rumble_burst(c, c.uniform(-6, 2))


def _outdoor(c: _Clip, scene: str) -> None:
    gust = c.slow(c.uniform(0.2, 1.0), c.uniform(0.3, 0.9))
    c.diffuse(c.pink(c.uniform(1.2, 2.0)) * c.band(10, 16000, 1), c.uniform(-14, 0),
              c.uniform(0.0, 0.2), envelope=gust)  # wind: decorrelated at the two ears
    bird_rate = {"park": (0.5, 3.0), "public_square": (0.0, 1.0)}.get(scene, (0.0, 0.4))
    _birds(c, c.uniform(*bird_rate), c.uniform(-24, -8))
    cars = {"street_traffic": (3, 9), "street_pedestrian": (1, 4),
            "public_square": (0, 3)}.get(scene, (0, 2))
    (carrier,) = c.noise(c.band(30, c.uniform(500, 2000)) * c.pink(1.0))  # tyres, engines
    for _ in range(int(c.rng.integers(*cars))):
        _rumble_burst(c, c.uniform(-8, 2), carrier)
    if scene in ("street_pedestrian", "public_square"):
        _babble(c, c.uniform(-18, -6), 0.0, int(c.rng.integers(1, 5)))


def _birds(c: _Clip, rate_hz: float, level_db: float) -> None:
    """Frequency-modulated chirps (2–8 kHz, 30–150 ms) at Poisson times."""
    freq = np.zeros(c.n, np.float32)
    amp = np.zeros(c.n, np.float32)
    for start in c.uniform(0, c.n - 0.2 * c.sr, c.rng.poisson(rate_hz * c.n / c.sr)):
        s, d = int(start), int(c.uniform(0.03, 0.15) * c.sr)
        f1 = c.uniform(2000, 7000)
        freq[s:s + d] = np.linspace(f1, f1 + c.uniform(-1500, 3000), d)
        amp[s:s + d] = np.hanning(d) * c.uniform(0.3, 1.0)
    active = amp > 0
    if active.any():
        mono = np.zeros(c.n, np.float32)
        phase = np.cumsum(freq, dtype=np.float64) * (2 * np.pi / c.sr)
        mono[active] = amp[active] * np.sin(phase[active])
        c.place(mono / 0.3, level_db)


_CLASS_OF_SCENE = {
    "airport": _indoor, "shopping_mall": _indoor, "metro_station": _indoor,
    "park": _outdoor, "public_square": _outdoor, "street_pedestrian": _outdoor,
    "street_traffic": _outdoor, "bus": _transportation, "tram": _transportation,
    "metro": _transportation,
}


def scene_clip(scene: str, rng: np.random.Generator, sample_rate: int = 48000,
               duration_s: float = 10.0) -> np.ndarray:
    """(n, 2) float64 audio of `scene`: its class's sources over a shared pink background,
    scaled to a random level (−38…−22 dBFS RMS) so loudness carries no class."""
    c = _Clip(rng, sample_rate, duration_s)
    c.diffuse(c.pink(c.uniform(0.8, 1.3)), c.uniform(-18, -2), c.uniform(0.3, 0.9))
    c.diffuse(c.band(20, c.uniform(150, 400), 2), c.uniform(-30, -6), c.uniform(0.5, 0.95))
    _CLASS_OF_SCENE[scene](c, scene)
    mix = c.render()
    mix *= 10 ** (c.uniform(-38, -22) / 20) / (np.sqrt(np.mean(mix**2)) + 1e-20)
    peak = np.abs(mix).max()
    if peak > 0.98:
        mix *= 0.98 / peak
    return np.ascontiguousarray(mix.T)
