#!/usr/bin/python3
"""Writes tests/golden/unipc_multistep_scheduler.safetensors: diffusers' UniPCMultistepScheduler with flow sigmas
(the WanPipeline scheduler), run on fixed random model outputs, in the conventions of tests/golden/README.md.

diffusers is not installed here and is never a dependency: the reference scheduler file is read at run time from a
path you give (diffusers v0.33.0's src/diffusers/schedulers/scheduling_unipc_multistep.py, e.g. from a clone:
`git -C diffusers show v0.33.0:src/diffusers/schedulers/scheduling_unipc_multistep.py > /tmp/unipc.py`). It is pure
torch/numpy; the few diffusers helpers it imports (ConfigMixin/register_to_config, deprecate, SchedulerMixin,
SchedulerOutput) are stood in for by the minimal shims below, which change none of its arithmetic.

Run: /usr/bin/python3 tools/make_unipc_fixture.py /tmp/unipc.py tests/golden/unipc_multistep_scheduler.safetensors
"""
import dataclasses
import enum
import functools
import importlib.util
import inspect
import json
import sys
import types

import torch

from golden_io import write

# The cases: Wan 480p (shift 3) and 720p (shift 5) with the WanPipeline settings, then the other knobs the C++
# scheduler takes (order 3, order 1, a disabled corrector), and a 1-step and a 50-step run. Not here because
# the reference itself returns NaN on the last step (final sigma 0): solver_type "bh1", and lower_order_final=False
# with solver_order > 1; the C++ scheduler refuses both.
WAN = {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "num_train_timesteps": 1000}
CASES = [
    {"name": "wan_480p", "config": dict(WAN, flow_shift=3.0), "steps": 10, "shape": [1, 4, 2, 3, 4]},
    {"name": "wan_720p", "config": dict(WAN, flow_shift=5.0), "steps": 6, "shape": [1, 4, 2, 3, 4]},
    {"name": "order3", "config": dict(WAN, flow_shift=3.0, solver_order=3), "steps": 8, "shape": [1, 4, 1, 2, 3]},
    {"name": "order1", "config": dict(WAN, flow_shift=3.0, solver_order=1), "steps": 5, "shape": [1, 4, 1, 2, 3]},
    {"name": "no_corrector_0_2", "config": dict(WAN, flow_shift=5.0, disable_corrector=[0, 2]), "steps": 7,
     "shape": [1, 4, 1, 2, 3]},
    {"name": "one_step", "config": dict(WAN, flow_shift=3.0), "steps": 1, "shape": [1, 4, 1, 2, 3]},
    {"name": "wan_50", "config": dict(WAN, flow_shift=5.0), "steps": 50, "shape": [1, 2, 1, 2, 3]},
]
SEED = 20250605


class _Config(dict):
    """diffusers' FrozenDict stand-in: a dict whose keys read (and, as set_timesteps(mu=) does, write) as attributes."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError as e:
            raise AttributeError(k) from e

    def __setattr__(self, k, v):
        self[k] = v


def _register_to_config(init):
    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        bound = inspect.signature(init).bind(self, *args, **kwargs)
        bound.apply_defaults()
        self._internal_dict = _Config({k: v for k, v in bound.arguments.items() if k != "self"})
        init(self, *args, **kwargs)
    return wrapped


class _ConfigMixin:
    @property
    def config(self):
        return self._internal_dict

    def register_to_config(self, **kwargs):
        self._internal_dict.update(kwargs)


@dataclasses.dataclass
class _SchedulerOutput:
    prev_sample: torch.Tensor


def load_reference(path):
    """Imports the scheduler file as diffusers_ref.schedulers.scheduling_unipc_multistep with shimmed parents."""
    mods = {n: types.ModuleType(n) for n in ("diffusers_ref", "diffusers_ref.configuration_utils", "diffusers_ref.utils",
                                             "diffusers_ref.schedulers", "diffusers_ref.schedulers.scheduling_utils")}
    for n in ("diffusers_ref", "diffusers_ref.schedulers"):
        mods[n].__path__ = []
    mods["diffusers_ref.configuration_utils"].ConfigMixin = _ConfigMixin
    mods["diffusers_ref.configuration_utils"].register_to_config = _register_to_config
    mods["diffusers_ref.utils"].deprecate = lambda *a, **k: None
    mods["diffusers_ref.utils"].is_scipy_available = lambda: False
    su = mods["diffusers_ref.schedulers.scheduling_utils"]
    su.KarrasDiffusionSchedulers = enum.Enum("KarrasDiffusionSchedulers", "DDIMScheduler")
    su.SchedulerMixin = type("SchedulerMixin", (), {})
    su.SchedulerOutput = _SchedulerOutput
    sys.modules.update(mods)
    name = "diffusers_ref.schedulers.scheduling_unipc_multistep"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.UniPCMultistepScheduler


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    cls = load_reference(sys.argv[1])
    torch.manual_seed(SEED)
    tensors, run, configs = {}, [], []
    for i, case in enumerate(CASES):
        sched = cls(**case["config"])
        sched.set_timesteps(case["steps"])
        config = {k: v for k, v in sched.config.items() if k not in ("trained_betas", "solver_p")}
        configs.append(config)
        p = f"case{i}."
        spec = {"name": case["name"], "config": config, "steps": case["steps"]}
        tensors["output." + p + "sigmas"] = sched.sigmas.clone()
        tensors["output." + p + "timesteps"] = sched.timesteps.to(torch.float32)
        spec["shape"] = case["shape"]
        x = torch.randn(case["shape"], dtype=torch.float32)
        tensors["input." + p + "sample"] = x.clone()
        for k, t in enumerate(sched.timesteps):
            v = torch.randn(case["shape"], dtype=torch.float32)
            tensors["input." + p + f"model_output.{k}"] = v.clone()
            x = sched.step(v, t, x, return_dict=False)[0]
            tensors["output." + p + f"prev_sample.{k}"] = x.clone()
        run.append(spec)
    meta = {"class": "UniPCMultistepScheduler", "component": "unipc_multistep_scheduler",
            "config": json.dumps(configs[0]), "run": json.dumps({"cases": run}),
            "diffusers_tag": "v0.33.0", "diffusers_version": "0.33.0", "seed": str(SEED), "torch": torch.__version__,
            "note": "reference scheduling_unipc_multistep.py run with shimmed diffusers helpers "
                    "(tools/make_unipc_fixture.py); timesteps are the scheduler's int64 values stored as F32"}
    write(sys.argv[2], tensors, meta)


if __name__ == "__main__":
    main()
