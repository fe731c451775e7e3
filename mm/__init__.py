"""mm: Mind's Mirror distillation study (data, teacher, student, evaluation)."""
import os
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Everything runs offline: without these a hub lookup takes ~48 s to fail. HF_HOME stays inside the project.
for _key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(_key, "1")
os.environ.setdefault("HF_HOME", str(ROOT / ".cache" / "huggingface"))
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Progress bars in papermill-run notebooks are plain text (no ipywidgets); tqdm's warning about it would put this
# machine's absolute site-packages path into every executed notebook.
warnings.filterwarnings("ignore", message="IProgress not found")
