"""sglang-pat: prefix-aware decode attention (PAT) for SGLang.

Data flows one way: ``PrefixForest`` (the batch's shared prefixes) → ``PackScheduler`` →
``PackPlan`` → ``PatDecoder`` (Triton kernels: gather, pack decode, merge) → output.
"""

from .forest import PrefixForest
from .plan import PackPlan, PlanCapacity, PlanCapacityError
from .scheduler import PackScheduler

__all__ = ["PackPlan", "PackScheduler", "PlanCapacity", "PlanCapacityError", "PrefixForest"]
__version__ = "0.1.0"
