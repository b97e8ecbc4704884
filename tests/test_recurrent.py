"""ElmanRNN against torch.nn.RNN with the same weights, on every available device."""

import pytest
import torch

from rnncourse.recurrent import ElmanRNN


def _pair(device, batch_first=False, bias=True, dtype=torch.float64):
    torch.manual_seed(0)
    reference = torch.nn.RNN(4, 6, bias=bias, batch_first=batch_first, device=device, dtype=dtype)
    ours = ElmanRNN(4, 6, bias=bias, batch_first=batch_first, device=device, dtype=dtype)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def test_state_dict_keys_and_shapes_match_torch():
    reference = torch.nn.RNN(3, 5)
    ours = ElmanRNN(3, 5)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    reference_nobias = torch.nn.RNN(3, 5, bias=False)
    assert set(ElmanRNN(3, 5, bias=False).state_dict()) == set(reference_nobias.state_dict())


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_torch(device, batch_first, bias):
    reference, ours = _pair(device, batch_first, bias)
    x = torch.randn(3, 7, 4, device=device, dtype=torch.float64)
    batch = 3 if batch_first else 7
    h0 = torch.randn(1, batch, 6, device=device, dtype=torch.float64)
    expected, expected_h = reference(x, h0)
    got, got_h = ours(x, h0)
    assert got.shape == expected.shape and got_h.shape == expected_h.shape
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_h, expected_h, rtol=1e-12, atol=1e-12)


def test_unbatched_input_and_default_initial_state(device):
    reference, ours = _pair(device)
    x = torch.randn(5, 4, device=device, dtype=torch.float64)
    expected, expected_h = reference(x)
    got, got_h = ours(x)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got_h, expected_h)


def test_gradients_match_torch(device):
    reference, ours = _pair(device)
    x = torch.randn(6, 2, 4, device=device, dtype=torch.float64)
    reference(x)[0].pow(2).sum().backward()
    ours(x)[0].pow(2).sum().backward()
    for (name, p_ref), (_, p_ours) in zip(reference.named_parameters(), ours.named_parameters()):
        torch.testing.assert_close(p_ours.grad, p_ref.grad, msg=f"gradient of {name}")


def test_gradcheck_in_float64(device):
    model = ElmanRNN(2, 3, device=device, dtype=torch.float64)
    x = torch.randn(4, 2, 2, device=device, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: model(inp)[0], (x,))


def test_float32_on_device_runs_and_stays_there(device):
    model = ElmanRNN(4, 6, device=device)
    out, h = model(torch.randn(3, 2, 4, device=device))
    assert out.device.type == torch.device(device).type and out.dtype == torch.float32
    assert h.shape == (1, 2, 6)


def test_wrong_input_size_explains_itself():
    with pytest.raises(ValueError, match=r"expected input of shape \(T, B, 4\).*got \(3, 2, 5\)"):
        ElmanRNN(4, 6)(torch.randn(3, 2, 5))
