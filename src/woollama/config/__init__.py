"""Loading and validating woollama's three config files."""

from woollama.config.loader import load_config
from woollama.config.models import (
    Config,
    InferencerConfig,
    McpConfig,
    McpServerConfig,
    RecipeConfig,
)
from woollama.config.paths import config_dir, runtime_dir, state_dir

__all__ = [
    "Config",
    "InferencerConfig",
    "McpConfig",
    "McpServerConfig",
    "RecipeConfig",
    "config_dir",
    "load_config",
    "runtime_dir",
    "state_dir",
]
