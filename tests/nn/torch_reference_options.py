# Prints the PyTorch reference values pasted into tests/nn/test_attention.cpp (MultiheadAttention
# with kdim, vdim, add_bias_kv, add_zero_attn) and tests/nn/test_rnn.cpp (LSTM with proj_size)
# as C++ initializer lists. CI has no torch; run by hand with Debian's python3-torch (1.13):
#   /usr/bin/python3 tests/nn/torch_reference_options.py mha|lstm
import math, sys, textwrap
import torch
torch.set_default_dtype(torch.float64)

def wave(shape, phase, amp=1.0):
    n = math.prod(shape)
    return torch.tensor([amp * math.sin(1.3 * i + phase) for i in range(n)]).view(*shape)

def set_params(m):
    with torch.no_grad():
        for k, (name, p) in enumerate(m.named_parameters()):
            p.copy_(wave(p.shape, 0.1 + 0.7 * k, 0.5))

def emit(name, t):
    vals = ", ".join("%.12g" % v for v in t.detach().reshape(-1).tolist()) + "};"
    print("const std::vector<double> %s = {" % name)
    print(textwrap.fill(vals, 100, initial_indent="    ", subsequent_indent="    "))

def emit_grads(prefix, m):
    # one list: every parameter's gradient, concatenated in named_parameters order
    emit(prefix, torch.cat([p.grad.reshape(-1) for _, p in m.named_parameters()]))

which = sys.argv[1]
if which == "mha":
    # A: cross-attention with kdim, vdim, bias_k/v, a zero key, a float attn_mask, bool padding
    m = torch.nn.MultiheadAttention(4, 2, kdim=3, vdim=5, add_bias_kv=True, add_zero_attn=True)
    set_params(m)
    q = wave((3, 2, 4), 0.3).requires_grad_()
    k = wave((2, 2, 3), 0.9).requires_grad_()
    v = wave((2, 2, 5), 1.7).requires_grad_()
    am = wave((3, 2), 2.3)
    kpm = torch.tensor([[False, True], [False, False]])
    out, w = m(q, k, v, key_padding_mask=kpm, attn_mask=am)
    ((out * wave(out.shape, 0.5)).sum() + (w * wave(w.shape, 1.1)).sum()).backward()
    for n, t in [("kMhaA_out", out), ("kMhaA_weights", w), ("kMhaA_dq", q.grad),
                 ("kMhaA_dk", k.grad), ("kMhaA_dv", v.grad)]:
        emit(n, t)
    emit_grads("kMhaA_dparams", m)
    # B: batch_first self-attention without in-projection bias, bias_k/v, a 3-d bool mask,
    # per-head weights
    m = torch.nn.MultiheadAttention(4, 2, bias=False, add_bias_kv=True, batch_first=True)
    set_params(m)
    x = wave((2, 3, 4), 0.6).requires_grad_()
    mask = torch.tensor([[0, 1, 1], [0, 0, 1], [0, 0, 0]], dtype=torch.bool).repeat(4, 1, 1)
    mask[1, 0, 0] = True  # row 0 of (batch 0, head 1) sees only bias_k
    out, w = m(x, x, x, attn_mask=mask, average_attn_weights=False)
    ((out * wave(out.shape, 0.5)).sum() + (w * wave(w.shape, 1.1)).sum()).backward()
    for n, t in [("kMhaB_out", out), ("kMhaB_weights", w), ("kMhaB_dx", x.grad)]:
        emit(n, t)
    emit_grads("kMhaB_dparams", m)
else:
    m = torch.nn.LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2)
    set_params(m)
    x = wave((3, 2, 2), 0.3).requires_grad_()
    h0 = wave((4, 2, 2), 0.9).requires_grad_()
    c0 = wave((4, 2, 3), 1.7).requires_grad_()
    out, (hn, cn) = m(x, (h0, c0))
    ((out * wave(out.shape, 0.5)).sum() + (hn * wave(hn.shape, 1.1)).sum()
     + (cn * wave(cn.shape, 1.9)).sum()).backward()
    for n, t in [("kLstmOut", out), ("kLstmHn", hn), ("kLstmCn", cn), ("kLstmDx", x.grad),
                 ("kLstmDh0", h0.grad), ("kLstmDc0", c0.grad)]:
        emit(n, t)
    emit_grads("kLstmDparams", m)
