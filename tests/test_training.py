"""Trainer: the loss falls, resume after a crash is exact, DDP (gloo, 2 CPU processes) averages
gradients like one process on the whole batch, and `stemdeck train` produces an installable model."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from model.augment import AugmentConfig
from model.checkpoint import load_model
from model.cli import main as cli_main
from model.training import TrainConfig
from model.training import distributed as ddp
from model.training.checkpoint_state import load_checkpoint
from model.training.trainer import Trainer

from train_fixtures import make_musdb_hq

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_musdb_hq(tmp_path_factory.mktemp("songs"), n_train=3, n_valid=1, n_test=1, seconds=2.5)


def _config(data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(data=str(data), out=str(out), base_model="scratch", tiny=True, steps=6, batch=2,
                segment_seconds=0.5, validate_every=0, checkpoint_every=2, checkpoint_minutes=0,
                workers=0, log_every=1, seed=3)
    base.update(kw)
    return TrainConfig(**base)


class RecordingTrainer(Trainer):
    """Records the batch each step trained on."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.batches: dict[int, torch.Tensor] = {}

    def forward_backward(self, mix, stems):
        self.batches[self.step] = mix.clone()
        return super().forward_backward(mix, stems)


class Crash(Exception):
    pass


def _trainer_with_held_out_loss(dataset, out, loss: str = "l1", **kw):
    """A set-up 30-step trainer and a function giving its `loss` on 4 fixed examples it never trains on."""
    from model.training.losses import training_loss

    cfg = _config(dataset, out, steps=30, batch=4, lr=3e-3, schedule="constant", augment=AugmentConfig.off(),
                  loss=loss, **kw)
    trainer = Trainer(cfg)
    trainer.setup()
    fixed = [trainer.dataset[10**6 + i] for i in range(4)]
    mix = torch.stack([m for m, _ in fixed])
    stems = torch.stack([s for _, s in fixed])

    def held_out_loss() -> float:
        with torch.no_grad():
            trainer.model.eval()
            return float(training_loss(loss, trainer.model(mix), stems))

    return trainer, held_out_loss


def test_a_few_steps_decrease_the_loss(dataset, tmp_path):
    trainer, held_out_loss = _trainer_with_held_out_loss(dataset, tmp_path / "run", checkpoint_every=0)
    before = held_out_loss()
    result = trainer.run()
    after = held_out_loss()
    assert result.steps == 30
    assert after < 0.85 * before, (before, after)


def test_resume_after_crash_continues_exactly(dataset, tmp_path):
    # uninterrupted reference run
    ref = RecordingTrainer(_config(dataset, tmp_path / "a"))
    ref.run()

    # the same run crashes during step 5 (last checkpoint: step 4), then resumes
    def crash_at_5(event):
        if event.get("event") == "step" and event["step"] == 5:
            raise Crash()

    crashed = RecordingTrainer(_config(dataset, tmp_path / "b"), emit=crash_at_5)
    with pytest.raises(Crash):
        crashed.run()
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["step"] == 4

    events = []
    resumed = RecordingTrainer(_config(dataset, tmp_path / "b", workers=1), emit=events.append,
                               resume=True, overrides={"workers": 1})
    resumed.run()
    start = [e for e in events if e["event"] == "start"][0]
    assert start["step"] == 4 and start["resumed"]
    assert sorted(resumed.batches) == [4, 5]  # only the lost steps are redone
    for step in (4, 5):  # same next batches (read by a worker process this time)
        assert torch.equal(resumed.batches[step], ref.batches[step])
    for (name, a), b in zip(ref.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    final_a, _ = load_model(tmp_path / "a" / "a.safetensors")
    final_b, _ = load_model(tmp_path / "b" / "b.safetensors")
    for a, b in zip(final_a.state_dict().values(), final_b.state_dict().values()):
        assert torch.equal(a, b)


class SnapshotTrainer(Trainer):
    """Records the weights after every optimizer step."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.snapshots: list[dict[str, torch.Tensor]] = []

    def optimizer_step(self) -> None:
        super().optimizer_step()
        self.snapshots.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})


def test_ema_is_the_running_average_of_every_steps_weights(dataset, tmp_path):
    trainer = SnapshotTrainer(_config(dataset, tmp_path / "run", ema_decay=0.8, checkpoint_every=0))
    trainer.setup()
    expected = {k: v.detach().clone().double() for k, v in trainer.model.state_dict().items()
                if v.is_floating_point()}
    trainer.run()
    assert len(trainer.snapshots) == 6
    for n, snap in enumerate(trainer.snapshots):
        d = min(0.8, (1 + n) / (10 + n))  # the first updates follow the weights closely
        for k in expected:
            expected[k] = d * expected[k] + (1 - d) * snap[k].double()
    for k, v in expected.items():
        assert torch.allclose(trainer.ema.shadow[k].double(), v, atol=1e-6), k
    # the average is written as a second installable model next to the best/last weights
    ema_model, card = load_model(tmp_path / "run" / "run-ema.safetensors")
    assert card.name == "run-ema" and "moving average" in card.training["weights"]
    for k, v in ema_model.state_dict().items():
        if k in expected:
            assert torch.allclose(v.double(), expected[k], atol=1e-6), k
    last, _ = load_model(tmp_path / "run" / "run.safetensors")
    assert not all(torch.equal(a, b) for a, b in zip(last.state_dict().values(), ema_model.state_dict().values()))


def test_resume_continues_the_weight_average_exactly(dataset, tmp_path):
    ref = Trainer(_config(dataset, tmp_path / "a", ema_decay=0.9))
    ref.run()

    def crash_at_5(event):
        if event.get("event") == "step" and event["step"] == 5:
            raise Crash()

    with pytest.raises(Crash):
        Trainer(_config(dataset, tmp_path / "b", ema_decay=0.9), emit=crash_at_5).run()
    resumed = Trainer(_config(dataset, tmp_path / "b", ema_decay=0.9), resume=True)
    resumed.run()
    assert resumed.ema.updates == ref.ema.updates == 6
    for k, v in ref.ema.shadow.items():
        assert torch.equal(resumed.ema.shadow[k], v), k


def test_ema_decay_outside_0_to_1_is_refused(tmp_path):
    with pytest.raises(ValueError, match="ema decay"):
        _config(tmp_path, tmp_path / "run", ema_decay=1.0)


def test_out_folder_with_a_run_is_not_overwritten(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", str(dataset), "--out", str(out), "--from", "scratch", "--tiny",
            "--steps", "2", "--batch", "1", "--segment", "0.5", "--workers", "0",
            "--validate-every", "0", "--progress", "none"]
    assert cli_main(args) == 0
    before = (out / "checkpoint.pt").stat().st_mtime_ns
    assert cli_main(args) == 1
    assert "--resume" in capsys.readouterr().err
    assert (out / "checkpoint.pt").stat().st_mtime_ns == before


def test_cli_json_events_installable_model_and_finetune(dataset, tmp_path, capsys):
    out = tmp_path / "first"
    code = cli_main(["train", "--data", str(dataset), "--out", str(out), "--from", "scratch", "--tiny",
                     "--steps", "4", "--batch", "2", "--segment", "0.5", "--workers", "0",
                     "--validate-every", "2", "--valid-seconds", "1.5", "--progress", "json",
                     "--log-every", "2", "--name", "my-model"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert {"step", "validation", "checkpoint"} <= set(kinds)
    step = [e for e in events if e["event"] == "step"][-1]
    assert step["step"] == 4 and {"loss", "lr", "steps_per_s", "eta_seconds"} <= set(step)
    val = [e for e in events if e["event"] == "validation"][0]
    assert set(val["sdr"]) == {"drums", "bass", "other", "vocals"}
    model_path = out / "my-model.safetensors"
    assert events[-1]["model"] == str(model_path)
    model, card = load_model(model_path)
    assert card.name == "my-model"
    assert card.training["steps"] == 4 and card.training["base_model"] == "scratch"
    assert card.training["data"]["train_songs"] == 3
    assert {"sdr_drums", "sdr_bass", "sdr_other", "sdr_vocals"} <= set(card.metrics)

    # fine-tune that model: validated before the first step (the "before" score)
    out2 = tmp_path / "second"
    code = cli_main(["train", "--data", str(dataset), "--out", str(out2), "--from", str(model_path),
                     "--steps", "2", "--batch", "1", "--segment", "0.5", "--workers", "0",
                     "--validate-every", "2", "--valid-seconds", "1.5", "--progress", "json",
                     "--varispeed", "0.5"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["base_model"] == "my-model"
    assert [e["step"] for e in events if e["event"] == "validation"] == [0, 2]
    _, card2 = load_model(out2 / "second.safetensors")
    assert card2.training["base_model"] == "my-model"
    assert card2.training["augment"]["speed_probability"] == 0.5   # the card says how it trained


def test_cli_reports_bad_dataset_as_json_error(tmp_path, capsys):
    code = cli_main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"),
                     "--from", "scratch", "--tiny", "--progress", "json"])
    assert code == 1
    lines = capsys.readouterr().out.splitlines()
    err = json.loads(lines[-1])
    assert err["event"] == "error" and "missing" in err["message"]


def test_cli_refuses_a_probability_outside_0_to_1(dataset, tmp_path, capsys):
    code = cli_main(["train", "--data", str(dataset), "--out", str(tmp_path / "o"), "--from", "scratch",
                     "--tiny", "--varispeed", "1.5", "--progress", "json"])
    assert code == 1
    err = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert err["event"] == "error" and "--varispeed" in err["message"] and "1.5" in err["message"]
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------- DDP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, data: str, out: str, result_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    trainer = Trainer(_config(Path(data), Path(out), batch=2, device="cpu"))
    trainer.setup()
    assert trainer.dist.enabled and trainer.dist.backend == "gloo"
    mix, stems = next(iter(trainer.make_loader()))
    trainer.forward_backward(mix, stems)
    grads = {n: p.grad.detach().clone() for n, p in trainer.model.named_parameters()}
    torch.save({"grads": grads, "mix": mix}, Path(result_dir) / f"rank{rank}.pt")
    ddp.cleanup(trainer.dist)


@pytest.mark.slow
def test_ddp_gloo_two_processes_average_gradients_like_one_big_batch(dataset, tmp_path):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        assert key not in os.environ
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(dataset), str(tmp_path / "ddp"), str(tmp_path)),
             nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]

    single = Trainer(_config(dataset, tmp_path / "single", batch=4, device="cpu"))
    single.setup()
    assert not single.dist.enabled
    mix, stems = next(iter(single.make_loader()))
    # the two ranks read the two halves of the single process's batch
    assert torch.equal(torch.cat([ranks[0]["mix"], ranks[1]["mix"]]), mix)
    single.forward_backward(mix, stems)
    scale = max(float(p.grad.abs().max()) for p in single.model.parameters())
    for name, p in single.model.named_parameters():
        g0, g1 = ranks[0]["grads"][name], ranks[1]["grads"][name]
        assert torch.allclose(g0, g1, atol=1e-7)  # all-reduced: identical on both ranks
        # equal up to float32 summation order (a sum instead of a mean, or the wrong examples,
        # would be off by tens of percent); biases in front of a norm have ~0 gradient: atol
        assert torch.allclose(g0, p.grad, rtol=1e-3, atol=1e-4 * scale), name
    full = torch.cat([p.grad.flatten() for p in single.model.parameters()])
    ddp = torch.cat([ranks[0]["grads"][n].flatten() for n, _ in single.model.named_parameters()])
    assert float((ddp - full).norm() / full.norm()) < 2e-3  # vs 1.0 for a sum instead of a mean


def test_multires_stft_loss_is_zero_only_for_the_same_signal_and_on_the_waveform_scale():
    from model.training.losses import multires_stft_l1, training_loss

    gen = torch.Generator().manual_seed(0)
    target = 0.1 * torch.randn(2, 4, 2, 8000, generator=gen)
    assert float(multires_stft_l1(target, target)) == 0.0
    assert float(training_loss("l1+stft", target, target)) == 0.0
    # a phase flip costs L1 everything and the magnitude term nothing
    flipped = -target
    assert float(multires_stft_l1(flipped, target)) < 1e-6
    assert float(training_loss("l1", flipped, target)) > 0.05
    # half the level: both terms see it, on the same scale (within 3x of each other)
    half = 0.5 * target
    wave, mag = float(training_loss("l1", half, target)), float(multires_stft_l1(half, target))
    assert wave > 0 and mag > 0 and 1 / 3 < mag / wave < 3, (wave, mag)
    # differentiable through the STFT
    est = half.clone().requires_grad_(True)
    training_loss("l1+stft", est, target).backward()
    assert est.grad is not None and torch.isfinite(est.grad).all() and float(est.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="unknown loss 'l2'"):
        training_loss("l2", est, target)


def test_l1_stft_loss_trains_and_is_recorded_in_checkpoint_and_card(dataset, tmp_path):
    trainer, held_out = _trainer_with_held_out_loss(dataset, tmp_path / "run", "l1+stft", checkpoint_every=10)
    before = held_out()
    trainer.run()
    assert held_out() < 0.95 * before  # the tiny network lowers it ~11 % in 30 steps
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["config"]["loss"] == "l1+stft"
    card = json.loads(next((tmp_path / "run").glob("*.json")).read_text())
    assert card["training"]["loss"].startswith("L1 + multi-resolution STFT")


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        TrainConfig(data="x", out="y", loss="l2")
