"""IndexNet deep image matting (Lu et al., ICCV 2019): model, official weights, inference, training."""
from .checkpoint import MODELS, load_model, save_checkpoint
from .inference import predict, read_image, read_trimap, write_png
from .model import IndexNetConfig, IndexNetMatting

__all__ = ["IndexNetConfig", "IndexNetMatting", "MODELS", "load_model", "save_checkpoint", "predict",
           "read_image", "read_trimap", "write_png"]
__version__ = "0.1.0"
