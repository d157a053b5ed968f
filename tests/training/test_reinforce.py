"""REINFORCE for sampled hard attention: the expected estimate equals the exact gradient.

A tiny hard-attention model, small enough to enumerate every draw: for example i of a batch, T
steps each sample a position s_t in 0..Tk-1 from softmax(X_it theta + U[s_{t-1}]) (the score
depends on the parameters theta, U and on the previous sample, as in an attentive decoder), and
the reward is r_i(s) = sum_t log softmax(W v_i[s_t])[y_it], a log-likelihood differentiable in
the "decoder" parameters W that depends on the attention parameters only through the sampled
positions (one-hot weights carry no gradient). The exact objective

    J = (1/B) sum_i sum_s p_i(s) r_i(s)

is written out by enumerating the Tk**T outcomes of each example and differentiated with
autograd; nothing of it comes from attnkit. The estimate under test is the trainer's: minus the
gradient of (-sum_i r_i + reinforce_surrogate(...)) / B, with the baseline of RewardBaseline.
Its expectation over the joint draws of the whole batch is computed exactly, by enumerating all
(Tk**T)**B joint draws with their probabilities (vectorised with torch.func.vmap), in float64.

References:
    [Williams92] R. J. Williams. Simple Statistical Gradient-Following Algorithms for
    Connectionist Reinforcement Learning. Machine Learning 8, 1992. DOI:10.1007/BF00992696.
"""

import itertools

import pytest
import torch

from attnkit.losses.reinforce import RewardBaseline, reinforce_surrogate

F64 = torch.float64
DECAY = 0.9
EARLIER_BATCH_MEANS = (-1.7, -0.4)  # mean rewards of two earlier batches: b = 0.9 * -1.7 + 0.1 * -0.4


class Toy:
    """Per-example tables of the tiny model, built from its parameters (see the module docstring)."""

    def __init__(self, batch: int, tk: int, steps: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.batch, self.tk, self.steps, n_feat, n_out, dv = batch, tk, steps, 3, 4, 3
        self.x = torch.randn(batch, steps, tk, n_feat, generator=g, dtype=F64)  # key features
        self.values = torch.randn(batch, tk, dv, generator=g, dtype=F64)  # v_i[j]
        self.y = torch.randint(0, n_out, (batch, steps), generator=g)  # targets y_it
        self.real = torch.ones(batch, steps, dtype=torch.bool)
        if batch > 1:
            self.real[1, steps - 1] = False  # example 1 is one step shorter (padding)
        self.theta = torch.randn(n_feat, generator=g, dtype=F64, requires_grad=True)
        self.u = (0.5 * torch.randn(tk, tk, generator=g, dtype=F64)).requires_grad_()
        self.w = torch.randn(n_out, dv, generator=g, dtype=F64, requires_grad=True)
        self.outcomes = list(itertools.product(range(tk), repeat=steps))  # all s = (s_1..s_T)

    def params(self):
        return self.theta, self.u, self.w

    def tables(self):
        """log p_i(s_t | s_<t) and r_i(s) for every example i and outcome s: (B, S, T) and (B, S)."""
        logp, reward = [], []
        for s in self.outcomes:
            lp_t, r = [], 0.0
            for t in range(self.steps):
                scores = self.x[:, t] @ self.theta  # (B, Tk)
                if t > 0:
                    scores = scores + self.u[s[t - 1]]
                lp_t.append(torch.log_softmax(scores, -1)[:, s[t]])  # (B,)
                out = torch.log_softmax(self.values[:, s[t]] @ self.w.T, -1)  # (B, n_out)
                r = r + out.gather(1, self.y[:, t : t + 1]).squeeze(1) * self.real[:, t]
            logp.append(torch.stack(lp_t, 1))
            reward.append(r)
        return torch.stack(logp, 1), torch.stack(reward, 1)

    def exact_gradient(self):
        """grad of J = (1/B) sum_i sum_s p_i(s) r_i(s), by enumeration and autograd."""
        logp, reward = self.tables()
        p = logp.sum(-1).exp()  # (B, S) p_i(s); a padded step's draw is made but does not count in r_i
        assert torch.allclose(p.sum(1), torch.ones(self.batch, dtype=F64))
        return torch.autograd.grad((p * reward).sum() / self.batch, self.params())

    def expected_estimate(self, choose_baseline):
        """E over all joint draws of the batch of the trainer's estimate -grad(-sum r + surrogate) / B.

        `choose_baseline(reward)` gives b for a batch with rewards `reward` (B,)."""
        logp, reward = self.tables()
        n_out = len(self.outcomes)  # joint draw c has outcome (c // n_out**i) % n_out in example i
        joint = torch.arange(n_out**self.batch)[:, None] // n_out ** torch.arange(self.batch) % n_out  # (N, B)
        rows = torch.arange(self.batch)
        lp = logp[rows, joint]  # (N, B, T): log p of each example's drawn positions
        r = reward[rows, joint]  # (N, B)
        prob = lp.sum((1, 2)).exp().detach()  # (N,) probability of the joint draw
        assert torch.allclose(prob.sum(), torch.tensor(1.0, dtype=F64))
        zeros = torch.zeros(self.batch, self.steps, dtype=F64)

        def loss(r_c, lp_c):  # what the trainer minimises for one joint draw (entropy weight 0)
            return -r_c.sum() + reinforce_surrogate(
                r_c, lp_c, zeros, self.real, choose_baseline(r_c), reinforce_weight=1.0, entropy_weight=0.0
            )

        expected_loss = (prob * torch.func.vmap(loss)(r, lp)).sum()
        return [-g / self.batch for g in torch.autograd.grad(expected_loss, self.params())]


def _baseline_after(means):
    baseline = RewardBaseline(DECAY)
    for m in means:
        baseline.update(m)
    return baseline


def _new_rule(earlier):
    """The fixed trainer: b from the earlier batches only (0 on the first batch)."""
    b = _baseline_after(earlier).current()
    return lambda reward: b


def _old_rule(earlier):
    """The old trainer: b updated with this batch's mean reward before the advantage."""

    def choose(reward):
        baseline = _baseline_after(earlier)
        baseline.update(reward.detach().mean())  # the old code took float(reward.mean())
        return baseline.current()

    return choose


SIZES = {1: dict(tk=3, steps=3), 8: dict(tk=2, steps=2)}  # 27 and 4**8 = 65536 joint draws


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("earlier", [(), EARLIER_BATCH_MEANS], ids=["first-batch", "later-batch"])
def test_expected_reinforce_estimate_is_the_exact_gradient(batch, earlier):
    toy = Toy(batch, **SIZES[batch])
    exact = toy.exact_gradient()
    assert all(g.abs().max() > 1e-2 for g in exact)  # a non-trivial gradient for every parameter
    for got, want, name in zip(toy.expected_estimate(_new_rule(earlier)), exact, ("theta", "U", "W")):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize("batch", [1, 8])
def test_the_old_rule_shrinks_the_attention_gradient(batch):
    """Updating b with the current batch first makes b depend on the sample: the expected
    gradient of the attention parameters (theta, U) shrinks by 1 - (1 - decay) / B on a later
    batch and by 1 - 1 / B on the first (where b was the batch mean itself); the pathwise
    gradient of W is unchanged. So a regression to the old rule fails the test above."""
    toy = Toy(batch, **SIZES[batch])
    theta, u, w = toy.exact_gradient()
    for earlier, factor in (((), 1 - 1 / batch), (EARLIER_BATCH_MEANS, 1 - (1 - DECAY) / batch)):
        got_theta, got_u, got_w = toy.expected_estimate(_old_rule(earlier))
        torch.testing.assert_close(got_theta, factor * theta, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(got_u, factor * u, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(got_w, w, rtol=1e-9, atol=1e-12)
        assert not torch.allclose(got_theta, theta, rtol=1e-3)


def test_reward_baseline_is_a_moving_average_of_earlier_batches():
    baseline = RewardBaseline(0.9)
    assert baseline.current() == 0.0  # no history: b = 0
    baseline.update(-2.0)
    assert baseline.current() == -2.0  # the first batch's mean
    baseline.update(-1.0)
    assert baseline.current() == pytest.approx(0.9 * -2.0 + 0.1 * -1.0)
    baseline.update(0.5)
    assert baseline.current() == pytest.approx(0.9 * (0.9 * -2.0 + 0.1 * -1.0) + 0.1 * 0.5)


def test_the_surrogate_written_out():
    reward = torch.tensor([-3.0, -1.0], dtype=F64)
    log_prob = torch.tensor([[-0.1, -0.2, -0.3], [-0.4, -0.5, -0.6]], dtype=F64)
    entropy = torch.tensor([[1.0, 1.5, 2.0], [0.5, 0.25, 0.125]], dtype=F64)
    real = torch.tensor([[True, True, False], [True, True, True]])
    got = reinforce_surrogate(reward, log_prob, entropy, real, -2.0, reinforce_weight=0.5, entropy_weight=0.1)
    # -0.5 * [(-3 + 2) * (-0.1 - 0.2) + (-1 + 2) * (-0.4 - 0.5 - 0.6)] - 0.1 * (1 + 1.5 + 0.5 + 0.25 + 0.125)
    want = -0.5 * (0.3 - 1.5) - 0.1 * 3.375
    assert float(got) == pytest.approx(want)


# The same check through attnkit's own model and trainer: a tiny Seq2Seq with normaliser
# "reinforce" whose sampler is made to return chosen positions, so that every draw can be
# enumerated. The reference p(s) and r(s) come from the model's forward (log-probabilities of the
# chosen positions and the teacher-forced log-likelihood); the estimate is Trainer.loss.


def _forced_sampler(choices):
    """A stand-in for sample_hard that returns the next chosen position of each row."""
    from attnkit.functional import masked_softmax

    def sample(scores, mask=None):
        index = torch.tensor([choices.pop(0)]).view(1, 1, 1).expand(scores.shape[0], scores.shape[1], 1)
        log_probs = torch.log(masked_softmax(scores, mask))  # every position here is unmasked
        weights = torch.zeros_like(scores).scatter_(-1, index, 1.0)
        return weights, log_probs.gather(-1, index).squeeze(-1)

    return sample


def test_trainer_reinforce_loss_in_expectation_is_the_exact_gradient(tmp_path, monkeypatch):
    import attnkit.nn.seq2seq as seq2seq_module
    from attnkit.config import TrainConfig
    from attnkit.data import collate
    from attnkit.models import Seq2Seq
    from attnkit.training import Trainer

    from ..helpers import ID_PAIRS, items

    torch.manual_seed(0)
    model = Seq2Seq(
        7,
        7,
        attention="bahdanau",
        normaliser="reinforce",
        emb_dim=4,
        hidden_dim=5,
        reinforce_weight=1.0,
        entropy_weight=0.0,
        baseline_decay=DECAY,
    ).double()
    src, tgt = [[4, 5]], [[6]]  # Tk = 2 source positions, Tq = 2 output steps (6, </s>): 4 draws
    batch = collate(src, tgt)
    cfg = TrainConfig(threads=1)
    trainer = Trainer(model, cfg, tmp_path, ID_PAIRS, items(src, tgt), lambda m: {"score": 0.0}, progress=False)
    params = [p for p in model.parameters()]
    draws = list(itertools.product(range(2), repeat=2))

    def forward(draw):
        monkeypatch.setattr(seq2seq_module, "sample_hard", _forced_sampler(list(draw)))
        return model.train()(batch.src, batch.src_lengths, batch.tgt_in)

    for earlier in ((), EARLIER_BATCH_MEANS):
        prior = _baseline_after(earlier).value
        # exact: J = sum_s p(s) log p(y | s, x)
        objective = 0.0
        for draw in draws:
            out = forward(draw)
            log_lik = torch.log_softmax(out.logits, -1).gather(-1, batch.tgt_out.unsqueeze(-1)).sum()
            objective = objective + out.log_prob.sum().exp() * log_lik
        exact = torch.autograd.grad(objective, params, allow_unused=True)
        # the trainer's estimate, averaged over the draws with their probabilities
        expected = [torch.zeros_like(p) for p in params]
        for draw in draws:
            with torch.no_grad():
                prob = float(forward(draw).log_prob.sum().exp())
            model.reinforce.set_baseline(prior)  # the baseline is the model's state
            monkeypatch.setattr(seq2seq_module, "sample_hard", _forced_sampler(list(draw)))
            loss = trainer.loss(batch, batch.n_tokens) * batch.n_tokens  # Trainer.loss is the mean over tokens
            for acc, g in zip(expected, torch.autograd.grad(loss, params, allow_unused=True)):
                if g is not None:
                    acc -= prob * g
        attention = model.decoder.attention.energy
        for p, want, got in zip(params, exact, expected):
            want = torch.zeros_like(p) if want is None else want
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)  # the loss is in float32
        i = next(i for i, p in enumerate(params) if p is attention)
        assert exact[i].abs().max() > 1e-3  # the attention energy gets a gradient only via REINFORCE
