"""mm: Mind's Mirror distillation study (data, teacher, student, evaluation)."""
import os
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The default profile needs nothing from the hub, and without network a hub lookup takes ~48 s to fail: the hub is off
# unless you set these yourself, and mm.hub turns it back on for a profile that names a hub id. HF_HOME stays inside
# the project.
USER_HUB_ENV = {key: os.environ[key] for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
                if key in os.environ}
for _key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_key, "1")
os.environ.setdefault("HF_HOME", str(ROOT / ".cache" / "huggingface"))
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Warnings that print this machine's site-packages path, which the executed notebooks committed under runs/ would
# carry: tqdm's about plain-text progress bars (papermill has no ipywidgets), and transformers' about the deprecated
# `is_gradient_checkpointing` that peft reads when it wraps a LoRA student.
PATH_WARNINGS = ("IProgress not found", "`is_gradient_checkpointing` is deprecated")


def silence_path_warnings() -> None:
    for message in PATH_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


silence_path_warnings()
