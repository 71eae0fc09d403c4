"""Skip Lab experiments on trained (or freshly initialised) networks: the lesion study of Veit
et al. (2016), gradient shattering of Balduzzi et al. (2017), the gradient-flow summary, and
verdicts that say whether a run reproduced its published effect. Torch only: no streamlit,
no plotly, so benchmarks run them on a GPU machine too."""

from .gradflow import GradFlow, gradient_flow, ratio_verdict
from .lesion import LesionResult, deleted, lesion_study
from .shattering import (
    ShatterResult,
    calibrate_batchnorm,
    gradient_correlation,
    shattering_by_depth,
)
from .verdicts import VERDICTS, Verdict, final_loss, verdict

__all__ = [
    "VERDICTS",
    "GradFlow",
    "LesionResult",
    "ShatterResult",
    "Verdict",
    "calibrate_batchnorm",
    "deleted",
    "final_loss",
    "gradient_correlation",
    "gradient_flow",
    "lesion_study",
    "ratio_verdict",
    "shattering_by_depth",
    "verdict",
]
