"""Where a model's randomness lives: its dropout sites, and the deterministic part before them.

:func:`build_plan` traces any ``nn.Module`` with ``torch.fx`` (dropout layers kept as leaves)
and sorts the nodes of its graph in two:

* the deterministic part: every node that no random node reaches. It depends on the input
  alone, so MC prediction runs it once on the N points;
* the stochastic part: the random nodes and everything downstream of them. It runs on
  blocks of ``t * n`` rows (t samples of n points, sample-major), reading the deterministic
  values it needs (the *frontier*) broadcast over the t samples.

A *dropout site* is an ``nn.Dropout``, a :class:`~mcdropout.nn.concrete.ConcreteDropout` (exact
Bernoulli masks at its learned rate, as it predicts), or a call of ``F.dropout`` /
``torch.dropout`` with ``training=True``: an element-wise Bernoulli mask at a known rate,
drawn by the caller's :data:`Dropout` function. Where a site's only reader is an
``nn.Linear``, its 1 / (1 - p) scale can be folded into that layer's weight, so the mask
multiply is the site's only pass over the activations. Rate-0 layers are the identity.
PyTorch's other dropout layers (channel-wise, alpha) run as themselves on the blocks: their
masks are drawn per row, so a block of rows gets independent ones.

:func:`build_plan` returns None, and the caller falls back to a loop of full passes, where
tracing fails (data-dependent control flow, ...), where ``forward`` takes more than one
argument or returns more than one tensor, where it draws random numbers outside dropout
layers, has a custom dropout layer of unknown rate, or drops out something that does not
depend on the input (weights: DropConnect). :meth:`Plan.check` turns the fast path down at
run time where a deterministic value the stochastic part reads is not a tensor of N rows.

The blocks assume the model treats dim 0 as a batch of independent rows, as chunked
prediction does anyway.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from mcdropout.nn.concrete import ConcreteDropout

DROPOUT_TYPES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
# Random calls a traced forward may make outside dropout layers (function and method names):
# their distribution is unknown here, so such a model takes the loop.
_RANDOM_NAMES = frozenset({
    "rand", "rand_like", "randn", "randn_like", "randint", "randint_like", "randperm", "bernoulli", "bernoulli_",
    "multinomial", "normal", "normal_", "poisson", "uniform_", "random_", "exponential_", "geometric_", "cauchy_",
    "log_normal_", "rrelu", "rrelu_", "dropout", "dropout_", "alpha_dropout", "feature_alpha_dropout",
    "feature_dropout", "dropout1d", "dropout2d", "dropout3d", "native_dropout", "gumbel_softmax",
})

Dropout = Callable[[torch.Tensor, float, float, bool, int], torch.Tensor]
"""``dropout(x, p, scale, owned, t)``: ``x`` times an element-wise Bernoulli(1 - p) keep mask, times
``scale``. ``t > 1``: ``x`` holds n rows to repeat for t samples (``[n, ...]`` -> ``[t * n, ...]``),
each with its own mask. ``owned``: ``x`` is a temporary nobody else reads, free to overwrite."""


def is_dropout(module: nn.Module) -> bool:
    """PyTorch's dropout layers, and any layer that declares ``is_mc_dropout = True``."""
    return isinstance(module, DROPOUT_TYPES) or getattr(module, "is_mc_dropout", False)


def rate(layer: nn.Module) -> float | None:
    """The element-wise Bernoulli drop rate of ``layer`` at MC prediction, or None if it is not such a layer."""
    if type(layer) is nn.Dropout:
        return float(layer.p)
    if isinstance(layer, ConcreteDropout):  # exact Bernoulli masks at its learned rate when predicting
        return float(layer.p.detach())
    return None


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_dropout(m) or super().is_leaf_module(m, module_qualified_name)


def _functional_rate(node: fx.Node) -> float | None:
    """Rate of an ``F.dropout`` / ``torch.dropout`` call (0 when not training), None if not constant."""
    names = ("input", "p", "training", "inplace") if node.target is F.dropout else ("input", "p", "train")
    bound = dict(zip(names, node.args), **node.kwargs)
    p, training, inplace = bound.get("p", 0.5), bound.get(names[2], True), bound.get("inplace", False)
    if not all(isinstance(v, (bool, int, float)) for v in (p, training, inplace)) or (training and inplace):
        return None
    return float(p) if training else 0.0


def _is_relu(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """A ReLU that returns a new tensor (so the fast path may run it in place on a temporary)."""
    if node.op == "call_module":
        return type(modules[node.target]) is nn.ReLU and not modules[node.target].inplace
    inplace = node.kwargs.get("inplace", node.args[1] if len(node.args) > 1 else False)
    return node.op == "call_function" and node.target in (torch.relu, F.relu) and inplace is False


class Plan:
    """A traced model split into its deterministic and stochastic parts (module docstring)."""

    def __init__(self, model: nn.Module, graph: fx.Graph) -> None:
        self.model = model
        self.modules = dict(model.named_modules())
        nodes = list(graph.nodes)
        self.input = next(n for n in nodes if n.op == "placeholder")
        self.output = next(n for n in nodes if n.op == "output").args[0]
        if not isinstance(self.output, fx.Node):
            raise _Unsupported("forward returns more than one tensor")
        self.sites: dict[fx.Node, float] = {}  # dropout site -> rate in (0, 1]
        self.identity: set[fx.Node] = set()  # rate-0 dropout: passes its input on
        random: set[fx.Node] = set()
        self.batched = {self.input}  # nodes that depend on the input
        self.stochastic: set[fx.Node] = set()
        for node in nodes:
            inputs = node.all_input_nodes
            p = self._site_rate(node)
            if p is not None and not isinstance(p, float):
                raise _Unsupported(p)
            if p == 0.0:
                self.identity.add(node)
            elif p is not None:
                self.sites[node] = p
                random.add(node)
            elif self._is_random_module(node):
                random.add(node)
            if any(n in self.batched for n in inputs):
                self.batched.add(node)
            if node in random and not (inputs and inputs[0] in self.batched):
                raise _Unsupported("drops out a value that does not depend on the input")
            if node in random or any(n in self.stochastic for n in inputs):
                self.stochastic.add(node)
        body = [n for n in nodes if n.op not in ("placeholder", "output")]
        self.prefix = [n for n in body if n not in self.stochastic]
        self.steps = [n for n in body if n in self.stochastic]
        readers = self.steps + ([] if self.output in self.stochastic else [self.output])
        self.frontier = list(dict.fromkeys(n for r in readers for n in r.all_input_nodes if n not in self.stochastic))
        self.owned = self._owned()
        self.fold = self._foldable()  # Linear node -> the scale its weight absorbs
        self.folded = {site for site in self.sites if next(iter(site.users), None) in self.fold}

    def _site_rate(self, node: fx.Node) -> float | str | None:
        """The rate of a dropout site, None if ``node`` is none, a reason if it cannot be handled."""
        if node.op == "call_module" and is_dropout(self.modules[node.target]):
            layer = self.modules[node.target]
            if getattr(layer, "p", None) == 0:
                return 0.0
            if getattr(layer, "inplace", False) and len(node.all_input_nodes[0].users) > 1:
                return "an in-place dropout layer whose input has other readers"
            p = rate(layer)
            if p is None and type(layer) not in DROPOUT_TYPES:
                return f"custom dropout layer {type(layer).__name__} of unknown rate"
            return p
        if node.op == "call_function" and node.target in (F.dropout, torch.dropout):
            p = _functional_rate(node)
            return "F.dropout with a computed rate or in place" if p is None else p
        name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
        if node.op in ("call_method", "call_function") and name in _RANDOM_NAMES:
            return f"random call {name} outside dropout layers"
        return None

    def _is_random_module(self, node: fx.Node) -> bool:
        return node.op == "call_module" and is_dropout(self.modules[node.target])

    def _inplace_ok(self, node: fx.Node, arg: Any) -> bool:
        """``node`` may overwrite its input ``arg``: a temporary of the stochastic part read by it alone."""
        return isinstance(arg, fx.Node) and arg in self.stochastic and self.owned.get(arg, False) \
            and len(arg.users) == 1 and bool(node.args) and node.args[0] is arg

    def _owned(self) -> dict[fx.Node, bool]:
        """Stochastic nodes whose value is a new tensor that nothing else holds (so its reader may overwrite it)."""
        owned: dict[fx.Node, bool] = {}
        for node in self.steps:
            module = self.modules.get(node.target) if node.op == "call_module" else None
            owned[node] = node in self.sites or type(module) is nn.Linear or _is_relu(node, self.modules)
        return owned

    def _foldable(self) -> dict[fx.Node, float]:
        """Linear nodes whose weight absorbs the 1 / (1 - p) scale of the site that is their only input."""
        fold = {}
        for site, p in self.sites.items():
            users = list(site.users)
            if p < 1 and len(users) == 1 and users[0].op == "call_module" and not users[0].kwargs \
                    and type(self.modules[users[0].target]) is nn.Linear and users[0].args == (site,):
                fold[users[0]] = 1.0 / (1.0 - p)
        return fold

    def _fetch(self, target: str) -> Any:
        obj: Any = self.model
        for part in target.split("."):
            obj = getattr(obj, part)
        return obj

    def _call(self, node: fx.Node, env: dict[fx.Node, Any]) -> Any:
        if node.op == "get_attr":
            return self._fetch(node.target)
        if node in self.identity:
            return env[node.all_input_nodes[0]]
        args = fx.node.map_arg(node.args, env.__getitem__)
        kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
        if node.op == "call_module":
            return self.modules[node.target](*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        return node.target(*args, **kwargs)

    @property
    def stochastic_output(self) -> bool:
        return self.output in self.stochastic

    def run_prefix(self, x: torch.Tensor) -> dict[fx.Node, Any]:
        """The deterministic part on the N points; returns the frontier values (and the output's, if deterministic)."""
        env: dict[fx.Node, Any] = {self.input: x}
        for node in self.prefix:
            env[node] = self._call(node, env)
        keep = self.frontier if self.stochastic_output else [self.output]
        return {n: env[n] for n in keep}

    def check(self, det: dict[fx.Node, Any], n: int) -> str | None:
        """Why the blocks cannot use these frontier values (None if they can)."""
        for node, value in det.items():
            if node in self.batched and not (isinstance(value, torch.Tensor) and value.dim() and value.shape[0] == n):
                return f"{node.name} depends on the input but is not a tensor of {n} rows"
        return None

    def rows(self, det: dict[fx.Node, Any], start: int, stop: int) -> dict[fx.Node, Any]:
        """The frontier values of points ``start:stop``."""
        return {k: v[start:stop] if k in self.batched else v for k, v in det.items()}

    def width(self, det: dict[fx.Node, Any]) -> int:
        """Elements per row of the widest activation known before running a block (frontier, Linear outputs)."""
        widths = [v[0].numel() for k, v in det.items() if k in self.batched and isinstance(v, torch.Tensor)]
        widths += [getattr(self.modules[n.target], "out_features", 0) for n in self.steps if n.op == "call_module"]
        return max([1, *widths])

    def linears(self) -> tuple[list[nn.Linear], list[nn.Linear]]:
        """The ``nn.Linear`` layers of the deterministic part and of the stochastic part."""
        def pick(nodes: list[fx.Node]) -> list[nn.Linear]:
            return [self.modules[n.target] for n in nodes
                    if n.op == "call_module" and isinstance(self.modules[n.target], nn.Linear)]
        return pick(self.prefix), pick(self.steps)

    def weights(self) -> dict[fx.Node, torch.Tensor]:
        """The scaled weights of the Linear nodes that absorb a dropout scale (compute once per prediction)."""
        return {node: self.modules[node.target].weight * s for node, s in self.fold.items()}

    def run_block(self, det: dict[fx.Node, Any], t: int, dropout: Dropout,
                  weights: dict[fx.Node, torch.Tensor] | None = None) -> torch.Tensor:
        """The stochastic part on t samples of the points in ``det`` (from :meth:`rows`): ``[t * n, ...]``.

        ``weights``: from :meth:`weights`; without them no scale is folded and ``dropout`` applies each.
        """
        weights = weights if weights is not None else {}
        env: dict[fx.Node, Any] = {}
        for node, value in det.items():
            if node in self.batched and any(u in self.stochastic and u not in self.sites for u in node.users):
                env[node] = value.expand(t, *value.shape).reshape(t * value.shape[0], *value.shape[1:]) \
                    if t > 1 else value.clone()  # a copy: in-place ops downstream must not touch det
            else:
                env[node] = value
        for node in self.steps:
            if node in self.sites:
                arg = node.all_input_nodes[0]
                p = self.sites[node]
                scale = 1.0 if p >= 1 or (weights and node in self.folded) else 1.0 / (1.0 - p)
                if arg in det:
                    value, rep = det[arg], t
                else:
                    value, rep = env[arg], 1
                env[node] = dropout(value, p, scale, self._inplace_ok(node, arg), rep)
            elif node in weights:
                linear = self.modules[node.target]
                env[node] = F.linear(env[node.args[0]], weights[node], linear.bias)
            elif _is_relu(node, self.modules) and self._inplace_ok(node, node.args[0]):
                env[node] = torch.relu_(env[node.args[0]])
            else:
                env[node] = self._call(node, env)
        return env[self.output]


class _Unsupported(Exception):
    pass


# The traces made so far (tracing costs milliseconds), each with the signature it was made for.
_TRACES: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, fx.Graph | None]] = weakref.WeakKeyDictionary()
_PLAIN = (bool, int, float, str, type(None))


def _signature(model: nn.Module) -> tuple:
    """What a trace depends on besides tensor values: each module's name, type, ``forward`` and plain attributes
    (mode, rates, flags a ``forward`` may branch on)."""
    return tuple((name, type(m), getattr(m.forward, "__func__", m.forward),
                  tuple(sorted((k, v) for k, v in vars(m).items() if isinstance(v, _PLAIN))))
                 for name, m in model.named_modules())


def _trace(model: nn.Module) -> fx.Graph | None:
    params = list(inspect.signature(model.forward).parameters.values())
    if len(params) != 1 or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        return None
    try:
        return _Tracer().trace(model)
    except Exception:  # noqa: BLE001 - any tracing failure (TraceError, TypeError, ...) means: use the loop
        return None


def build_plan(model: nn.Module) -> Plan | None:
    """Trace ``model`` and split it (module docstring); None where the fast path cannot take it.

    The trace is kept for the next call while the model's signature (:func:`_signature`) stays the same;
    the plan, which reads the current rates, is made anew each time.
    """
    signature = _signature(model)
    cached = _TRACES.get(model)
    graph = cached[1] if cached is not None and cached[0] == signature else _trace(model)
    _TRACES[model] = (signature, graph)
    if graph is None:
        return None
    try:
        return Plan(model, graph)
    except _Unsupported:
        return None
