"""GAN fine-tuning: the discriminator, the relativistic average losses, the texture loss and a few
GAN training steps on tiny data."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from qgac_fast.model import load_model
from qgac_fast.train import train
from qgac_fast.train.adversary import Adversary
from qgac_fast.train.gan import PatchDiscriminator, discriminator_loss, generator_loss
from qgac_fast.train.texture import LAYERS, TextureLoss, VGG16Features, gram

from images import sample_image
from test_train import _config, image_dir, initial_weights  # noqa: F401  (fixtures)


def test_discriminator_scores_patches_of_rgb_and_gray():
    torch.manual_seed(0)
    d = PatchDiscriminator(channels=8)
    logits = d(torch.rand(3, 3, 32, 48))
    assert logits.shape == (3, 1, 8, 12) and logits.dtype == torch.float32 and torch.isfinite(logits).all()
    gray = torch.rand(2, 1, 32, 32)
    assert torch.equal(d.eval()(gray), d(gray.expand(-1, 3, -1, -1)))


def test_relativistic_losses_signs_and_symmetry():
    real, fake = torch.randn(4, 1, 5, 5), torch.randn(4, 1, 5, 5)
    # the generator loss is the discriminator loss with the roles swapped
    assert torch.allclose(generator_loss(real, fake), discriminator_loss(fake, real))
    # undecided: log 2 for both
    same = torch.full((2, 1, 3, 3), 0.7)
    assert discriminator_loss(same, same).item() == pytest.approx(math.log(2), rel=1e-6)
    assert generator_loss(same, same).item() == pytest.approx(math.log(2), rel=1e-6)
    confident_real, confident_fake = torch.full((2, 1, 3, 3), 4.0), torch.full((2, 1, 3, 3), -4.0)
    assert discriminator_loss(confident_real, confident_fake) < 0.1 < generator_loss(confident_real, confident_fake)
    assert generator_loss(confident_fake, confident_real) < 0.1 < discriminator_loss(confident_fake, confident_real)
    # gradient signs: the discriminator pushes real logits up and fake down; the generator the reverse
    r, f = real.clone().requires_grad_(), fake.clone().requires_grad_()
    discriminator_loss(r, f).backward()
    assert r.grad.sum() < 0 < f.grad.sum()
    r.grad, f.grad = None, None
    generator_loss(r, f).backward()
    assert f.grad.sum() < 0 < r.grad.sum()


def test_vgg_layers_are_seeded_and_shaped():
    a, b = VGG16Features(("relu1_2", "relu3_3"), seed=3), VGG16Features(("relu1_2", "relu3_3"), seed=3)
    x = torch.rand(2, 3, 32, 32)
    fa, fb = a(x), b(x)
    assert fa["relu1_2"].shape == (2, 64, 32, 32) and fa["relu3_3"].shape == (2, 256, 8, 8)
    assert all(torch.equal(fa[k], fb[k]) for k in fa)
    assert not torch.equal(fa["relu3_3"], VGG16Features(("relu3_3",), seed=4)(x)["relu3_3"])
    assert len(a.features) == LAYERS["relu3_3"] + 1  # nothing beyond the deepest tap
    assert not any(p.requires_grad for p in a.parameters())
    with pytest.raises(ValueError, match="unknown VGG-16 layers"):
        VGG16Features(("relu6_1",))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_vgg_loads_a_torchvision_state_dict(tmp_path, suffix):
    source = VGG16Features(("conv5_3",), seed=7)
    state = {f"features.{k}": v.clone() for k, v in source.features.state_dict().items()}
    state["classifier.0.weight"] = torch.rand(4, 4)  # torchvision files carry these: ignored
    path = tmp_path / f"vgg{suffix}"
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    loaded = VGG16Features(("relu2_2", "conv5_3"), weights=path)
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(loaded(x)["conv5_3"], source(x)["conv5_3"])
    # a file that is not a VGG-16 state dict is refused with a reason
    del state["features.28.weight"]
    save_file(state, str(tmp_path / "partial.safetensors"))
    with pytest.raises(ValueError, match="features.28.weight"):
        VGG16Features(("conv5_3",), weights=tmp_path / "partial.safetensors")
    with pytest.raises(FileNotFoundError):
        VGG16Features(weights=tmp_path / "missing.pt")


def test_texture_loss_prefers_shifted_texture_over_blur():
    # a photo crop; the same crop 3 pixels along (same texture, other phase); and a blurred one
    photo = torch.from_numpy(sample_image(size=(80, 80))).permute(2, 0, 1)[None].float() / 255
    target, shifted = photo[..., :64, :64], photo[..., 3:67, 3:67]
    blurred = F.avg_pool2d(F.pad(target, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    gram_loss, feature_loss = TextureLoss("gram"), TextureLoss("features")
    assert gram_loss(target, target).item() == 0
    assert gram_loss(shifted, target) < gram_loss(blurred, target)
    # the feature L1 (the paper's, meant for trained weights) ranks them the other way round here
    assert feature_loss(shifted, target) > feature_loss(blurred, target)
    with pytest.raises(ValueError, match="statistic"):
        TextureLoss("mean")


def test_gram_is_the_mean_outer_product():
    features = torch.randn(2, 3, 4, 5)
    expected = torch.einsum("nchw,ndhw->ncd", features, features) / 20
    assert torch.allclose(gram(features), expected, rtol=1e-5, atol=1e-6)


def test_a_few_gan_steps_change_both_networks(image_dir, tmp_path, initial_weights, monkeypatch):
    discriminators = []
    real_init = Adversary.__init__

    def keep(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        discriminators.append((self.discriminator, {k: v.clone() for k, v in self.discriminator.state_dict().items()}))

    monkeypatch.setattr(Adversary, "__init__", keep)
    before = load_model(initial_weights).state_dict()
    config = _config(image_dir, tmp_path / "gan", steps=[3], init=str(initial_weights), gan=True, d_channels=8,
                     texture_layers=("relu1_2", "relu2_2"), layouts={"4:2:0": 0.5, "gray": 0.5})
    after = train(config).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("y_net"))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("color_net"))
    (discriminator, initial), = discriminators
    assert any(not torch.equal(initial[k], v) for k, v in discriminator.state_dict().items())
    lines = [json.loads(line) for line in (tmp_path / "gan" / "log.jsonl").read_text().splitlines()]
    steps = [line for line in lines if "d_loss" in line]
    assert len(steps) == 3 and all(math.isfinite(line[k]) for line in steps
                                   for k in ("loss", "texture", "adversarial", "l1", "d_loss", "d_real", "d_fake"))


def test_gan_refuses_the_luma_stage():
    with pytest.raises(ValueError, match="RGB"):
        _config("x", "y", stages=["y"], gan=True)


def test_loss_figure_from_a_gan_log(tmp_path):
    pytest.importorskip("matplotlib")
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("gan_figures", Path(__file__).parents[1] / "tools" / "gan_figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    log = tmp_path / "log.jsonl"
    rows = [{"stage": "joint", "step": s, "loss": 0.03 / s, "texture": 0.01, "adversarial": 0.7, "l1": 0.02,
             "d_loss": 0.69, "d_real": 0.1, "d_fake": -0.1} for s in (1, 2, 3)]
    log.write_text("\n".join(json.dumps(r) for r in rows + [{"stage": "joint", "step": 3, "validation": {}}]) + "\n")
    figures.plot_losses(log, tmp_path / "losses.png")
    assert (tmp_path / "losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    regression_log = tmp_path / "regression.jsonl"
    regression_log.write_text(json.dumps({"stage": "y", "step": 1, "loss": 0.1, "l1": 0.1}) + "\n")
    with pytest.raises(SystemExit, match="no GAN steps"):
        figures.plot_losses(regression_log, tmp_path / "none.png")
