"""mcdropout.training.optim: the fused Adam step without the optimiser's bookkeeping."""

import torch

from mcdropout.training.optim import FusedAdamStep


def test_fused_adam_step_updates_as_the_optimisers_step():
    """``FusedAdamStep``: bit for bit what ``torch.optim.Adam(fused=True).step()`` does, over steps, with weight
    decay in one group and a parameter left without a gradient in one step."""
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(4, 3, generator=gen), torch.randn(5, generator=gen), torch.randn(2, generator=gen)]
    runs = []
    for fast in (False, True):
        params = [torch.nn.Parameter(t.clone()) for t in start]
        opt = torch.optim.Adam([{"params": params[:2], "weight_decay": 0.1}, {"params": params[2:]}], lr=0.01,
                               fused=True)
        assert FusedAdamStep.applies(opt)
        step = FusedAdamStep(opt) if fast else opt.step
        g = torch.Generator().manual_seed(1)
        for i in range(6):
            opt.zero_grad()
            for j, p in enumerate(params):
                if not (i == 3 and j == 2):
                    p.grad = torch.randn(p.shape, generator=g)
            step()
        runs.append(params)
    for a, b in zip(*runs):
        assert torch.equal(a, b)
    assert not FusedAdamStep.applies(torch.optim.Adam([torch.nn.Parameter(torch.ones(2))], amsgrad=True))
