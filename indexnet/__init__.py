"""IndexNet deep image matting (Lu et al., ICCV 2019): model, official weights, inference, training."""
from .checkpoint import MODELS, load_model, save_checkpoint
from .compose import cutout, estimate_foreground
from .images import read_image, write_png
from .inference import predict
from .model import IndexNetConfig, IndexNetMatting
from .onnx_export import export_onnx
from .subject import auto_trimap
from .trimap import read_trimap

__all__ = ["IndexNetConfig", "IndexNetMatting", "MODELS", "load_model", "save_checkpoint", "predict", "cutout",
           "estimate_foreground", "auto_trimap", "read_image", "read_trimap", "write_png", "export_onnx"]
__version__ = "0.1.0"
