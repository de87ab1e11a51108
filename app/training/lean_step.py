"""optimizer.zero_grad() and optimizer.step() without the wrapping torch runs around each call.

Both open a profiler range (`record_function`, a dispatcher op) and step() walks the step-hook
dicts, on every call. For the small models here that is ~60 µs of a ~300 µs step (measured on
2→[4,2]→1, batches of 10: 298 → 237 µs a step). Backprop Lab registers no optimizer hooks, so
while no profiler runs the engine clears the gradients itself and calls the optimizer's own
update under the wrapper. Same calls on the same tensors in the same order: the weights stay
bit-identical to the tutorial's loop (tests/unit/test_lean_step.py). With a profiler on, a hook
registered, or a torch whose wrapper looks different, the public calls are used.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.autograd import profiler
from torch.optim import optimizer as optimizer_module


def clear_gradients(optimizer: torch.optim.Optimizer) -> None:
    """optimizer.zero_grad() with its default set_to_none=True: every `.grad` becomes None."""
    if profiler._is_profiler_enabled:
        optimizer.zero_grad()
        return
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = None


def optimizer_step(optimizer: torch.optim.Optimizer) -> None:
    """optimizer.step()."""
    update = unwrapped_step(optimizer)
    if update is None:
        optimizer.step()
    else:
        update(optimizer)


def unwrapped_step(
    optimizer: torch.optim.Optimizer,
) -> Callable[[torch.optim.Optimizer], None] | None:
    """The optimizer class's own step() when skipping torch's wrapper changes nothing, else None."""
    if profiler._is_profiler_enabled or any(
        (
            optimizer._optimizer_step_pre_hooks,
            optimizer._optimizer_step_post_hooks,
            optimizer_module._global_optimizer_pre_hooks,
            optimizer_module._global_optimizer_post_hooks,
        )
    ):
        return None
    # An LR scheduler wraps the instance's step() to mark the optimizer as stepped (else its
    # first step() warns that it ran first): the first step goes through it.
    if vars(optimizer).get("step") is not None and not getattr(optimizer, "_opt_called", False):
        return None
    wrapper = type(optimizer).step
    # `hooked` marks the profiling wrapper torch puts on every optimizer class's step().
    if not getattr(wrapper, "hooked", False):
        return None
    return getattr(wrapper, "__wrapped__", None)
