"""Networks and the model registry (checksummed downloads, ``weights_only=True`` loading)."""

from .zoo import MODELS, LoadedModel, ModelSpec, create_model, list_models, load_model, register_model

__all__ = ["MODELS", "LoadedModel", "ModelSpec", "create_model", "list_models", "load_model", "register_model"]
