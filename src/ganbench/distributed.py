"""One variant on several devices: process groups and DistributedDataParallel.

``variants.<v>.devices: N`` trains one variant in N processes on this machine, one per GPU
with NCCL on CUDA (rank r on ``cuda:r`` of the visible devices), or N CPU processes with gloo
(``torch.distributed`` docs: "use NCCL for distributed GPU training, gloo for CPU").
``launch`` starts ranks 1..N-1 and makes the calling process rank 0, the only one that
writes outputs and talks to MLflow. Every helper below is the identity (or a no-op) when no
process group is initialised, so the single-process path is untouched.

What follows the PyTorch DDP documentation and notes:

- G and D get separate wrappers (``wrap``); each rank starts from the same seeded weights
  (DDP also broadcasts rank 0's at construction) and DDP averages every gradient, so the
  replicas stay identical; ``replica_mismatches`` checks that, exactly.
- Buffers (BatchNorm's running statistics) are not synchronised at each forward
  (``forward_sync_buffers=False``, formerly ``broadcast_buffers``). DDP's default copies rank
  0's buffers in place before every forward: three or four times per discriminator step
  here, between forwards that share one backward, which autograd can refuse as an in-place
  change (torch 2.14 did not refuse it in a two-rank gloo check). ``sync_buffers`` averages them
  once per step instead; the single-process path (separate real and fake forwards) stays
  as it is.
- Data: DistributedSampler with ``set_epoch`` (``epoch_permutation``): every rank draws the
  same permutation of the epoch and reads its own disjoint slice ``perm[rank::world]``;
  ``batch_size`` is the global batch. Noise comes from a generator seeded ``noise_seed``:
  the training seed on rank 0 (so one process is the single-process run), a hash of (seed,
  rank) on the others. Plain seed + rank would hand rank 1 of seed 0 the noise of rank 0 of
  seed 1, and the seeds the statistics treat as independent would share their noise.
- The trainer (``ganbench.training``) calls G's wrapper under ``no_grad`` in the D step
  (unless ``reuse_fake`` keeps that forward for the G step), takes the gradient penalty and
  R1 with ``autograd.grad(create_graph=True)`` on the inputs only, before D's one backward,
  and calls D unwrapped in the G step, where D's weights are frozen.
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import multiprocessing
import os
import shutil
import tempfile
import time
import warnings
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ganbench.device import pick_device
from ganbench.errors import DeviceError

TIMEOUT = datetime.timedelta(minutes=10)  # a collective that waits longer fails
JOIN_SECONDS = 60.0  # how long rank 0 waits for the other ranks to exit after training


# --------------------------------------------------------------------------- the group


def is_distributed() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` outside a process group."""
    if not is_distributed():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def check_world(devices: int) -> tuple[int, int]:
    """``(rank, world)``, after checking the group has ``devices`` processes (the params
    recorded with the weights say how they were trained)."""
    rank, world = rank_and_world()
    if world != devices:
        raise ValueError(f"devices is {devices} but this process group has {world} processes; "
                         "train_variant launches its own group when none is initialised")
    return rank, world


def backend_for(device: torch.device) -> str:
    """NCCL on CUDA, gloo elsewhere (the torch.distributed backend guidance)."""
    return "nccl" if device.type == "cuda" else "gloo"


def rank_device(device: torch.device) -> torch.device:
    """This rank's device: ``cuda:<rank>`` on CUDA inside a group, else ``device``."""
    if device.type != "cuda" or not is_distributed():
        return device
    return torch.device("cuda", torch.cuda.current_device())


def cpu_threads(processes: int) -> int:
    """Torch threads per process: the cores shared out (two 2-thread processes on 2 cores
    slow each other several times over)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // processes)


def check_devices(devices: int, device: torch.device) -> None:
    """Refuse, before any work, a process count this machine cannot run."""
    if devices < 1:
        raise DeviceError(f"devices: {devices}: must be at least 1")
    if devices == 1:
        return
    if device.type == "mps":
        raise DeviceError(f"devices: {devices} on mps: torch.distributed has no backend for "
                          "Apple's MPS; use devices: 1, or device: cpu")
    if device.type == "cuda" and devices > torch.cuda.device_count():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else ""
        raise DeviceError(f"devices: {devices} asks for one GPU per process, but torch sees "
                          f"{torch.cuda.device_count()} here{where}; lower devices or free "
                          "more GPUs")


def _join(rank: int, world: int, store: str, device_type: str, threads: int) -> None:
    """Join the group of ``world`` processes as ``rank`` (a file store: no ports to pick)."""
    torch.set_num_threads(threads)
    if device_type == "cuda":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend_for(torch.device(device_type)), init_method=f"file://{store}",
                            rank=rank, world_size=world, timeout=TIMEOUT)


def _run_rank(rank: int, world: int, store: str, device_type: str, threads: int,
              started, target: Callable, args: tuple, kwargs: dict) -> None:
    """Body of a spawned rank: say it started, join, run ``target``, leave."""
    with started.get_lock():
        started.value += 1
    _join(rank, world, store, device_type, threads)
    try:
        target(*args, **kwargs)
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def launch(devices: int, device_name: str, target: Callable, *args, **kwargs) -> Iterator[None]:
    """Run ``target(*args, **kwargs)`` as ranks 1..devices-1 in new processes and make this
    process rank 0 of their group for the ``with`` body; a no-op for one device.

    CPU: gloo, each process with ``cpu_threads(devices)`` torch threads. CUDA: NCCL, rank r
    on ``cuda:r`` (of ``CUDA_VISIBLE_DEVICES``). A rank that fails makes the others fail at
    their next collective; the error names the rank and its exit code. The ranks start from
    a fork server (``_start_method``), which keeps the environment of the first launch.
    """
    if devices == 1:
        yield
        return
    device = pick_device(device_name)
    check_devices(devices, device)
    threads = cpu_threads(devices)
    folder = tempfile.mkdtemp(prefix="ganbench-ddp-")
    store = os.path.join(folder, "store")
    context = _start_method()
    started = context.Value("i", 0)
    workers = [context.Process(target=_run_rank, daemon=True, name=f"ganbench-rank{rank}",
                               args=(rank, devices, store, device.type, threads, started,
                                     target, args, kwargs))
               for rank in range(1, devices)]
    previous = torch.get_num_threads()
    try:
        for worker in workers:
            worker.start()
        while started.value < len(workers):  # a rank that dies before it joins would
            if failed := _failures(workers):  # leave rank 0 waiting for the whole timeout
                raise RuntimeError(failed)
            time.sleep(0.02)
        _join(0, devices, store, device.type, threads)
        try:
            yield
        except BaseException as exc:
            # a failed collective (RuntimeError) may be another rank's death: name it
            failed = _failures(workers, wait=2.0 if isinstance(exc, RuntimeError) else 0.0)
            _stop(workers)
            if failed and isinstance(exc, Exception):
                raise RuntimeError(f"{failed}; rank 0 then failed with: {exc}") from exc
            raise
        for worker in workers:
            worker.join(JOIN_SECONDS)
        _stop(workers)
        if failed := _failures(workers):
            raise RuntimeError(failed)
    finally:
        _stop(workers)
        if is_distributed():
            dist.destroy_process_group()
        torch.set_num_threads(previous)
        shutil.rmtree(folder, ignore_errors=True)


def _start_method():
    """A fork server that has imported torch and the training code once (a fresh process
    per rank, as CUDA needs, without paying those imports per rank); spawn where there is
    none (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "torch._dynamo", "ganbench.training"])
    return context


def _stop(workers: list) -> None:
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
            worker.join(5.0)
        if worker.is_alive():
            worker.kill()
            worker.join()


def _failures(workers: list, wait: float = 0.0) -> str:
    """The ranks that exited with an error, waiting up to ``wait`` seconds for them."""
    deadline = time.monotonic() + wait
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    bad = [f"rank {w.name.removeprefix('ganbench-rank')} exited with {w.exitcode}"
           for w in workers if w.exitcode not in (0, None)]
    return ("training process " + ", ".join(bad) + " (its traceback is above)") if bad else ""


# --------------------------------------------------------------------------- models


def _no_forward_buffer_sync() -> dict:
    """DDP's switch for buffer broadcasts at each forward, by its name in this torch."""
    parameters = inspect.signature(nn.parallel.DistributedDataParallel).parameters
    if "forward_sync_buffers" in parameters:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


def wrap(module: nn.Module, device: torch.device, *, find_unused: bool = False) -> nn.Module:
    """``module`` in a DistributedDataParallel wrapper inside a group, else ``module`` itself.

    Call the wrapper for forwards whose backward updates ``module`` (DDP averages the
    gradients in that backward); read attributes and state from ``module``. ``find_unused``:
    some parameters sit out some forwards (progressive growing's inactive resolutions).
    """
    if not is_distributed():
        return module
    # DDP compares strides literally: a channels-last weight with one input channel
    # ([8, 1, 4, 4], grayscale images) gets contiguous gradients, copied into DDP's bucket
    # instead of aliased. Correct, and a copy of a few hundred values; not worth a warning.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    ids = {"device_ids": [device.index]} if device.type == "cuda" else {}
    return nn.parallel.DistributedDataParallel(module, **ids, find_unused_parameters=find_unused,
                                               **_no_forward_buffer_sync())


@torch.no_grad()
def sync_buffers(modules: Iterable[nn.Module]) -> None:
    """Make every rank's buffers equal, once per step: floating-point ones (BatchNorm's
    running statistics) become their mean over the ranks, the running mean of the global
    batch; the others (counters, equal anyway) rank 0's."""
    if not is_distributed():
        return
    groups: dict[torch.dtype, list[torch.Tensor]] = {}
    for module in modules:
        for buffer in module.buffers():
            groups.setdefault(buffer.dtype, []).append(buffer)
    world = dist.get_world_size()
    for dtype, buffers in groups.items():
        flat = torch.cat([b.reshape(-1) for b in buffers])
        if dtype.is_floating_point:
            dist.all_reduce(flat)
            flat /= world
        else:
            dist.broadcast(flat, 0)
        for buffer, value in zip(buffers, flat.split([b.numel() for b in buffers])):
            buffer.copy_(value.view(buffer.shape))


# --------------------------------------------------------------------------- data


def epoch_permutation(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """The epoch's permutation of ``n`` indices, the same on every rank: DistributedSampler
    with ``set_epoch`` (a generator seeded by the seed and the epoch). The seed is hashed
    (``numpy.random.SeedSequence``) so that the stream differs from the noise seeds."""
    mixed = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
    generator = torch.Generator(device=device).manual_seed(mixed)
    return torch.randperm(n, generator=generator, device=device)


def noise_seed(seed: int, rank: int) -> int:
    """The seed of ``rank``'s noise generator: ``seed`` on rank 0 (the single-process run's
    stream), ``SeedSequence([seed, rank])`` on the others, so that no rank of one training
    seed draws another training seed's noise (as seed + rank would)."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint64)[0] >> 1)


def rank_slice(perm: torch.Tensor) -> torch.Tensor:
    """This rank's disjoint share of ``perm``: ``perm[rank::world]`` (DistributedSampler)."""
    rank, world = rank_and_world()
    return perm[rank::world]


# --------------------------------------------------------------------------- agreement


def mean_over_ranks(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each tensor averaged over the ranks, in one all-reduce (non-finite when any rank's
    value is); the tensors themselves outside a group."""
    if not is_distributed():
        return tensors
    flat = torch.cat([t.reshape(-1).float() for t in tensors])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    return tuple(part.view(t.shape) for part, t in
                 zip(flat.split([t.numel() for t in tensors]), tensors))


def rank0_decides(flag: bool, device: torch.device) -> bool:
    """Rank 0's ``flag`` on every rank (for decisions that read the clock)."""
    if not is_distributed():
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.broadcast(value, 0)
    return bool(value.item())


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` (picklable) on every rank."""
    if not is_distributed():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, 0)
    return holder[0]


def gather_objects(obj: Any) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not is_distributed():
        return [obj]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _tensors(tree: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(tree, torch.Tensor):
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from _tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            yield from _tensors(value, f"{prefix}.{index}")


def replica_mismatches(state: Any, device: torch.device) -> list[str]:
    """Names of the tensors in ``state`` (nested dicts and lists, e.g. state dicts) whose
    bytes differ from rank 0's on some rank; the same list on every rank, empty when the
    replicas are identical (and outside a group)."""
    if not is_distributed():
        return []
    named = list(_tensors(state))
    chunks = [t.detach().reshape(-1).contiguous().view(torch.uint8).to(device)
              for _, t in named]
    mine = torch.cat(chunks) if chunks else torch.zeros(0, dtype=torch.uint8, device=device)
    reference = mine.clone()
    dist.broadcast(reference, 0)
    differ, offset = [], 0
    for (name, _), chunk in zip(named, chunks):
        if not torch.equal(reference[offset:offset + chunk.numel()], chunk):
            differ.append(name)
        offset += chunk.numel()
    return sorted(set().union(*gather_objects(differ)))
