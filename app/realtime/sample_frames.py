"""One sample by hand as a `sample` message: the trace, the chain rule and the gradient check.

Runs on the worker thread under the session's engine lock; every number comes from
app.training (a float64 copy of the model), none is computed here.
"""

from __future__ import annotations

from app.protocol import (
    ChainRuleFactors,
    GradientCheckResult,
    SampleFrame,
    SampleLayer,
    SampleRequest,
)
from app.realtime.wire import finite_or_none
from app.training.sample_check import FINITE_DIFFERENCE_TOLERANCE, chain_rule, check_weight_gradient
from app.training.sample_trace import check_sample_and_weight, trace_sample
from app.training.session import TrainingSession


def _values(values: list[float]) -> list[float | None]:
    return [finite_or_none(v) for v in values]


def sample_frame(engine: TrainingSession, request: SampleRequest) -> SampleFrame:
    """Raises SettingError (naming `index` or `weight`) for a point or weight that is not there."""
    w = request.weight
    where = (w.layer, w.out_neuron, w.in_neuron)
    check_sample_and_weight(engine, request.index, *where)
    trace = trace_sample(engine, request.index)
    rule = chain_rule(engine, request.index, *where)
    check = None
    if request.check:
        result = check_weight_gradient(engine, request.index, *where)
        check = GradientCheckResult(
            autograd=finite_or_none(result.autograd),
            finite_difference=finite_or_none(result.finite_difference),
            epsilon=result.epsilon,
            tolerance=FINITE_DIFFERENCE_TOLERANCE,
            agrees=result.agrees,
        )
    return SampleFrame(
        index=request.index,
        step=engine.step_count,
        features=_values(trace.features),
        feature_grads=_values(trace.feature_grads),
        target=_values(trace.target),
        loss=finite_or_none(trace.loss),
        layers=[
            SampleLayer(
                pre_activations=_values(t.pre_activations),
                activations=_values(t.activations),
                pre_activation_grads=_values(t.pre_activation_grads),
                activation_grads=_values(t.activation_grads),
            )
            for t in trace.layers
        ],
        weight=w,
        chain_rule=ChainRuleFactors(
            dloss_da=finite_or_none(rule.dloss_da),
            da_dz=finite_or_none(rule.da_dz),
            dz_dw=finite_or_none(rule.dz_dw),
            product=finite_or_none(rule.product),
            autograd=finite_or_none(rule.autograd),
        ),
        check=check,
    )
